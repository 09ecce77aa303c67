//! Sessions: the opaque cookie token maps (through its SHA-256, so a dump of the store holds no
//! usable credential) to a record in a [`SessionStore`]. The in-process store is the default;
//! a Redis store shares sessions across instances.

pub mod cached;
pub mod cookies;
pub mod events;
pub mod guarded;
pub mod memory;
pub mod redis;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub type SessionKey = [u8; 32];

pub fn key_of(token: &str) -> SessionKey {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: i64,
    pub created_at: i64,
    pub last_seen: i64,
    pub client_ip: String,
    pub user_agent: String,
    /// How the user signed in; absent from sessions made before it was recorded (a password).
    #[serde(default)]
    pub assurance: Assurance,
    /// The account must enrol a second factor (docs/security.md#second-factor-policy): until
    /// this time it may postpone, after it the session reaches nothing but the enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrol_by: Option<i64>,
    /// The external identity provider that signed the user in, if one did
    /// (docs/identity-providers.md#logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderLogin>,
}

impl SessionRecord {
    /// The grace period is over and no factor was enrolled in this session.
    pub fn must_enrol(&self, now: i64) -> bool {
        self.enrol_by.is_some_and(|t| now >= t)
    }
}

/// What logging out at an identity provider needs: which provider, and the ID token it
/// issued (`id_token_hint`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderLogin {
    pub slug: String,
    pub id_token: String,
}

/// When and how the user proved who they are (docs/security.md#assurance), carried to the
/// applications in the assertion and, later, in OpenID Connect tokens: `auth_time`, the
/// methods (`amr`, RFC 8176) and the level (`acr`, the eIDAS levels ProConnect uses).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Assurance {
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
}

/// `acr` of a password alone.
pub const ACR_PASSWORD: &str = "eidas1";
/// `acr` with a second factor.
pub const ACR_SECOND_FACTOR: &str = "eidas2";

impl Assurance {
    pub fn password(at: i64) -> Assurance {
        Assurance {
            auth_time: at,
            amr: vec!["pwd".into()],
            acr: ACR_PASSWORD.into(),
        }
    }

    /// A password then a one-time code (`otp`) or a recovery code (no RFC 8176 value of its
    /// own: `mfa` says that two factors were used).
    pub fn second_factor(at: i64, method: Option<&str>) -> Assurance {
        let mut amr = vec!["pwd".to_string()];
        if let Some(m) = method {
            amr.push(m.to_string());
        }
        amr.push("mfa".into());
        Assurance {
            auth_time: at,
            amr,
            acr: ACR_SECOND_FACTOR.into(),
        }
    }

    /// What a session recorded before assurance existed stands for: a password at login.
    pub fn or_password(&self, created_at: i64) -> Assurance {
        if self.amr.is_empty() {
            Assurance::password(created_at)
        } else {
            self.clone()
        }
    }

    /// A confirmation of identity during the session (step-up): it is dated now, and adds
    /// its method to those already used. `method` is the RFC 8176 value of a second factor
    /// (or `None` for a recovery code), `second_factor` false for a password alone.
    pub fn confirmed(&self, at: i64, method: Option<&str>, second_factor: bool) -> Assurance {
        let mut amr = self.amr.clone();
        let mut add = |m: &str| {
            if !amr.iter().any(|x| x == m) {
                amr.push(m.to_string());
            }
        };
        if second_factor {
            if let Some(m) = method {
                add(m);
            }
            add("mfa");
        } else {
            add("pwd");
        }
        Assurance {
            auth_time: at,
            amr,
            acr: if second_factor || self.has_second_factor() {
                ACR_SECOND_FACTOR.into()
            } else {
                ACR_PASSWORD.into()
            },
        }
    }

    pub fn has_second_factor(&self) -> bool {
        self.acr == ACR_SECOND_FACTOR
    }
}

/// A handshake code: proves to an application host that the portal saw a valid session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HandshakeCode {
    pub session: SessionKey,
    pub app_slug: String,
    /// SHA-256 of the handshake cookie of the browser that started the handshake on the
    /// application host: a code redeemed by another browser is refused (login CSRF).
    #[serde(default)]
    pub browser: SessionKey,
}

