//! Sessions in Redis, shared by every gateway instance (docs/product.md#storage-and-scale,
//! docs/decisions/0003-session-model.md). Keys carry a configurable prefix; every entry has a
//! TTL so Redis forgets by itself. Commands time out quickly: when
//! Redis is unreachable the caller gets `SessionError::Unavailable` and refuses the request
//! (fail closed) instead of hanging; the connection manager reconnects in the background, and
//! a connection that could not be made at start is retried on use.

use super::{hex, HandshakeCode, SResult, SessionError, SessionKey, SessionRecord, SessionStore};
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After a failed connection attempt, requests fail at once for this long.
const RETRY_AFTER: Duration = Duration::from_millis(500);

pub struct RedisStore {
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    connecting: tokio::sync::Mutex<Option<Instant>>,
    pub prefix: String,
    /// Bound on each command and on connecting (`resilience.session_store_timeout_ms`).
    timeout: Duration,
}

fn unhex(s: &str) -> Option<SessionKey> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn unavailable(e: impl std::fmt::Display) -> SessionError {
    SessionError::Unavailable(format!("redis: {e}"))
}

fn millis(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl RedisStore {
    /// Never fails on an unreachable server: the first use retries.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Arc<RedisStore>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("sessions.redis_url: {e}"))?;
        let store = Arc::new(RedisStore {
            client,
            conn: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(None),
            prefix: prefix.to_string(),
            timeout,
        });
        if let Err(e) = store.conn().await {
            tracing::warn!(error = %e, "Redis unreachable at start; will retry on use");
        }
        Ok(store)
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    async fn conn(&self) -> SResult<ConnectionManager> {
        if let Some(c) = self.conn.load_full() {
            return Ok((*c).clone());
        }
        let mut last = self.connecting.lock().await;
        if let Some(c) = self.conn.load_full() {
            return Ok((*c).clone());
        }
        if last.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return Err(unavailable("not connected"));
        }
        *last = Some(Instant::now());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let cm = tokio::time::timeout(
            self.timeout * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unavailable("connection timed out"))?
        .map_err(unavailable)?;
        self.conn.store(Some(Arc::new(cm.clone())));
        Ok(cm)
    }

    /// Runs an idempotent command, and once more if the connection turned out dropped. After
    /// Redis restarts, the first command on the old connection fails and the manager
    /// reconnects: without the retry, that request (a login, a proxied page) would get a 503
    /// although Redis is back. Timeouts are not retried (the caller has waited enough), and
    /// neither is GETDEL (`take_code`), which must not run twice.
    async fn idempotent<T, F, Fut>(&self, op: F) -> SResult<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let c = self.conn().await?;
        match op(c.clone()).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_connection_dropped() || e.is_connection_refusal() => {
                tracing::debug!(error = %e, "redis connection dropped; retrying once");
                op(c).await.map_err(unavailable)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn key(&self, kind: &str, k: &SessionKey) -> String {
        format!("{}{kind}:{}", self.prefix, hex(k))
    }

    fn user_key(&self, user_id: i64) -> String {
        format!("{}u:{user_id}", self.prefix)
    }

    pub fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    pub async fn publish(&self, message: &str) -> SResult<()> {
        let mut c = self.conn().await?;
        let _: i64 = c
            .publish(self.channel(), message)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert(&self, key: SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        let json = serde_json::to_string(&rec).map_err(unavailable)?;
        let user_key = self.user_key(rec.user_id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.key("s", &key))
            .arg(json)
            .arg("PX")
            .arg(millis(ttl))
            .ignore()
            .sadd(&user_key, hex(&key))
            .ignore()
            // The index lives as long as the longest session could.
            .expire(&user_key, 7 * 24 * 3600)
            .ignore();
        self.idempotent(|mut c| {
            let pipe = pipe.clone();
            async move { pipe.query_async::<()>(&mut c).await }
        })
        .await
    }

    async fn get(&self, key: &SessionKey) -> SResult<Option<Arc<SessionRecord>>> {
        let k = self.key("s", key);
        let v: Option<String> = self
            .idempotent(|mut c| {
                let k = k.clone();
                async move { c.get(k).await }
            })
            .await?;
        Ok(v.and_then(|s| serde_json::from_str(&s).ok()).map(Arc::new))
    }

    async fn touch(&self, key: &SessionKey, last_seen: i64, ttl: Duration) -> SResult<()> {
        let Some(rec) = self.get(key).await? else {
            return Ok(());
        };
        let mut rec = SessionRecord::clone(&rec);
        rec.last_seen = last_seen;
        self.replace(key, rec, ttl).await
    }

    async fn remove(&self, key: &SessionKey) -> SResult<()> {
        let k = self.key("s", key);
        let _: i64 = self
            .idempotent(|mut c| {
                let k = k.clone();
                async move { c.del(k).await }
            })
            .await?;
        Ok(())
    }

    async fn remove_user(&self, user_id: i64) -> SResult<usize> {
        let user_key = self.user_key(user_id);
        let members: Vec<String> = self
            .idempotent(|mut c| {
                let k = user_key.clone();
                async move { c.smembers(k).await }
            })
            .await?;
        let mut c = self.conn().await?;
        let keys: Vec<String> = members
            .iter()
            .filter_map(|m| unhex(m))
            .map(|k| self.key("s", &k))
            .collect();
        let mut n = 0;
        if !keys.is_empty() {
            n = c.del::<_, i64>(&keys).await.map_err(unavailable)? as usize;
        }
        let _: i64 = c.del(&user_key).await.map_err(unavailable)?;
        Ok(n)
    }

    /// The user's index, then the sessions it names in one MGET; members whose session has
    /// expired are dropped from the index on the way.
    async fn list_user(&self, user_id: i64) -> SResult<Vec<(SessionKey, SessionRecord)>> {
        let user_key = self.user_key(user_id);
        let members: Vec<String> = self
            .idempotent(|mut c| {
                let k = user_key.clone();
                async move { c.smembers(k).await }
            })
            .await?;
        let keys: Vec<SessionKey> = members.iter().filter_map(|m| unhex(m)).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = keys.iter().map(|k| self.key("s", k)).collect();
        let values: Vec<Option<String>> = self
            .idempotent(|mut c| {
                let names = names.clone();
                async move { redis::cmd("MGET").arg(names).query_async(&mut c).await }
            })
            .await?;
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (k, v) in keys.iter().zip(values) {
            match v.and_then(|s| serde_json::from_str::<SessionRecord>(&s).ok()) {
                Some(rec) => out.push((*k, rec)),
                None => gone.push(hex(k)),
            }
        }
        if !gone.is_empty() {
            let _: i64 = self
                .idempotent(|mut c| {
                    let (k, gone) = (user_key.clone(), gone.clone());
                    async move { c.srem(k, gone).await }
                })
                .await?;
        }
        Ok(out)
    }

    async fn put_code(&self, code: SessionKey, value: HandshakeCode, ttl: Duration) -> SResult<()> {
        let json = serde_json::to_string(&value).map_err(unavailable)?;
        let k = self.key("c", &code);
        self.idempotent(|mut c| {
            let (k, json) = (k.clone(), json.clone());
            async move { c.pset_ex(k, json, millis(ttl)).await }
        })
        .await
    }

    async fn take_code(&self, code: &SessionKey) -> SResult<Option<HandshakeCode>> {
        let mut c = self.conn().await?;
        let v: Option<String> = c.get_del(self.key("c", code)).await.map_err(unavailable)?;
        Ok(v.and_then(|s| serde_json::from_str(&s).ok()))
    }

    async fn put_link(&self, link: SessionKey, session: SessionKey, ttl: Duration) -> SResult<()> {
        let (k, v) = (self.key("l", &link), hex(&session));
        self.idempotent(|mut c| {
            let (k, v) = (k.clone(), v.clone());
            async move { c.pset_ex(k, v, millis(ttl)).await }
        })
        .await
    }

    async fn get_link(&self, link: &SessionKey) -> SResult<Option<SessionKey>> {
        let k = self.key("l", link);
        let v: Option<String> = self
            .idempotent(|mut c| {
                let k = k.clone();
                async move { c.get(k).await }
            })
            .await?;
        Ok(v.as_deref().and_then(unhex))
    }

    async fn replace(&self, key: &SessionKey, rec: SessionRecord, ttl: Duration) -> SResult<()> {
        let json = serde_json::to_string(&rec).map_err(unavailable)?;
        // XX: never resurrect a session revoked in between.
        let mut set = redis::cmd("SET");
        set.arg(self.key("s", key))
            .arg(json)
            .arg("XX")
            .arg("PX")
            .arg(millis(ttl));
        let _: Option<String> = self
            .idempotent(|mut c| {
                let set = set.clone();
                async move { set.query_async(&mut c).await }
            })
            .await?;
        Ok(())
    }

    async fn ping(&self) -> SResult<()> {
        let _: String = self
            .idempotent(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        Ok(())
    }

    async fn put_value(&self, key: &str, value: &str, ttl: Duration) -> SResult<()> {
        let k = format!("{}o:{key}", self.prefix);
        self.idempotent(|mut c| {
            let (k, v) = (k.clone(), value.to_string());
            async move { c.pset_ex(k, v, millis(ttl)).await }
        })
        .await
    }

    async fn get_value(&self, key: &str) -> SResult<Option<String>> {
        let k = format!("{}o:{key}", self.prefix);
        self.idempotent(|mut c| {
            let k = k.clone();
            async move { c.get(k).await }
        })
        .await
    }

    async fn take_value(&self, key: &str) -> SResult<Option<String>> {
        // GETDEL is not retried: it must not run twice.
        let mut c = self.conn().await?;
        c.get_del(format!("{}o:{key}", self.prefix))
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trip() {
        let k = [7u8; 32];
        assert_eq!(super::unhex(&super::hex(&k)), Some(k));
        assert_eq!(super::unhex("zz"), None);
    }
}
