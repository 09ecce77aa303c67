//! Failed-login delays per e-mail (docs/security.md#brute-force). The delay doubles with each
//! failure past the threshold and is capped, and a success or a quiet day clears the count: an
//! attacker can slow an account down but never lock its owner out for good.

use super::{DResult, Directory};
use crate::config::LoginThrottle;
use sha2::{Digest, Sha256};

/// The failures counted for a key.
#[derive(sqlx::FromRow)]
struct FailuresRow {
    failures: i64,
    last_failure_at: i64,
}

/// Failures older than this are forgotten.
const FORGET_AFTER_SECONDS: i64 = 24 * 3600;

/// Milliseconds since the Unix epoch: delays of a second or two need finer than whole seconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn key_of(email: &str) -> String {
    let d = Sha256::digest(crate::directory::users::normalize_email(email).as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The delay after `failures` consecutive failures, in seconds (0 below the threshold).
pub fn delay_after(policy: &LoginThrottle, failures: u32) -> i64 {
    if failures < policy.failures_before_delay {
        return 0;
    }
    let exponent = (failures - policy.failures_before_delay).min(30);
    let base = policy.delay.as_secs() as i64;
    base.saturating_mul(1i64 << exponent)
        .min(policy.max_delay.as_secs() as i64)
}

impl Directory {
    /// Seconds the e-mail must still wait before its next attempt (0: go ahead).
    pub async fn login_wait(&self, email: &str) -> DResult<i64> {
        let until: i64 =
            sqlx::query_scalar("SELECT blocked_until FROM login_throttle WHERE key = $1")
                .bind(key_of(email))
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0);
        // Rounded up: a delay in progress never reads as 0.
        Ok(((until - now_ms()).max(0) + 999) / 1000)
    }

    pub async fn login_failed(&self, email: &str, policy: &LoginThrottle) -> DResult<()> {
        let key = key_of(email);
        let t = now_ms();
        let row: Option<FailuresRow> =
            sqlx::query_as("SELECT failures, last_failure_at FROM login_throttle WHERE key = $1")
                .bind(&key)
                .fetch_optional(&self.pool)
                .await?;
        let previous: i64 = match row {
            Some(r) if t - r.last_failure_at < FORGET_AFTER_SECONDS * 1000 => r.failures,
            _ => 0,
        };
        let failures = (previous + 1).clamp(0, i64::from(u32::MAX)) as u32;
        let blocked_until = t + delay_after(policy, failures) * 1000;
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
             last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until",
        )
        .bind(&key)
        .bind(i64::from(failures))
        .bind(t)
        .bind(blocked_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn login_succeeded(&self, email: &str) -> DResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key_of(email))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn delay_grows_then_caps() {
        let p = LoginThrottle {
            failures_before_delay: 5,
            delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            attempts_per_ip_per_minute: 30,
            provider_starts_per_ip_per_minute: 60,
        };
        assert_eq!(delay_after(&p, 4), 0);
        assert_eq!(delay_after(&p, 5), 2);
        assert_eq!(delay_after(&p, 6), 4);
        assert_eq!(delay_after(&p, 9), 32);
        assert_eq!(delay_after(&p, 10), 60);
        assert_eq!(delay_after(&p, u32::MAX), 60);
    }

    #[test]
    fn key_ignores_case_and_hides_the_address() {
        assert_eq!(key_of("Agent@Mairie.fr "), key_of("agent@mairie.fr"));
        assert!(!key_of("agent@mairie.fr").contains("agent"));
    }
}
