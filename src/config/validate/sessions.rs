//! `[sessions]`: the store, the cookies and the timeouts
//! (docs/decisions/0003-session-model.md, docs/security.md#cookies).

use super::{is_host_name, Problems};
use crate::config::file::SessionsSection;
use crate::config::model::{SessionSettings, StoreKind};
use std::time::Duration;

pub(super) fn check(s: &SessionsSection, portal_host: &str, p: &mut Problems) -> SessionSettings {
    let store = match s.store.as_str() {
        "memory" => StoreKind::Memory,
        "redis" => StoreKind::Redis,
        other => {
            p.add(
                "sessions.store",
                format!("{other:?} is not one of \"memory\", \"redis\""),
            );
            StoreKind::Memory
        }
    };
    if store == StoreKind::Redis {
        match &s.redis_url {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {}
            Some(_) => p.add(
                "sessions.redis_url",
                "must start with redis:// or rediss://",
            ),
            None => p.add(
                "sessions.redis_url",
                "is required when sessions.store = \"redis\" (e.g. \"redis://127.0.0.1:6379\")",
            ),
        }
    }
    for (key, name) in [
        ("sessions.cookie_name", &s.cookie_name),
        ("sessions.app_cookie_name", &s.app_cookie_name),
    ] {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            p.add(key, format!("{name:?} must be letters, digits, '_' or '-'"));
        }
    }
    // The proxy tells the two cookies apart by name (docs/decisions/0004-sso-redirect-handshake.md).
    if s.cookie_name == s.app_cookie_name {
        p.add(
            "sessions.app_cookie_name",
            "must differ from sessions.cookie_name",
        );
    }
    let cookie_domain = s
        .cookie_domain
        .as_ref()
        .map(|d| d.trim_start_matches('.').to_ascii_lowercase());
    if let Some(d) = &cookie_domain {
        // A browser would refuse a cookie for a domain that does not contain the portal's host.
        if !is_host_name(d) || !(portal_host == *d || portal_host.ends_with(&format!(".{d}"))) {
            p.add(
                "sessions.cookie_domain",
                format!("{d:?} must be a domain that contains server.portal_host ({portal_host})"),
            );
        }
    }
    if s.idle_timeout_seconds == 0 {
        p.add("sessions.idle_timeout_seconds", "must be at least 1");
    }
    if s.absolute_timeout_seconds < s.idle_timeout_seconds {
        p.add(
            "sessions.absolute_timeout_seconds",
            "must be at least sessions.idle_timeout_seconds",
        );
    }
    SessionSettings {
        store,
        redis_url: s.redis_url.clone(),
        redis_prefix: s.redis_prefix.clone(),
        cookie_name: s.cookie_name.clone(),
        app_cookie_name: s.app_cookie_name.clone(),
        cookie_domain,
        idle_timeout: Duration::from_secs(s.idle_timeout_seconds),
        absolute_timeout: Duration::from_secs(s.absolute_timeout_seconds),
    }
}
