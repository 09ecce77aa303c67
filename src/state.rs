//! The state shared by the proxy and the portal: built once at start-up, on the control runtime
//! that owns the database pool (a pool dies with the runtime that created it: see
//! docs/decisions/0002-portal-axum-behind-pingora-on-a-unix-socket.md).

use crate::config::Config;
use crate::directory::Directory;
use crate::proxy::assertion::Signer;
use crate::proxy::identity_cache::IdentityCache;
use crate::proxy::routes::RouteTable;
use crate::session::events::Event;
use crate::session::{SessionKey, Sessions};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Gateway {
    pub config: Arc<Config>,
    pub dir: Directory,
    pub sessions: Sessions,
    pub signer: Signer,
    pub identities: IdentityCache,
    /// Applications and their routes; swapped as a whole when the configuration is reloaded.
    pub routes: arc_swap::ArcSwap<RouteTable>,
    /// Key of the CSRF HMAC; shared by all instances when set in the configuration.
    pub secret: Vec<u8>,
    /// The keys that seal second-factor secrets at rest (`data_dir/factors.key`).
    pub factor_keys: crate::auth::sealed::KeyRing,
    /// The WebAuthn relying party (the portal); `None` when its address cannot be one.
    pub webauthn: Option<webauthn_rs::Webauthn>,
    /// The names of the gateway's own cookies (prefixed `__Host-` under TLS).
    pub cookies: crate::session::cookies::CookieNames,
    /// Unix socket the portal (axum) listens on; the proxy forwards portal requests there.
    pub portal_socket: PathBuf,
    pub mailer: crate::mail::Mailer,
    /// Login, first-visit and reset attempts per client IP (per instance).
    pub ip_limiter: governor::DefaultKeyedRateLimiter<String>,
    pub ip_blocked: dashmap::DashMap<String, std::time::Instant>,
    /// Sign-ins started at identity providers per client address (per instance): each one
    /// stores a pending attempt, so an outsider must not be able to fill the store
    /// (docs/identity-providers.md#limits).
    pub provider_starts: governor::DefaultKeyedRateLimiter<String>,
    /// Changes sent to the other instances (Redis pub/sub); no-op with the in-process store.
    pub fanout: crate::session::events::Fanout,
    /// The local cache in front of a shared session store, if any.
    pub session_cache: Option<Arc<crate::session::cached::CachedStore>>,
    /// The session store's circuit breaker, when the store is remote (Redis).
    pub session_breaker: Option<Arc<crate::resilience::Breaker>>,
    /// Connections and requests in flight in this process (`resilience.max_*`).
    pub limits: &'static crate::resilience::Limits,
    /// The OpenID Connect provider's keys and limits (docs/oidc-provider.md).
    pub oidc: crate::oidc::Provider,
    /// External OpenID Connect identity providers (docs/identity-providers.md).
    pub providers: Arc<crate::auth::oidc_client::Providers>,
}

impl Gateway {
    /// The current routing table (load once per request and keep it for the request).
    pub fn routes(&self) -> Arc<RouteTable> {
        self.routes.load_full()
    }

    /// A directory change touched this user: the next request, on every instance, reloads the
    /// identity.
    pub fn user_changed(&self, user_id: i64) {
        self.identities.invalidate(user_id);
        self.fanout.publish(Event::User(user_id));
        self.oidc_access_changed(user_id);
    }

    /// Back-channel logout of the OpenID Connect clients this user may no longer use (role
    /// removed): in the background, only when some client asked for logout tokens. Callers are
    /// request handlers, on the control runtime; elsewhere (a test's thread) nothing is sent,
    /// and the tokens are refused at their next use all the same.
    fn oidc_access_changed(&self, user_id: i64) {
        let routes = self.routes();
        if !routes.apps.iter().any(crate::oidc::backchannel::notified) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let keys = self.oidc.keys();
        let store = self.sessions.store.clone();
        let dir = self.dir.clone();
        let issuer = self.config.public_url.clone();
        rt.spawn(async move {
            crate::oidc::backchannel::access_changed(
                keys,
                store.as_ref(),
                &dir,
                &issuer,
                &routes,
                user_id,
            )
            .await
        });
    }

    /// A change that may touch many identities (structure renamed or moved, application
    /// roles changed): every cached identity is reloaded on its next use, everywhere.
    pub fn directory_changed(&self) {
        self.identities.invalidate_all();
        self.fanout.publish(Event::All);
    }

