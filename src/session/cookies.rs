//! The names of the gateway's cookies (docs/security.md#cookies). Under TLS they carry the
//! `__Host-` prefix wherever they are host-only, so that no other host (a sibling application
//! under the same parent domain, or a plain-HTTP page) can set or shadow them.

use crate::config::Config;

#[derive(Clone, Debug)]
pub struct CookieNames {
    /// The portal session; domain-wide when `sessions.cookie_domain` is set.
    pub session: String,
    /// The host-only cookie an application host gets from the handshake.
    pub app: String,
    /// The pre-session cookie the login form's CSRF token is bound to.
    pub csrf: String,
    /// The value that binds a handshake to the browser that started it.
    pub handshake: String,
    /// The sealed state of a login waiting for its second factor.
    pub pending_login: String,
    /// The value that binds a sign-in at an identity provider to the browser that started it.
    pub provider_binding: String,
    /// A long-lived random id of the browser, set at sign-in, so that a sign-in from a browser
    /// the account has not used lately can be told to the user (docs/security.md#cookies).
    pub browser: String,
}

/// Name of the pre-session cookie before its prefix.
const CSRF: &str = "convergences_csrf";
const HANDSHAKE: &str = "convergences_handshake";
const PENDING_LOGIN: &str = "convergences_mfa";
const PROVIDER_BINDING: &str = "convergences_idp";
const BROWSER: &str = "convergences_browser";

impl CookieNames {
    pub fn new(config: &Config) -> CookieNames {
        let tls = config.public_url.starts_with("https://");
        let host_only = |name: &str| {
            if tls {
                format!("__Host-{name}")
            } else {
                name.to_string()
            }
        };
        let s = &config.sessions;
        CookieNames {
            session: if s.cookie_domain.is_none() {
                host_only(&s.cookie_name)
            } else {
                s.cookie_name.clone()
            },
            app: host_only(&s.app_cookie_name),
            csrf: host_only(CSRF),
            handshake: host_only(HANDSHAKE),
            pending_login: host_only(PENDING_LOGIN),
            provider_binding: host_only(PROVIDER_BINDING),
            browser: host_only(BROWSER),
        }
    }

    /// Every name an application must neither receive nor set, prefixed or not.
    pub fn reserved(&self) -> Vec<String> {
        let mut all = Vec::new();
        for n in [
            &self.session,
            &self.app,
            &self.csrf,
            &self.handshake,
            &self.pending_login,
            &self.provider_binding,
            &self.browser,
        ] {
            let bare = n.strip_prefix("__Host-").unwrap_or(n);
            for v in [
                bare.to_string(),
                format!("__Host-{bare}"),
                format!("__Secure-{bare}"),
            ] {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
        }
        all
    }
}