/// The store key of an application-host cookie: bound to its application, so that a cookie
/// copied to another application's host finds nothing there.
fn link_key(token: &str, app_slug: &str) -> SessionKey {
    let mut h = Sha256::new();
    h.update(b"link\0");
    h.update(app_slug.as_bytes());
    h.update(b"\0");
    h.update(token.as_bytes());
    h.finalize().into()
}

/// The id under which a session appears in its user's list (docs/security.md#sessions): an HMAC
/// of its storage key under the gateway secret, so that the page shows neither the cookie nor
/// the key, and an id cannot be made up for a session one has not been shown.
pub fn listing_id(secret: &[u8], key: &SessionKey) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"session-listing\0");
    mac.update(key);
    let tag = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// The handshake binding a browser presents: the SHA-256 of its handshake cookie, base64url.
pub fn browser_binding(handshake_cookie: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key_of(handshake_cookie))
}

/// A key in lower-case hex: how the stores name it.
pub fn hex(k: &SessionKey) -> String {
    use std::fmt::Write;
    k.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
}

pub type SResult<T> = Result<T, SessionError>;

/// Storage of sessions, handshake codes and application-host links. Every entry carries a TTL
/// after which the store forgets it by itself.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn insert(&self, key: SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()>;
    /// Shared, not copied: the proxy reads a session on every request and must not clone its
    /// strings each time.
    async fn get(&self, key: &SessionKey) -> SResult<Option<Arc<SessionRecord>>>;
    async fn touch(&self, key: &SessionKey, last_seen: i64, ttl: Duration) -> SResult<()>;
    async fn remove(&self, key: &SessionKey) -> SResult<()>;
    /// Removes every session of a user; returns how many there were.
    async fn remove_user(&self, user_id: i64) -> SResult<usize>;
    /// The live sessions of a user, for the page that lists them (never on the proxy's path).
    async fn list_user(&self, user_id: i64) -> SResult<Vec<(SessionKey, SessionRecord)>>;
    async fn put_code(&self, code: SessionKey, value: HandshakeCode, ttl: Duration) -> SResult<()>;
    /// Returns and deletes a code: a code works once.
    async fn take_code(&self, code: &SessionKey) -> SResult<Option<HandshakeCode>>;
    async fn put_link(&self, link: SessionKey, session: SessionKey, ttl: Duration) -> SResult<()>;
    async fn get_link(&self, link: &SessionKey) -> SResult<Option<SessionKey>>;
    /// [`get`](Self::get) when the store can answer without waiting (an in-process map, a
    /// fresh cache entry): `None` means "ask `get`". The proxy asks this first on every
    /// request: a call through the asynchronous trait costs a boxed future each time.
    fn get_ready(&self, _key: &SessionKey) -> Option<Option<Arc<SessionRecord>>> {
        None
    }
    /// [`get_link`](Self::get_link) when the store can answer without waiting, as
    /// [`get_ready`](Self::get_ready).
    fn get_link_ready(&self, _link: &SessionKey) -> Option<Option<SessionKey>> {
        None
    }
    /// For a cache in front of the shared store: how many sessions it was told were revoked or
    /// changed elsewhere (events) or changed itself; it only grows. Zero for a store that is
    /// its own authority.
    fn changes(&self) -> u64 {
        0
    }
    /// For a cache: until when what it holds for `session` (and the application cookie
    /// `link`) may still be served without asking the shared store; an instant already past
    /// when it holds neither. `None` for a store that is its own authority.
    fn fresh_until(
        &self,
        _session: &SessionKey,
        _link: Option<&SessionKey>,
    ) -> Option<std::time::Instant> {
        None
    }
    /// Overwrites a live session's record; a session removed in between stays removed.
    async fn replace(&self, key: &SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()>;
    /// Keeps a short-lived value (a WebAuthn ceremony's state...) that any instance can take:
    /// a [`put_value`](Self::put_value) under the key's hex form.
    async fn put_once(&self, key: SessionKey, value: String, ttl: Duration) -> SResult<()> {
        self.put_value(&hex(&key), &value, ttl).await
    }
    /// Returns and deletes a value kept by `put_once`: it is read once.
    async fn take_once(&self, key: &SessionKey) -> SResult<Option<String>> {
        self.take_value(&hex(key)).await
    }
    async fn ping(&self) -> SResult<()>;
    /// A small value of another feature (the OpenID Connect provider's codes and tokens) under
    /// its own key, forgotten after `ttl`. Keys are the callers' own (hashes, never secrets).
    async fn put_value(&self, key: &str, value: &str, ttl: Duration) -> SResult<()>;
    async fn get_value(&self, key: &str) -> SResult<Option<String>>;
    /// Returns and deletes a value: of two instances taking it at once, one gets it.
    async fn take_value(&self, key: &str) -> SResult<Option<String>>;
    /// Live sessions, when the store can count them cheaply (the in-process one can; Redis
    /// would need a key scan, so it says `None`).
    fn count(&self) -> Option<usize> {
        None
    }
}

