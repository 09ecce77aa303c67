//! Second factors of an account (docs/security.md#second-factor): the sealed TOTP secret with
//! the last step accepted, and the recovery codes, stored hashed. Sealing and hashing happen
//! above (the directory never sees a secret in clear); what this layer guarantees is that a
//! step or a recovery code is accepted once, whichever instance asks first.

use super::{now, DResult, Directory};
use sqlx::Row;

/// The sealed TOTP secret of an account and the last step a code was accepted for.
#[derive(Clone, Debug)]
pub struct TotpRecord {
    pub sealed: String,
    pub last_step: i64,
    pub created_at: i64,
}

impl Directory {
    pub async fn totp(&self, user_id: i64) -> DResult<Option<TotpRecord>> {
        let row = sqlx::query(
            "SELECT secret_sealed, last_step, created_at FROM user_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(TotpRecord {
                sealed: r.try_get("secret_sealed")?,
                last_step: r.try_get("last_step")?,
                created_at: r.try_get("created_at")?,
            }),
            None => None,
        })
    }

    /// Enrols (or replaces) the account's TOTP secret; no step has been used with it yet.
    pub async fn set_totp(&self, user_id: i64, sealed: &str) -> DResult<()> {
        sqlx::query(
            "INSERT INTO user_totp (user_id, secret_sealed, last_step, created_at) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
             last_step = 0, created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Re-seals a secret under a new key without touching its step (key rotation).
    pub async fn reseal_totp(&self, user_id: i64, sealed: &str) -> DResult<()> {
        sqlx::query("UPDATE user_totp SET secret_sealed = $1 WHERE user_id = $2")
            .bind(sealed)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every sealed secret, for a key rotation.
    pub async fn all_totp(&self) -> DResult<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT user_id, secret_sealed FROM user_totp")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("secret_sealed")?)))
            .collect()
    }

    /// Removes the account's second factors (TOTP and recovery codes). True if it had one.
    pub async fn remove_factors(&self, user_id: i64) -> DResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records `step` as used if it is later than the last step used: one conditional update,
    /// so that of two instances receiving the same code, one only succeeds. False for a replay.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> DResult<bool> {
        let n = sqlx::query(
            "UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Replaces the account's recovery codes by these (hashed) ones: the old set is void.
    pub async fn replace_recovery_codes(&self, user_id: i64, hashes: &[String]) -> DResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for h in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Uses the recovery code with this hash, once: false if unknown or already used.
    pub async fn use_recovery_code(&self, user_id: i64, hash: &str) -> DResult<bool> {
        let n = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now())
        .bind(user_id)
        .bind(hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn recovery_codes_left(&self, user_id: i64) -> DResult<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?)
    }
}
