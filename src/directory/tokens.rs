//! One-time tokens for first visits and password resets (docs/product.md#one-time-links): only
//! a SHA-256 of the token is stored, each is single use, expires, and a newer token of the same
//! purpose voids older ones.

use super::{now, DResult, Directory};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    FirstVisit,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::FirstVisit => "first_visit",
            Purpose::Reset => "reset",
        }
    }
}

pub fn hash_token(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Directory {
    /// Creates a token and returns its raw value (to be put in a link, never stored).
    pub async fn create_token(
        &self,
        user_id: i64,
        purpose: Purpose,
        ttl_seconds: i64,
    ) -> DResult<String> {
        let raw = crate::auth::random_token();
        let t = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
            .bind(t)
            .bind(user_id)
            .bind(purpose.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO one_time_tokens (user_id, purpose, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(hash_token(&raw))
        .bind(t)
        .bind(t + ttl_seconds)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(raw)
    }

    /// When the newest token of this purpose was issued to the user, if any.
    pub async fn last_token_at(&self, user_id: i64, purpose: Purpose) -> DResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(created_at) FROM one_time_tokens WHERE user_id = $1 AND purpose = $2",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// The user a still-valid token belongs to, without consuming it (to show the form).
    pub async fn peek_token(&self, raw: &str, purpose: Purpose) -> DResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(hash_token(raw))
        .bind(purpose.as_str())
        .bind(now())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Marks the token used and returns its user, atomically: two concurrent uses cannot both win.
    pub async fn consume_token(&self, raw: &str, purpose: Purpose) -> DResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now())
        .bind(hash_token(raw))
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }
}
