//! `[resilience]`: bounds on waiting for the session store and the directory, the circuit
//! breakers, the admission limits and the degraded mode (docs/operations.md).

use super::Problems;
use crate::config::file::ResilienceSection;
use crate::config::model::Resilience;
use std::time::Duration;

/// Longest grace the degraded mode may give: past it, an identity read before the outage says
/// too little about today's rights.
const MAX_GRACE_SECONDS: u64 = 3600;

pub(super) fn check(r: &ResilienceSection, p: &mut Problems) -> Resilience {
    for (key, value, min, max) in [
        (
            "resilience.session_store_timeout_ms",
            r.session_store_timeout_ms,
            10,
            60_000,
        ),
        (
            "resilience.directory_timeout_ms",
            r.directory_timeout_ms,
            10,
            60_000,
        ),
        (
            "resilience.probe_interval_ms",
            r.probe_interval_ms,
            10,
            60_000,
        ),
        (
            "resilience.page_timeout_ms",
            r.page_timeout_ms,
            100,
            600_000,
        ),
        (
            "resilience.retry_after_seconds",
            r.retry_after_seconds,
            1,
            3600,
        ),
    ] {
        if !(min..=max).contains(&value) {
            p.add(key, format!("must be between {min} and {max}"));
        }
    }
    if r.failures_to_open == 0 {
        p.add("resilience.failures_to_open", "must be at least 1");
    }
    for (key, value) in [
        ("resilience.max_waiting", r.max_waiting),
        ("resilience.max_connections", r.max_connections),
        ("resilience.max_requests", r.max_requests),
    ] {
        if value == 0 {
            p.add(key, "must be at least 1");
        }
    }
    if r.directory_grace_seconds > MAX_GRACE_SECONDS {
        p.add(
            "resilience.directory_grace_seconds",
            format!("must be at most {MAX_GRACE_SECONDS} (0 turns the degraded mode off)"),
        );
    }
    Resilience {
        session_store_timeout: Duration::from_millis(r.session_store_timeout_ms),
        directory_timeout: Duration::from_millis(r.directory_timeout_ms),
        failures_to_open: r.failures_to_open,
        probe_interval: Duration::from_millis(r.probe_interval_ms),
        max_waiting: r.max_waiting,
        max_connections: r.max_connections,
        max_requests: r.max_requests,
        retry_after_seconds: r.retry_after_seconds,
        directory_grace: Duration::from_secs(r.directory_grace_seconds),
        page_timeout: Duration::from_millis(r.page_timeout_ms),
    }
}
