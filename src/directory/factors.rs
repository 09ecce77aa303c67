//! Second factors of an account (docs/security.md#second-factor): the sealed TOTP secret with
//! the last step accepted, and the recovery codes, stored hashed. Sealing and hashing happen
//! above (the directory never sees a secret in clear); what this layer guarantees is that a
//! step or a recovery code is accepted once, whichever instance asks first.

use super::structures::StructureFlag;
use super::{now, DResult, Directory};

/// The sealed TOTP secret of an account and the last step a code was accepted for.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TotpRecord {
    #[sqlx(rename = "secret_sealed")]
    pub sealed: String,
    pub last_step: i64,
    pub created_at: i64,
}

/// A line of `all_totp`.
#[derive(sqlx::FromRow)]
struct SealedRow {
    user_id: i64,
    secret_sealed: String,
}

impl Directory {
    pub async fn totp(&self, user_id: i64) -> DResult<Option<TotpRecord>> {
        Ok(sqlx::query_as(
            "SELECT secret_sealed, last_step, created_at FROM user_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
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
        let rows: Vec<SealedRow> = sqlx::query_as("SELECT user_id, secret_sealed FROM user_totp")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.user_id, r.secret_sealed))
            .collect())
    }

    /// Removes every second factor of the account (TOTP, passkeys, recovery codes), as a reset
    /// does. True if it had one.
    pub async fn remove_factors(&self, user_id: i64) -> DResult<bool> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM user_totp WHERE user_id = $1",
            "DELETE FROM user_passkeys WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
        ] {
            n += sqlx::query(sql)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Removes the account's TOTP secret; the recovery codes too when no passkey remains.
    /// True if it had one.
    pub async fn remove_totp(&self, user_id: i64) -> DResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        Self::drop_codes_without_factor(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Recovery codes only make sense beside a factor: once the last one is gone, so are they.
    pub(super) async fn drop_codes_without_factor(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: i64,
    ) -> DResult<()> {
        sqlx::query(
            "DELETE FROM recovery_codes WHERE user_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM user_passkeys WHERE user_id = $1)",
        )
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
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
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// What `second_factor_facts` reads of the account.
#[derive(sqlx::FromRow)]
struct OwnFactsRow {
    path: String,
    second_factor_due: Option<i64>,
}

/// What the second-factor policy is decided on (`crate::second_factor::policy`).
#[derive(Clone, Debug, Default)]
pub struct SecondFactorFacts {
    pub own_path: String,
    pub referent_paths: Vec<String>,
    /// Paths of the structures that require a second factor of every account.
    pub requiring: Vec<String>,
    /// The deadline recorded when a rule first applied to the account.
    pub due: Option<i64>,
}

impl Directory {
    pub async fn second_factor_facts(&self, user_id: i64) -> DResult<SecondFactorFacts> {
        let row = sqlx::query_as::<_, OwnFactsRow>(
            "SELECT s.path, u.second_factor_due FROM users u JOIN structures s ON s.id = u.structure_id \
             WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(super::DirectoryError::NotFound)?;
        let referent_paths = sqlx::query_scalar(
            "SELECT s.path FROM referents r JOIN structures s ON s.id = r.structure_id WHERE r.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(SecondFactorFacts {
            own_path: row.path,
            due: row.second_factor_due,
            referent_paths,
            requiring: self.structures_requiring_second_factor().await?,
        })
    }

    /// Paths of the structures that require a second factor of every account in them.
    pub async fn structures_requiring_second_factor(&self) -> DResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT path FROM structures WHERE second_factor_required = 1")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn set_second_factor_due(&self, user_id: i64, due: Option<i64>) -> DResult<()> {
        sqlx::query("UPDATE users SET second_factor_due = $1 WHERE id = $2")
            .bind(due)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the structure itself (not its parents) requires a second factor of its accounts.
    pub async fn structure_requires_second_factor(&self, structure_id: i64) -> DResult<bool> {
        self.structure_flag(structure_id, StructureFlag::SecondFactorRequired)
            .await
    }

    pub async fn set_structure_requires_second_factor(
        &self,
        structure_id: i64,
        required: bool,
    ) -> DResult<()> {
        self.set_structure_flag(structure_id, StructureFlag::SecondFactorRequired, required)
            .await
    }
}