    /// Ends every session of the user at once (lock, deletion, password change).
    pub async fn revoke_user(&self, user_id: i64) -> Result<usize, crate::session::SessionError> {
        self.identities.invalidate(user_id);
        // The sessions' ids, for back-channel logout, before they are gone.
        let sids = match self.sessions.store.list_user(user_id).await {
            Ok(list) => list
                .iter()
                .map(|(k, _)| crate::oidc::grants::sid_of(k))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "back-channel logout: cannot list the sessions");
                Vec::new()
            }
        };
        let n = self.sessions.revoke_user(user_id).await?;
        self.fanout.publish_now(Event::UserSessions(user_id)).await;
        self.oidc_sessions_ended(&sids).await;
        Ok(n)
    }

    /// Ends one session (logout) on every instance.
    pub async fn end_session(&self, key: &SessionKey) -> Result<(), crate::session::SessionError> {
        let user = self.sessions.store.get(key).await?.map(|r| r.user_id);
        self.sessions.revoke(key).await?;
        self.fanout.publish_now(Event::Session(*key)).await;
        if user.is_some() {
            self.oidc_sessions_ended(&[crate::oidc::grants::sid_of(key)])
                .await;
        }
        Ok(())
    }

    /// Back-channel logout of the OpenID Connect clients of ended sessions.
    async fn oidc_sessions_ended(&self, sids: &[String]) {
        crate::oidc::backchannel::clients_ended(
            self.oidc.keys(),
            self.sessions.store.as_ref(),
            &self.config.public_url,
            &self.routes(),
            sids,
            |_| true,
        )
        .await;
    }

    /// Counts one self-service request (first visit, reset) for this IP; false when the IP has
    /// used up its quota for the minute.
    pub fn ip_allowed(&self, ip: &str) -> bool {
        self.ip_limiter.check_key(&ip.to_string()).is_ok()
    }

    /// True while this IP is paused for too many failed logins. Only failures count, so a
    /// town hall behind one address is not blocked by its own successful logins.
    pub fn ip_blocked(&self, ip: &str) -> bool {
        self.ip_blocked
            .get(ip)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    pub fn ip_failed(&self, ip: &str) {
        if self.ip_limiter.check_key(&ip.to_string()).is_err() {
            self.ip_blocked.insert(
                ip.to_string(),
                std::time::Instant::now() + std::time::Duration::from_secs(60),
            );
        }
    }

    /// Counts one sign-in started at an identity provider for this client address (an IPv6
    /// address counts with its whole /64, which one subscriber usually holds); `Err` with the
    /// wait before the next one is allowed when the address used up its quota.
    pub fn provider_start_allowed(&self, ip: &str) -> Result<(), std::time::Duration> {
        use governor::clock::Clock;
        self.provider_starts
            .check_key(&limit_key(ip))
            .map_err(|not_until| not_until.wait_time_from(self.provider_starts.clock().now()))
    }

    /// True when this account may not sign in with a password: its structure (or one above)
    /// turned password sign-in off and it is not a platform administrator's. Without any
    /// identity provider configured the setting has no effect, so that nobody is locked out
    /// (docs/identity-providers.md#password-sign-in-turned-off).
    pub async fn password_refused(
        &self,
        user_id: i64,
    ) -> Result<bool, crate::directory::DirectoryError> {
        Ok(
            !self.providers.all().is_empty()
                && self.dir.password_disabled_for_user(user_id).await?,
        )
    }

    /// [`Gateway::password_refused`] by e-mail; false for an unknown e-mail, after the same
    /// queries.
    pub async fn password_refused_for_email(
        &self,
        email: &str,
    ) -> Result<bool, crate::directory::DirectoryError> {
        let disabled = self.dir.password_disabled_for_email(email).await?;
        Ok(disabled && !self.providers.all().is_empty())
    }

    /// Forgets stale rate-limiting state (called periodically).
    pub fn sweep_limits(&self) {
        if let Some(c) = &self.session_cache {
            c.sweep();
        }
        self.ip_limiter.retain_recent();
        self.provider_starts.retain_recent();
        self.oidc.sweep();
        let now = std::time::Instant::now();
        self.ip_blocked.retain(|_, until| *until > now);
    }

    pub fn is_tls(&self) -> bool {
        self.config.public_url.starts_with("https://")
    }
}

/// The key of a client address in the per-address limits that a large address space makes
/// cheap to rotate: an IPv6 address stands for its /64; anything else for itself.
pub fn limit_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => ip.to_string(),
    }
}

impl crate::session::events::Invalidate for Gateway {
    fn user(&self, user_id: i64) {
        self.identities.invalidate(user_id);
    }
    fn all_users(&self) {
        self.identities.invalidate_all();
    }
}

/// The key that seals TOTP secrets, from `data_dir/factors.key` (created, 0600, on first start),
/// and the previous one from `data_dir/factors.previous.key` during a rotation
/// (docs/security.md#second-factor). Base64 text, so that it can be copied to other instances.
pub fn load_factor_keys(config: &Config) -> Result<crate::auth::sealed::KeyRing, String> {
    use crate::auth::sealed::{KeyRing, SealKey};
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let read = |path: &std::path::Path| -> Result<Option<SealKey>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = b64
                    .decode(text.trim())
                    .map_err(|e| format!("{}: not base64 ({e})", path.display()))?;
                SealKey::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    };
    let path = config.data_dir.join("factors.key");
    let current = match read(&path)? {
        Some(k) => k,
        None => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            crate::data_dir::create_private_dir(&config.data_dir)
                .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
            let bytes = SealKey::generate();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            f.write_all(b64.encode(&bytes).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new key for second-factor secrets");
            SealKey::from_bytes(&bytes)?
        }
    };
    let previous = read(&config.data_dir.join("factors.previous.key"))?
        .into_iter()
        .collect();
    Ok(KeyRing { current, previous })
}

/// Reads the CSRF secret from the configuration or from `data_dir/secret.key`, creating it.
pub fn load_secret(config: &Config) -> Result<Vec<u8>, String> {
    if let Some(s) = &config.secret {
        return Ok(s.0.as_bytes().to_vec());
    }
    let path = config.data_dir.join("secret.key");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(bytes),
        Ok(_) => Err(format!(
            "{}: too short, delete it to generate a new one",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            crate::data_dir::create_private_dir(&config.data_dir)
                .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
            let secret = crate::auth::random_token().into_bytes();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            f.write_all(&secret)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ipv6_address_counts_with_its_64() {
        use super::limit_key;
        assert_eq!(limit_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(limit_key("2001:db8:5:6::1"), "2001:db8:5:6::/64");
        assert_eq!(limit_key("2001:db8:5:6:ffff::9"), "2001:db8:5:6::/64");
        assert_ne!(limit_key("2001:db8:5:7::1"), limit_key("2001:db8:5:6::1"));
        assert_eq!(limit_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(limit_key("not an address"), "not an address");
    }
}
