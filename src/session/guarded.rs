//! The session store behind a circuit breaker (`crate::resilience::Breaker`): every command is
//! bounded in time and in the number of requests waiting on it, and once the store is known to
//! be unreachable requests are refused at once while one probe watches for its return
//! (docs/operations.md#session-store-down). Sits between the sub-second cache and Redis, so a
//! cache hit never touches the breaker.

use super::{HandshakeCode, SResult, SessionError, SessionKey, SessionRecord, SessionStore};
use crate::resilience::{Breaker, Refused};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

pub struct GuardedStore {
    inner: Arc<dyn SessionStore>,
    breaker: Arc<Breaker>,
}

fn refused(r: Refused) -> SessionError {
    SessionError::Unavailable(format!("session store: {r}"))
}

impl GuardedStore {
    /// Must be called on the runtime that owns the store's connections (the probe runs there).
    pub fn new(inner: Arc<dyn SessionStore>, breaker: Arc<Breaker>) -> Arc<GuardedStore> {
        let probed = inner.clone();
        breaker.set_probe(Arc::new(move || {
            let s = probed.clone();
            Box::pin(async move { s.ping().await.is_ok() })
        }));
        Arc::new(GuardedStore { inner, breaker })
    }

    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// Every error of the store says it could not be reached (a missing key is `None`).
    async fn guard<T>(&self, call: impl std::future::Future<Output = SResult<T>>) -> SResult<T> {
        self.breaker.call(call, |_| true).await.map_err(refused)?
    }
}

#[async_trait]
impl SessionStore for GuardedStore {
    async fn insert(&self, key: SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        self.guard(self.inner.insert(key, rec, ttl)).await
    }

    async fn get(&self, key: &SessionKey) -> SResult<Option<Arc<SessionRecord>>> {
        self.guard(self.inner.get(key)).await
    }

    async fn touch(&self, key: &SessionKey, last_seen: i64, ttl: Duration) -> SResult<()> {
        self.guard(self.inner.touch(key, last_seen, ttl)).await
    }

    async fn remove(&self, key: &SessionKey) -> SResult<()> {
        self.guard(self.inner.remove(key)).await
    }

    async fn remove_user(&self, user_id: i64) -> SResult<usize> {
        self.guard(self.inner.remove_user(user_id)).await
    }

    async fn put_code(&self, code: SessionKey, value: HandshakeCode, ttl: Duration) -> SResult<()> {
        self.guard(self.inner.put_code(code, value, ttl)).await
    }

    async fn take_code(&self, code: &SessionKey) -> SResult<Option<HandshakeCode>> {
        self.guard(self.inner.take_code(code)).await
    }

    async fn put_link(&self, link: SessionKey, session: SessionKey, ttl: Duration) -> SResult<()> {
        self.guard(self.inner.put_link(link, session, ttl)).await
    }

    async fn get_link(&self, link: &SessionKey) -> SResult<Option<SessionKey>> {
        self.guard(self.inner.get_link(link)).await
    }

    async fn list_user(&self, user_id: i64) -> SResult<Vec<(SessionKey, SessionRecord)>> {
        self.guard(self.inner.list_user(user_id)).await
    }

    async fn replace(&self, key: &SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        self.guard(self.inner.replace(key, rec, ttl)).await
    }

    async fn put_value(&self, key: &str, value: &str, ttl: Duration) -> SResult<()> {
        self.guard(self.inner.put_value(key, value, ttl)).await
    }

    async fn get_value(&self, key: &str) -> SResult<Option<String>> {
        self.guard(self.inner.get_value(key)).await
    }

    async fn take_value(&self, key: &str) -> SResult<Option<String>> {
        self.guard(self.inner.take_value(key)).await
    }

    async fn ping(&self) -> SResult<()> {
        self.guard(self.inner.ping()).await
    }

    fn count(&self) -> Option<usize> {
        self.inner.count()
    }
}
