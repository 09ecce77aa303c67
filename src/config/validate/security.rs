//! `[security]`: the shared secret, login throttling and one-time link lifetime
//! (docs/security.md#brute-force, docs/security.md#secrets-and-keys).

use super::Problems;
use crate::config::file::SecuritySection;
use crate::config::model::{LoginThrottle, SecondFactorPolicy, Secret};
use std::time::Duration;

pub(super) struct Security {
    pub secret: Option<Secret>,
    pub throttle: LoginThrottle,
    pub link_ttl: Duration,
    pub second_factor: SecondFactorPolicy,
}

pub(super) fn check(s: &SecuritySection, p: &mut Problems) -> Security {
    let secret = s.secret.clone().map(Secret);
    if let Some(Secret(secret)) = &secret {
        if secret.len() < 32 {
            p.add(
                "security.secret",
                "must be at least 32 characters (generate one with `openssl rand -hex 32`)",
            );
        }
    }
    if s.login_delay_seconds == 0 || s.login_max_delay_seconds < s.login_delay_seconds {
        p.add(
            "security.login_max_delay_seconds",
            "must be at least security.login_delay_seconds, which must be at least 1",
        );
    }
    if s.attempts_per_ip_per_minute == 0 {
        p.add("security.attempts_per_ip_per_minute", "must be at least 1");
    }
    if s.identity_provider_starts_per_ip_per_minute == 0 {
        p.add(
            "security.identity_provider_starts_per_ip_per_minute",
            "must be at least 1",
        );
    }
    if !(1..=24 * 30).contains(&s.link_ttl_hours) {
        p.add("security.link_ttl_hours", "must be between 1 and 720");
    }
    if s.second_factor_grace_days > 365 {
        p.add(
            "security.second_factor_grace_days",
            "must be between 0 (enrol at once) and 365",
        );
    }
    if !(1..=24 * 60).contains(&s.reauth_minutes) {
        p.add("security.reauth_minutes", "must be between 1 and 1440");
    }
    Security {
        secret,
        throttle: LoginThrottle {
            failures_before_delay: s.login_failures_before_delay,
            delay: Duration::from_secs(s.login_delay_seconds),
            max_delay: Duration::from_secs(s.login_max_delay_seconds),
            attempts_per_ip_per_minute: s.attempts_per_ip_per_minute,
            provider_starts_per_ip_per_minute: s.identity_provider_starts_per_ip_per_minute,
        },
        // Saturating: an out-of-range value was reported above and is never used.
        link_ttl: Duration::from_secs(s.link_ttl_hours.saturating_mul(3600)),
        second_factor: SecondFactorPolicy {
            for_administrators: s.second_factor_for_administrators,
            grace: Duration::from_secs(u64::from(s.second_factor_grace_days) * 86_400),
            reauth: Duration::from_secs(u64::from(s.reauth_minutes) * 60),
        },
    }
}
