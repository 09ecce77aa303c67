//! The in-process session store: sharded concurrent maps (no global lock on the proxy's path)
//! and a sweeper that drops expired entries.

use super::{HandshakeCode, SResult, SessionKey, SessionRecord, SessionStore};
use async_trait::async_trait;
use dashmap::DashMap;
use foldhash::fast::RandomState as Fast;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct MemoryStore {
    // The two read on every proxied request: a fast hasher (their keys are digests).
    sessions: DashMap<SessionKey, (Arc<SessionRecord>, Instant), Fast>,
    by_user: DashMap<i64, Vec<SessionKey>>,
    codes: DashMap<SessionKey, (HandshakeCode, Instant)>,
    links: DashMap<SessionKey, (SessionKey, Instant), Fast>,
    values: DashMap<String, (String, Instant)>,
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Drops expired entries; links whose session is gone go too.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.sessions.retain(|_, (_, exp)| *exp > now);
        self.codes.retain(|_, (_, exp)| *exp > now);
        self.values.retain(|_, (_, exp)| *exp > now);
        self.links
            .retain(|_, (s, exp)| *exp > now && self.sessions.contains_key(s));
        self.by_user.retain(|_, keys| {
            keys.retain(|k| self.sessions.contains_key(k));
            !keys.is_empty()
        });
    }

    fn session_now(&self, key: &SessionKey) -> Option<Arc<SessionRecord>> {
        self.sessions.get(key).and_then(|e| {
            let (rec, exp) = e.value();
            (*exp > Instant::now()).then(|| rec.clone())
        })
    }

    fn link_now(&self, link: &SessionKey) -> Option<SessionKey> {
        self.links.get(link).and_then(|e| {
            let (s, exp) = *e.value();
            (exp > Instant::now()).then_some(s)
        })
    }

    /// Runs [`sweep`](Self::sweep) every `every` on the current runtime until the store is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(s) => s.sweep(),
                    None => break,
                }
            }
        });
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert(&self, key: SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        let user = rec.user_id;
        self.sessions
            .insert(key, (Arc::new(rec), Instant::now() + ttl));
        self.by_user.entry(user).or_default().push(key);
        Ok(())
    }

    async fn get(&self, key: &SessionKey) -> SResult<Option<Arc<SessionRecord>>> {
        Ok(self.session_now(key))
    }

    fn get_ready(&self, key: &SessionKey) -> Option<Option<Arc<SessionRecord>>> {
        Some(self.session_now(key))
    }

    async fn touch(&self, key: &SessionKey, last_seen: i64, ttl: Duration) -> SResult<()> {
        if let Some(mut e) = self.sessions.get_mut(key) {
            Arc::make_mut(&mut e.0).last_seen = last_seen;
            e.1 = Instant::now() + ttl;
        }
        Ok(())
    }

    async fn remove(&self, key: &SessionKey) -> SResult<()> {
        if let Some((_, (rec, _))) = self.sessions.remove(key) {
            if let Some(mut keys) = self.by_user.get_mut(&rec.user_id) {
                keys.retain(|k| k != key);
            }
        }
        Ok(())
    }

    async fn remove_user(&self, user_id: i64) -> SResult<usize> {
        let keys = self
            .by_user
            .remove(&user_id)
            .map(|(_, k)| k)
            .unwrap_or_default();
        let mut n = 0;
        for k in keys {
            if self.sessions.remove(&k).is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn list_user(&self, user_id: i64) -> SResult<Vec<(SessionKey, SessionRecord)>> {
        let keys = self
            .by_user
            .get(&user_id)
            .map(|k| k.value().clone())
            .unwrap_or_default();
        let now = Instant::now();
        Ok(keys
            .iter()
            .filter_map(|k| {
                let e = self.sessions.get(k)?;
                let (rec, exp) = e.value();
                (*exp > now).then(|| (*k, SessionRecord::clone(rec)))
            })
            .collect())
    }

    async fn put_code(&self, code: SessionKey, value: HandshakeCode, ttl: Duration) -> SResult<()> {
        self.codes.insert(code, (value, Instant::now() + ttl));
        Ok(())
    }

    async fn take_code(&self, code: &SessionKey) -> SResult<Option<HandshakeCode>> {
        Ok(self
            .codes
            .remove(code)
            .and_then(|(_, (v, exp))| (exp > Instant::now()).then_some(v)))
    }

    async fn put_link(&self, link: SessionKey, session: SessionKey, ttl: Duration) -> SResult<()> {
        self.links.insert(link, (session, Instant::now() + ttl));
        Ok(())
    }

    async fn get_link(&self, link: &SessionKey) -> SResult<Option<SessionKey>> {
        Ok(self.link_now(link))
    }

    fn get_link_ready(&self, link: &SessionKey) -> Option<Option<SessionKey>> {
        Some(self.link_now(link))
    }

    async fn replace(&self, key: &SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        if let Some(mut e) = self.sessions.get_mut(key) {
            *e = (Arc::new(rec), Instant::now() + ttl);
        }
        Ok(())
    }

    async fn ping(&self) -> SResult<()> {
        Ok(())
    }

    async fn put_value(&self, key: &str, value: &str, ttl: Duration) -> SResult<()> {
        self.values
            .insert(key.to_string(), (value.to_string(), Instant::now() + ttl));
        Ok(())
    }

    async fn get_value(&self, key: &str) -> SResult<Option<String>> {
        Ok(self.values.get(key).and_then(|e| {
            let (v, exp) = e.value();
            (*exp > Instant::now()).then(|| v.clone())
        }))
    }

    async fn take_value(&self, key: &str) -> SResult<Option<String>> {
        Ok(self
            .values
            .remove(key)
            .and_then(|(_, (v, exp))| (exp > Instant::now()).then_some(v)))
    }

    fn count(&self) -> Option<usize> {
        let now = Instant::now();
        Some(self.sessions.iter().filter(|e| e.value().1 > now).count())
    }
}
