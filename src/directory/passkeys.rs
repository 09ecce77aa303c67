//! Passkeys and security keys of an account (docs/security.md#passkeys). The credential itself
//! (public key and signature counter) is opaque here: the WebAuthn ceremony that produces and
//! checks it lives in `crate::second_factor::passkeys`. This layer guarantees that a credential
//! belongs to one account only and that an account only ever reaches its own credentials.

use super::{now, DResult, Directory};

/// One registered credential of an account.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PasskeyRecord {
    pub id: i64,
    pub credential_id: String,
    pub user_handle: String,
    pub name: String,
    /// The credential as webauthn-rs serialises it.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Longest name a user may give a key.
pub const NAME_MAX: usize = 60;

impl Directory {
    pub async fn passkeys(&self, user_id: i64) -> DResult<Vec<PasskeyRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, credential_id, user_handle, name, passkey, created_at, last_used_at \
             FROM user_passkeys WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn passkey_count(&self, user_id: i64) -> DResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM user_passkeys WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Registers a credential; false when this credential id is already registered (to this
    /// account or another one: a credential never serves two accounts).
    pub async fn add_passkey(
        &self,
        user_id: i64,
        credential_id: &str,
        user_handle: &str,
        name: &str,
        passkey: &str,
    ) -> DResult<bool> {
        let taken = sqlx::query("SELECT 1 FROM user_passkeys WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO user_passkeys (user_id, credential_id, user_handle, name, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(credential_id)
        .bind(user_handle)
        .bind(name)
        .bind(passkey)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Stores the credential after a use (its counter moved) and when it was used.
    pub async fn passkey_used(&self, user_id: i64, id: i64, passkey: &str) -> DResult<()> {
        sqlx::query(
            "UPDATE user_passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3 AND user_id = $4",
        )
        .bind(passkey)
        .bind(now())
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes one credential of this account (an id of another account removes nothing);
    /// the name of the removed key, if any. When it was the account's last factor, the
    /// recovery codes go with it.
    pub async fn remove_passkey(&self, user_id: i64, id: i64) -> DResult<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM user_passkeys WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if name.is_some() {
            sqlx::query("DELETE FROM user_passkeys WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            Self::drop_codes_without_factor(&mut tx, user_id).await?;
        }
        tx.commit().await?;
        Ok(name)
    }
}
