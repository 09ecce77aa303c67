//! The sign-in history of each account (docs/security.md#sign-in-history): one row per attempt
//! whose credentials were checked on an existing account, shown to its owner and used to tell
//! them of a sign-in from a browser the account has not used lately. Kept
//! [`RETENTION_DAYS`] days, and deleted with the account (foreign key, `ON DELETE CASCADE`).

use super::flag::Flag;
use super::{now, DResult, Directory};

/// How long a sign-in is kept; also how far back a browser counts as known.
pub const RETENTION_DAYS: i64 = 90;
/// How many sign-ins the security page shows.
pub const SHOWN: i64 = 20;

/// A sign-in to record.
#[derive(Clone, Debug, Default)]
pub struct NewSignIn<'a> {
    pub user_id: i64,
    pub success: bool,
    /// `password`, `totp`, `recovery_code`, `link`...
    pub method: &'a str,
    /// Why a failure failed (`bad_password`, `bad_code`, `replayed_code`, `unusable`).
    pub reason: &'a str,
    pub client_ip: &'a str,
    /// The browser and system, as described for the user (not the raw header).
    pub agent: &'a str,
    /// SHA-256 of the browser-id cookie, hex, or empty.
    pub browser_hash: &'a str,
}

/// A recorded sign-in.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SignIn {
    pub at: i64,
    #[sqlx(try_from = "Flag")]
    pub success: bool,
    pub method: String,
    pub reason: String,
    pub client_ip: String,
    pub agent: String,
}

fn bounded(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Directory {
    pub async fn record_sign_in(&self, s: NewSignIn<'_>) -> DResult<()> {
        sqlx::query(
            "INSERT INTO sign_ins (user_id, at, success, method, reason, client_ip, agent, browser_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.user_id)
        .bind(now())
        .bind(i64::from(s.success))
        .bind(bounded(s.method, 32))
        .bind(bounded(s.reason, 32))
        .bind(bounded(s.client_ip, 64))
        .bind(bounded(s.agent, 100))
        .bind(bounded(s.browser_hash, 64))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's latest sign-ins, newest first.
    pub async fn recent_sign_ins(&self, user_id: i64) -> DResult<Vec<SignIn>> {
        Ok(sqlx::query_as(
            "SELECT at, success, method, reason, client_ip, agent FROM sign_ins \
             WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(SHOWN)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether the account signed in successfully from this browser within the retention
    /// period.
    pub async fn browser_known(&self, user_id: i64, browser_hash: &str) -> DResult<bool> {
        if browser_hash.is_empty() {
            return Ok(false);
        }
        let row = sqlx::query(
            "SELECT id FROM sign_ins WHERE user_id = $1 AND success = 1 AND browser_hash = $2 \
             AND at >= $3 LIMIT 1",
        )
        .bind(user_id)
        .bind(browser_hash)
        .bind(now() - RETENTION_DAYS * 86_400)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Whether the account ever signed in: a success in the history, or a last-login date.
    pub async fn signed_in_before(&self, user_id: i64) -> DResult<bool> {
        let history =
            sqlx::query("SELECT id FROM sign_ins WHERE user_id = $1 AND success = 1 LIMIT 1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        if history.is_some() {
            return Ok(true);
        }
        let last_login: Option<Option<i64>> =
            sqlx::query_scalar("SELECT last_login_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(last_login.flatten().is_some())
    }

    /// Deletes the sign-ins older than the retention period; returns how many.
    pub async fn purge_sign_ins(&self) -> DResult<u64> {
        let done = sqlx::query("DELETE FROM sign_ins WHERE at < $1")
            .bind(now() - RETENTION_DAYS * 86_400)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
