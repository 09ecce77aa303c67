//! Fan-out of directory and session changes to every instance over Redis pub/sub (revocation
//! takes effect on every instance, target under 1 s: docs/gateway.md#revocation). Publishing
//! never blocks the caller: events go through a channel to a publisher task. The subscriber
//! clears what each event names, and clears everything whenever it (re)connects, since events
//! may have been missed.

use super::cached::CachedStore;
use super::redis::RedisStore;
use super::SessionKey;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A user's identity or rights changed.
    User(i64),
    /// Many identities may have changed (structure renamed, moved...).
    All,
    /// One session ended (logout).
    Session(SessionKey),
    /// Every session of a user ended (lock, deletion, password change).
    UserSessions(i64),
}

impl Event {
    /// What the event is about, for logs: a session's storage key stays out of them.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::User(_) => "user",
            Event::All => "all",
            Event::Session(_) => "session",
            Event::UserSessions(_) => "user_sessions",
        }
    }

    pub fn encode(&self) -> String {
        match self {
            Event::User(id) => format!("u:{id}"),
            Event::All => "a".to_string(),
            Event::Session(k) => format!(
                "s:{}",
                k.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
            Event::UserSessions(id) => format!("r:{id}"),
        }
    }

    pub fn decode(s: &str) -> Option<Event> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "u" => rest.parse().ok().map(Event::User),
            "a" => Some(Event::All),
            "r" => rest.parse().ok().map(Event::UserSessions),
            "s" if rest.len() == 64 => {
                let mut k = [0u8; 32];
                for (i, b) in k.iter_mut().enumerate() {
                    *b = u8::from_str_radix(rest.get(i * 2..i * 2 + 2)?, 16).ok()?;
                }
                Some(Event::Session(k))
            }
            _ => None,
        }
    }
}

/// Sends events to the other instances; a no-op with the in-process store.
#[derive(Clone, Default)]
pub struct Fanout {
    tx: Option<UnboundedSender<Event>>,
    store: Option<Arc<RedisStore>>,
}

impl Fanout {
    pub fn publish(&self, e: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(e);
        }
    }

    /// Publishes before returning, for revocations: they must be in force on every instance
    /// when the revoking request is answered, not whenever the publisher task next runs (a
    /// busy machine delayed it by up to 60 ms). The sessions are already gone from Redis; the
    /// event only clears the other instances' sub-second caches, so a failure is logged and
    /// the request still succeeds.
    pub async fn publish_now(&self, e: Event) {
        if let Some(store) = &self.store {
            if let Err(err) = store.publish(&e.encode()).await {
                tracing::warn!(error = %err, event = e.kind(), "could not publish a revocation to other instances");
            }
        }
    }

    /// Starts the publisher task on the current runtime.
    pub fn start(store: Arc<RedisStore>) -> Fanout {
        let store_for_now = store.clone();
        let (tx, mut rx) = unbounded_channel::<Event>();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if let Err(err) = store.publish(&e.encode()).await {
                    tracing::warn!(error = %err, event = e.kind(), "could not publish a change to other instances");
                }
            }
        });
        Fanout {
            tx: Some(tx),
            store: Some(store_for_now),
        }
    }
}

/// The per-user caches above the session layer (the identity cache) that events invalidate.
/// A trait, so that the session layer does not depend on the layers that own those caches.
pub trait Invalidate: Send + Sync {
    fn user(&self, user_id: i64);
    fn all_users(&self);
}

/// Applies events from other instances (and our own, harmlessly) to the local caches.
pub fn apply(e: &Event, identities: &dyn Invalidate, sessions: &CachedStore) {
    match e {
        Event::User(id) => identities.user(*id),
        Event::All => identities.all_users(),
        Event::Session(k) => sessions.forget(k),
        Event::UserSessions(id) => {
            identities.user(*id);
            sessions.forget_user(*id);
        }
    }
}

/// The subscriber loop: runs until the process ends (until `gw` is dropped), reconnecting
/// after failures.
pub async fn subscribe<G: Invalidate + 'static>(
    store: Arc<RedisStore>,
    gw: std::sync::Weak<G>,
    sessions: Arc<CachedStore>,
) {
    loop {
        match store.client().get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(store.channel()).await.is_ok() {
                    // Anything may have changed while we were not listening.
                    let Some(g) = gw.upgrade() else { return };
                    g.all_users();
                    sessions.forget_all();
                    drop(g);
                    let mut stream = pubsub.on_message();
                    while let Some(msg) = stream.next().await {
                        let Some(g) = gw.upgrade() else { return };
                        if let Some(e) = msg
                            .get_payload::<String>()
                            .ok()
                            .as_deref()
                            .and_then(Event::decode)
                        {
                            apply(&e, g.as_ref(), &sessions);
                        }
                    }
                    tracing::warn!("lost the Redis event subscription; reconnecting");
                }
            }
            Err(e) => tracing::debug!(error = %e, "Redis event subscription unavailable"),
        }
        if gw.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn events_round_trip() {
        for e in [
            Event::User(42),
            Event::All,
            Event::Session([0xab; 32]),
            Event::UserSessions(7),
        ] {
            assert_eq!(Event::decode(&e.encode()), Some(e));
        }
        assert_eq!(Event::decode("u:x"), None);
        assert_eq!(Event::decode("s:12"), None);
        assert_eq!(Event::decode("zzz"), None);
    }
}
