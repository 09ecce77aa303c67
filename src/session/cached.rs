//! A short-lived in-process cache in front of a shared store, so that a busy instance does not
//! ask Redis twice per proxied request. Entries live at most `ttl` (1 s): a session revoked on
//! another instance is refused here within that bound even if the revocation event is lost,
//! and at once when it arrives (`forget`, `forget_user`).

use super::{HandshakeCode, SResult, SessionKey, SessionRecord, SessionStore};
use async_trait::async_trait;
use dashmap::DashMap;
use foldhash::fast::RandomState as Fast;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct CachedStore {
    inner: Arc<dyn SessionStore>,
    ttl: Duration,
    // Read on every proxied request: a fast hasher (the keys are digests).
    sessions: DashMap<SessionKey, (Arc<SessionRecord>, Instant), Fast>,
    links: DashMap<SessionKey, (SessionKey, Instant), Fast>,
    /// Bumped after every entry dropped for a revocation or change (`SessionStore::changes`).
    changes: AtomicU64,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn SessionStore>, ttl: Duration) -> Arc<CachedStore> {
        Arc::new(CachedStore {
            inner,
            ttl,
            sessions: DashMap::default(),
            links: DashMap::default(),
            changes: AtomicU64::new(0),
        })
    }

    /// After the entry is gone, so that whoever read the count before still sees it move.
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
    }

    pub fn forget(&self, key: &SessionKey) {
        self.sessions.remove(key);
        self.changed();
    }

    pub fn forget_user(&self, user_id: i64) {
        self.sessions.retain(|_, (rec, _)| rec.user_id != user_id);
        self.changed();
    }

    pub fn forget_all(&self) {
        self.sessions.clear();
        self.links.clear();
        self.changed();
    }

    /// Drops expired entries (called periodically).
    pub fn sweep(&self) {
        let ttl = self.ttl;
        self.sessions.retain(|_, (_, at)| at.elapsed() < ttl);
        self.links.retain(|_, (_, at)| at.elapsed() < ttl);
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn insert(&self, key: SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        self.inner.insert(key, rec, ttl).await
    }

    async fn get(&self, key: &SessionKey) -> SResult<Option<Arc<SessionRecord>>> {
        if let Some(Some(fresh)) = self.get_ready(key) {
            return Ok(Some(fresh));
        }
        let got = self.inner.get(key).await?;
        match &got {
            Some(rec) => {
                self.sessions.insert(*key, (rec.clone(), Instant::now()));
            }
            None => {
                self.sessions.remove(key);
            }
        }
        Ok(got)
    }

    async fn touch(&self, key: &SessionKey, last_seen: i64, ttl: Duration) -> SResult<()> {
        if let Some(mut e) = self.sessions.get_mut(key) {
            Arc::make_mut(&mut e.0).last_seen = last_seen;
        }
        self.inner.touch(key, last_seen, ttl).await
    }

    async fn remove(&self, key: &SessionKey) -> SResult<()> {
        self.forget(key);
        self.inner.remove(key).await
    }

    async fn remove_user(&self, user_id: i64) -> SResult<usize> {
        self.forget_user(user_id);
        self.inner.remove_user(user_id).await
    }

    fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn fresh_until(&self, session: &SessionKey, link: Option<&SessionKey>) -> Option<Instant> {
        let now = Instant::now();
        let Some(session_at) = self.sessions.get(session).map(|e| e.1) else {
            return Some(now);
        };
        let link_at = match link {
            Some(l) => match self.links.get(l) {
                Some(e) => e.1,
                None => return Some(now),
            },
            None => session_at,
        };
        Some(session_at.min(link_at) + self.ttl)
    }

    /// Straight from the shared store: the list must show what every instance sees.
    async fn list_user(&self, user_id: i64) -> SResult<Vec<(SessionKey, SessionRecord)>> {
        self.inner.list_user(user_id).await
    }

    async fn put_code(&self, code: SessionKey, value: HandshakeCode, ttl: Duration) -> SResult<()> {
        self.inner.put_code(code, value, ttl).await
    }

    async fn take_code(&self, code: &SessionKey) -> SResult<Option<HandshakeCode>> {
        self.inner.take_code(code).await
    }

    async fn put_link(&self, link: SessionKey, session: SessionKey, ttl: Duration) -> SResult<()> {
        self.inner.put_link(link, session, ttl).await
    }

    /// A fresh entry only: an absent or stale one is for [`get`](SessionStore::get) to fetch.
    fn get_ready(&self, key: &SessionKey) -> Option<Option<Arc<SessionRecord>>> {
        let e = self.sessions.get(key)?;
        (e.1.elapsed() < self.ttl).then(|| Some(e.0.clone()))
    }

    async fn get_link(&self, link: &SessionKey) -> SResult<Option<SessionKey>> {
        if let Some(Some(fresh)) = self.get_link_ready(link) {
            return Ok(Some(fresh));
        }
        let got = self.inner.get_link(link).await?;
        if let Some(s) = got {
            self.links.insert(*link, (s, Instant::now()));
        }
        Ok(got)
    }

    fn get_link_ready(&self, link: &SessionKey) -> Option<Option<SessionKey>> {
        let e = self.links.get(link)?;
        (e.1.elapsed() < self.ttl).then_some(Some(e.0))
    }

    async fn replace(&self, key: &SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        self.forget(key);
        self.inner.replace(key, rec, ttl).await
    }

    async fn ping(&self) -> SResult<()> {
        self.inner.ping().await
    }

    // Never cached: codes and tokens are revoked across instances.
    async fn put_value(&self, key: &str, value: &str, ttl: Duration) -> SResult<()> {
        self.inner.put_value(key, value, ttl).await
    }

    async fn get_value(&self, key: &str) -> SResult<Option<String>> {
        self.inner.get_value(key).await
    }

    async fn take_value(&self, key: &str) -> SResult<Option<String>> {
        self.inner.take_value(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::memory::MemoryStore;
    use crate::session::Assurance;

    fn record(user_id: i64) -> SessionRecord {
        SessionRecord {
            user_id,
            created_at: 0,
            last_seen: 0,
            client_ip: String::new(),
            user_agent: String::new(),
            assurance: Assurance::password(0),
            enrol_by: None,
            provider: None,
        }
    }

    #[test]
    fn what_it_holds_is_fresh_for_its_ttl_and_every_forget_is_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ttl = Duration::from_secs(1);
        let cache = CachedStore::new(MemoryStore::new(), ttl);
        let (key, link) = ([1u8; 32], [2u8; 32]);
        let before = Instant::now();
        assert!(
            cache.fresh_until(&key, None).unwrap() <= Instant::now(),
            "nothing held"
        );
        rt.block_on(async {
            cache
                .insert(key, record(7), Duration::from_secs(60))
                .await
                .unwrap();
            cache
                .put_link(link, key, Duration::from_secs(60))
                .await
                .unwrap();
            assert!(cache.get(&key).await.unwrap().is_some());
            assert_eq!(cache.get_link(&link).await.unwrap(), Some(key));
        });
        let until = cache.fresh_until(&key, Some(&link)).unwrap();
        assert!(
            until >= before + ttl && until <= Instant::now() + ttl,
            "held now, for the ttl"
        );
        assert!(
            cache.fresh_until(&key, Some(&[3u8; 32])).unwrap() <= Instant::now(),
            "a link it does not hold"
        );
        let seen = cache.changes();
        cache.forget(&key);
        let after_key = cache.changes();
        assert!(after_key > seen, "one session");
        cache.forget_user(7);
        let after_user = cache.changes();
        assert!(after_user > after_key, "a user's sessions");
        cache.forget_all();
        assert!(cache.changes() > after_user, "everything");
        assert!(cache.get_ready(&key).is_none(), "forgotten: ask the store");
    }
}