/// Lifetime of a handshake code between the portal and an application host.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// Timeout policy on top of a store.
#[derive(Clone)]
pub struct Sessions {
    pub store: Arc<dyn SessionStore>,
    pub idle: Duration,
    pub absolute: Duration,
    /// Bumped after every change this instance makes to a session (see
    /// [`Sessions::generation`]); shared by the clones, as the store is.
    changes: Arc<AtomicU64>,
}

/// A live session found from a cookie.
#[derive(Clone, Debug)]
pub struct Live {
    pub key: SessionKey,
    pub record: Arc<SessionRecord>,
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, idle: Duration, absolute: Duration) -> Self {
        Self {
            store,
            idle,
            absolute,
            changes: Arc::default(),
        }
    }

    /// Moves on after every revocation, sign-out or change of any session, this instance's own
    /// and, through the store's count, those other instances announce. A decision taken on a
    /// session may be reused only while this reads the same as before it was taken (read it
    /// first): the proxy's per-thread memo relies on it (`proxy::memo`).
    pub fn generation(&self) -> u64 {
        self.changes
            .load(Ordering::Acquire)
            .wrapping_add(self.store.changes())
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// Until when (Unix seconds, exclusive) what was decided on `rec` now may be reused without
    /// resolving its cookie again: before the idle or absolute timeout and before the
    /// last-seen time is due to be written ([`resolve_key`](Self::resolve_key)).
    pub fn reusable_until(&self, rec: &SessionRecord) -> i64 {
        let idle = self.idle.as_secs() as i64;
        let absolute = self.absolute.as_secs() as i64;
        (rec.created_at + absolute)
            .min(rec.last_seen + idle)
            .min(rec.last_seen + self.last_seen_every())
    }

    /// Seconds between two writes of a session's last-seen time: a tenth of the idle timeout,
    /// from 1 s to 1 min.
    fn last_seen_every(&self) -> i64 {
        (self.idle.as_secs() as i64 / 10).clamp(1, 60)
    }

    /// For a store behind a short-lived cache: until when its answers for this session and
    /// its application cookie (`link_token` of `app_slug`, or none for the central cookie)
    /// stay within the cache's freshness bound. `None`: the store itself answered.
    pub fn fresh_until(
        &self,
        key: &SessionKey,
        link_token: Option<(&str, &str)>,
    ) -> Option<std::time::Instant> {
        let link = link_token.map(|(token, slug)| link_key(token, slug));
        self.store.fresh_until(key, link.as_ref())
    }

    /// Starts a session and returns the token to put in the cookie.
    pub async fn create(
        &self,
        user_id: i64,
        client_ip: &str,
        user_agent: &str,
        assurance: Assurance,
    ) -> SResult<String> {
        self.create_with(user_id, client_ip, user_agent, assurance, None, None)
            .await
    }

    /// [`create`](Self::create), for an account the second-factor policy asks to enrol or
    /// that an identity provider signed in.
    pub async fn create_with(
        &self,
        user_id: i64,
        client_ip: &str,
        user_agent: &str,
        assurance: Assurance,
        enrol_by: Option<i64>,
        provider: Option<ProviderLogin>,
    ) -> SResult<String> {
        let token = crate::auth::random_token();
        let now = crate::directory::now();
        let rec = SessionRecord {
            user_id,
            created_at: now,
            last_seen: now,
            client_ip: client_ip.chars().take(64).collect(),
            user_agent: user_agent.chars().take(256).collect(),
            assurance,
            enrol_by,
            provider,
        };
        self.store.insert(key_of(&token), rec, self.idle).await?;
        Ok(token)
    }

    /// The live session behind `key`, enforcing idle and absolute timeouts. The last-seen time
    /// is written at most once per `idle / 10` (and at least once a minute) so that a busy
    /// client does not turn every proxied request into a store write.
    pub async fn resolve_key(&self, key: SessionKey) -> SResult<Option<Live>> {
        let got = match self.store.get_ready(&key) {
            Some(ready) => ready,
            None => self.store.get(&key).await?,
        };
        let Some(rec) = got else {
            return Ok(None);
        };
        let now = crate::directory::now();
        let idle = self.idle.as_secs() as i64;
        let absolute = self.absolute.as_secs() as i64;
        if now - rec.created_at >= absolute || now - rec.last_seen >= idle {
            let done = self.store.remove(&key).await;
            self.changed();
            done?;
            return Ok(None);
        }
        if now - rec.last_seen >= self.last_seen_every() {
            let remaining = (rec.created_at + absolute - now).max(1) as u64;
            let ttl = self.idle.min(Duration::from_secs(remaining));
            self.store.touch(&key, now, ttl).await?;
        }
        Ok(Some(Live { key, record: rec }))
    }

    /// Records a fresh authentication on a live session (step-up): the session keeps its
    /// token and timeouts, its assurance is the new one. False if the session is gone.
    pub async fn reassure(&self, key: &SessionKey, assurance: Assurance) -> SResult<bool> {
        self.modify(key, |rec| rec.assurance = assurance).await
    }

    /// Changes a live session's record in place (same token, same timeouts). False if the
    /// session is gone.
    pub async fn modify(
        &self,
        key: &SessionKey,
        change: impl FnOnce(&mut SessionRecord),
    ) -> SResult<bool> {
        let Some(rec) = self.store.get(key).await? else {
            return Ok(false);
        };
        let mut rec = SessionRecord::clone(&rec);
        let now = crate::directory::now();
        let remaining = (rec.created_at + self.absolute.as_secs() as i64 - now).max(1) as u64;
        change(&mut rec);
        rec.last_seen = now;
        let ttl = self.idle.min(Duration::from_secs(remaining));
        let done = self.store.replace(key, rec, ttl).await;
        self.changed();
        done?;
        Ok(true)
    }

    /// The session behind `key` if it is live, without counting as activity: an application
    /// using its tokens in the background must not keep the user's session open.
    pub async fn peek_key(&self, key: &SessionKey) -> SResult<Option<Arc<SessionRecord>>> {
        let Some(rec) = self.store.get(key).await? else {
            return Ok(None);
        };
        let now = crate::directory::now();
        let live = now - rec.created_at < self.absolute.as_secs() as i64
            && now - rec.last_seen < self.idle.as_secs() as i64;
        Ok(live.then_some(rec))
    }

    pub async fn resolve(&self, token: &str) -> SResult<Option<Live>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        self.resolve_key(key_of(token)).await
    }

    /// Resolves an application-host cookie to the central session it is bound to, if it was
    /// issued for this application.
    pub async fn resolve_link(&self, link_token: &str, app_slug: &str) -> SResult<Option<Live>> {
        if link_token.is_empty() || link_token.len() > 128 {
            return Ok(None);
        }
        let link = link_key(link_token, app_slug);
        let session = match self.store.get_link_ready(&link) {
            Some(ready) => ready,
            None => self.store.get_link(&link).await?,
        };
        match session {
            Some(session) => self.resolve_key(session).await,
            None => Ok(None),
        }
    }

    pub async fn revoke(&self, key: &SessionKey) -> SResult<()> {
        let done = self.store.remove(key).await;
        self.changed();
        done
    }

    pub async fn revoke_user(&self, user_id: i64) -> SResult<usize> {
        let done = self.store.remove_user(user_id).await;
        self.changed();
        done
    }

    /// The user's live sessions under the timeouts, most recently used first.
    pub async fn list_user(&self, user_id: i64) -> SResult<Vec<Live>> {
        let now = crate::directory::now();
        let idle = self.idle.as_secs() as i64;
        let absolute = self.absolute.as_secs() as i64;
        let mut live: Vec<Live> = self
            .store
            .list_user(user_id)
            .await?
            .into_iter()
            .filter(|(_, r)| {
                r.user_id == user_id && now - r.created_at < absolute && now - r.last_seen < idle
            })
            .map(|(key, record)| Live {
                key,
                record: Arc::new(record),
            })
            .collect();
        live.sort_by(|a, b| {
            (b.record.last_seen, b.record.created_at)
                .cmp(&(a.record.last_seen, a.record.created_at))
        });
        Ok(live)
    }

    /// A one-time code for `app_slug`, redeemable only by the browser whose handshake cookie
    /// hashes to `browser` (see [`browser_binding`]).
    pub async fn issue_code(
        &self,
        session: SessionKey,
        app_slug: &str,
        browser: SessionKey,
    ) -> SResult<String> {
        let code = crate::auth::random_token();
        self.store
            .put_code(
                key_of(&code),
                HandshakeCode {
                    session,
                    app_slug: app_slug.to_string(),
                    browser,
                },
                CODE_TTL,
            )
            .await?;
        Ok(code)
    }

    /// Redeems a handshake code for `app_slug` in the browser holding `handshake_cookie`, and
    /// returns a new application-host token bound to the same central session and to this
    /// application; `None` if the code is unknown, used, expired, was issued for another
    /// application or to another browser.
    pub async fn redeem_code(
        &self,
        code: &str,
        app_slug: &str,
        handshake_cookie: &str,
    ) -> SResult<Option<String>> {
        if code.is_empty() || code.len() > 128 || handshake_cookie.len() > 128 {
            return Ok(None);
        }
        let Some(hc) = self.store.take_code(&key_of(code)).await? else {
            return Ok(None);
        };
        let browser = key_of(handshake_cookie);
        let same_browser: bool =
            subtle::ConstantTimeEq::ct_eq(&hc.browser[..], &browser[..]).into();
        if hc.app_slug != app_slug || handshake_cookie.is_empty() || !same_browser {
            return Ok(None);
        }
        let Some(live) = self.resolve_key(hc.session).await? else {
            return Ok(None);
        };
        let link = crate::auth::random_token();
        let remaining = (live.record.created_at + self.absolute.as_secs() as i64
            - crate::directory::now())
        .max(1);
        self.store
            .put_link(
                link_key(&link, app_slug),
                hc.session,
                Duration::from_secs(remaining as u64),
            )
            .await?;
        Ok(Some(link))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(
            memory::MemoryStore::new(),
            Duration::from_secs(1800),
            Duration::from_secs(8 * 3600),
        )
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_decision_is_reusable_until_the_next_last_seen_write_or_timeout() {
        let s = sessions();
        let mut rec = SessionRecord {
            user_id: 1,
            created_at: 1_000,
            last_seen: 1_000,
            client_ip: String::new(),
            user_agent: String::new(),
            assurance: Assurance::password(1_000),
            enrol_by: None,
            provider: None,
        };
        // Idle 30 min: last-seen is written every 3 min at most, a minute here (the cap).
        assert_eq!(s.reusable_until(&rec), 1_060);
        // Near the absolute timeout, that comes first.
        rec.last_seen = 1_000 + 8 * 3600 - 30;
        assert_eq!(s.reusable_until(&rec), 1_000 + 8 * 3600);
    }

    #[test]
    fn every_revocation_and_change_moves_the_generation() {
        let s = sessions();
        block_on(async {
            let token = s
                .create(1, "203.0.113.1", "test", Assurance::password(0))
                .await
                .unwrap();
            let key = key_of(&token);
            let before = s.generation();
            assert!(s.resolve(&token).await.unwrap().is_some());
            assert_eq!(s.generation(), before, "reading changes nothing");
            assert!(s.reassure(&key, Assurance::password(5)).await.unwrap());
            let after_change = s.generation();
            assert_ne!(after_change, before, "a new assurance");
            s.revoke(&key).await.unwrap();
            assert_ne!(s.generation(), after_change, "a sign-out");
            let after_revoke = s.generation();
            s.revoke_user(1).await.unwrap();
            let after_user = s.generation();
            assert_ne!(after_user, after_revoke, "every session of a user");
            s.clone().revoke(&key).await.unwrap();
            assert_ne!(s.generation(), after_user, "a clone shares the count");
        });
    }
}
