// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! Patched (Convergences): the keep-alive pool of idle upstream connections, without a task
//! per idle connection.
//!
//! `pingora_pool::ConnectionPool` spawned one task for every connection put back, to watch it
//! while idle (closed by the server, idle timeout, evicted) until a request took it again. On a
//! keep-alive proxy that is, for every request, a spawned task, a oneshot channel, a `Notify`,
//! an `Arc<Mutex<Stream>>` and an LRU update, then a hand-over between the request and the
//! watching task when the connection is taken back (the source of the race in
//! cloudflare/pingora#998, where a taken connection is dropped and a new one opened).
//!
//! Here idle connections sit in per-thread shards (a deque behind a mutex that, on the request
//! path, only its own thread takes) and are checked when taken: a connection past its idle
//! deadline, or readable (closed by the server, or data the server should not have sent), is
//! dropped and the next one is tried. The check the old pool made when a connection was taken
//! (`test_reusable_stream`) is the same, so a request never gets a connection the old pool would
//! have refused. What the watching tasks also did, closing a connection soon after the server
//! closed it or its idle timeout passed, is done by one sweeper task per shard: it runs while
//! the shard holds connections, once every [`SWEEP_INTERVAL`], and ends when the shard is empty
//! or the pool is dropped. A closed connection therefore stays half-open on this side for at
//! most about that interval, instead of until the next event.
//!
//! A shard takes connections from its thread first and newest first (the warm ones get reused,
//! the others reach their idle deadline). A thread that finds none of its own takes one from
//! another shard if that shard's lock is free, so that in a work-stealing runtime connections
//! released on one thread still serve the others.

use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::protocols::Stream;

/// How many shards a pool has; threads beyond this many share them.
const SHARDS: usize = 16;

/// How often a shard holding idle connections drops those that were closed or timed out.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

struct Idle {
    key: u64,
    stream: Stream,
    since: Instant,
    deadline: Option<Instant>,
}

impl Idle {
    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

#[derive(Default)]
struct ShardState {
    /// Oldest first.
    idle: VecDeque<Idle>,
    /// Whether a sweeper task is running for this shard.
    sweeping: bool,
}

/// Aligned so that two threads' shards never share a cache line.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<ShardState>);

/// A connection dropped from the pool without being reused, and how long it was idle.
pub(crate) struct Dropped {
    pub(crate) idle_for: Duration,
    pub(crate) evicted: bool,
    _stream: Stream,
}

pub(crate) struct IdlePool {
    shards: Box<[Shard]>,
    /// The most idle connections one shard keeps; the oldest is evicted beyond it.
    capacity: usize,
}

/// The shard of the calling thread, fixed at its first use of any pool.
fn home_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    HOME.with(|home| {
        let h = home.get();
        if h != usize::MAX {
            return h;
        }
        let h = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        home.set(h);
        h
    })
}

impl IdlePool {
    pub(crate) fn new(capacity: usize) -> Self {
        IdlePool {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            capacity,
        }
    }

    /// Puts an idle connection in the calling thread's shard. Returns the connection evicted to
    /// make room, if the shard was full (or this one, if the capacity is zero), and whether a
    /// sweeper must be started for the shard (see [`IdlePool::sweep`]).
    pub(crate) fn put(
        &self,
        key: u64,
        stream: Stream,
        idle_timeout: Option<Duration>,
    ) -> (Option<Dropped>, Option<usize>) {
        let now = Instant::now();
        let idle = Idle {
            key,
            stream,
            since: now,
            deadline: idle_timeout.and_then(|t| now.checked_add(t)),
        };
        if self.capacity == 0 {
            return (Some(dropped(idle, now, true)), None);
        }
        let home = home_shard();
        let mut state = self.shards[home].0.lock();
        let evicted = if state.idle.len() >= self.capacity {
            state.idle.pop_front()
        } else {
            None
        };
        state.idle.push_back(idle);
        let start_sweeper = !state.sweeping;
        state.sweeping = true;
        drop(state);
        (
            evicted.map(|e| dropped(e, now, true)),
            start_sweeper.then_some(home),
        )
    }

    /// Takes the newest idle connection for `key` that `usable` accepts, from the calling
    /// thread's shard first, then from any other shard whose lock is free. Connections found
    /// past their deadline or refused by `usable` are dropped (closed) on the way.
    pub(crate) fn take(
        &self,
        key: u64,
        mut usable: impl FnMut(&mut Stream) -> bool,
    ) -> Option<Stream> {
        let home = home_shard();
        for i in 0..SHARDS {
            let shard = &self.shards[(home + i) % SHARDS].0;
            loop {
                let candidate = {
                    let mut state = if i == 0 {
                        shard.lock()
                    } else {
                        match shard.try_lock() {
                            Some(s) => s,
                            None => break,
                        }
                    };
                    let Some(pos) = state.idle.iter().rposition(|c| c.key == key) else {
                        break;
                    };
                    state.idle.remove(pos)
                };
                // The lock is released: the checks below may read from the socket, and a
                // refused connection is closed, without holding up the shard.
                let Some(mut c) = candidate else { break };
                if !c.expired(Instant::now()) && usable(&mut c.stream) {
                    return Some(c.stream);
                }
            }
        }
        None
    }

    /// Drops, from one shard, the connections past their idle deadline and those `usable`
    /// refuses. Returns them, and whether the shard is now empty (its sweeper then stops; the
    /// next `put` starts another).
    fn sweep_shard(
        &self,
        shard: usize,
        usable: &mut impl FnMut(&mut Stream) -> bool,
    ) -> (Vec<Dropped>, bool) {
        let now = Instant::now();
        let mut gone = Vec::new();
        let mut state = self.shards[shard].0.lock();
        let mut kept = VecDeque::with_capacity(state.idle.len());
        for mut c in state.idle.drain(..) {
            if c.expired(now) || !usable(&mut c.stream) {
                gone.push(dropped(c, now, false));
            } else {
                kept.push_back(c);
            }
        }
        state.idle = kept;
        let empty = state.idle.is_empty();
        if empty {
            state.sweeping = false;
        }
        (gone, empty)
    }

    /// The sweeper of one shard: every [`SWEEP_INTERVAL`], drops the shard's connections that
    /// were closed or timed out, handing each to `on_drop`; ends when the shard is empty or the
    /// pool is gone. It holds the pool weakly, so that it never keeps a dropped connector's
    /// connections open.
    pub(crate) async fn sweep(
        pool: Weak<IdlePool>,
        shard: usize,
        mut usable: impl FnMut(&mut Stream) -> bool,
        on_drop: impl Fn(Dropped),
    ) {
        loop {
            pingora_timeout::sleep(SWEEP_INTERVAL).await;
            let Some(pool) = pool.upgrade() else {
                return;
            };
            let (gone, empty) = pool.sweep_shard(shard, &mut usable);
            drop(pool);
            for d in gone {
                on_drop(d);
            }
            if empty {
                return;
            }
        }
    }

    /// How many idle connections the pool holds (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().idle.len()).sum()
    }
}

fn dropped(c: Idle, now: Instant, evicted: bool) -> Dropped {
    Dropped {
        idle_for: now.saturating_duration_since(c.since),
        evicted,
        _stream: c.stream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

    /// A connected pair of loopback sockets: the pooled end (its id is its descriptor) and
    /// the server's end.
    async fn pair() -> (Stream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let client = crate::protocols::l4::stream::Stream::from(client.unwrap());
        (Box::new(client), accepted.unwrap().0)
    }

    /// Lets the runtime poll its reactor, so that it sees what the server ends did (on
    /// loopback the peer's close or write has already reached this side's socket).
    async fn settle() {
        tokio::task::yield_now().await;
    }

    fn open(s: &mut Stream) -> bool {
        crate::connectors::test_reusable_stream(s, &std::sync::atomic::AtomicU64::new(0))
    }

    #[tokio::test]
    async fn a_released_connection_is_taken_back_newest_first_and_only_for_its_key() {
        let pool = IdlePool::new(8);
        let (a, _sa) = pair().await;
        let (b, _sb) = pair().await;
        let (c, _sc) = pair().await;
        let (a_id, b_id) = (a.id(), b.id());
        assert!(pool.put(1, a, None).0.is_none());
        pool.put(1, b, None);
        pool.put(2, c, None);
        assert_eq!(pool.take(1, open).map(|s| s.id()), Some(b_id));
        assert_eq!(pool.take(1, open).map(|s| s.id()), Some(a_id));
        assert!(pool.take(1, open).is_none());
        assert_eq!(pool.len(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_or_wrote_on_is_not_reused() {
        let pool = IdlePool::new(8);
        let (a, sa) = pair().await;
        let (b, mut sb) = pair().await;
        let (c, _sc) = pair().await;
        let c_id = c.id();
        pool.put(1, c, None);
        pool.put(1, a, None);
        pool.put(1, b, None);
        drop(sa);
        sb.write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .await
            .unwrap();
        settle().await;
        assert_eq!(pool.take(1, open).map(|s| s.id()), Some(c_id));
        assert_eq!(pool.len(), 0);
    }

    #[tokio::test]
    async fn a_connection_past_its_idle_deadline_is_not_reused() {
        let pool = IdlePool::new(8);
        let (a, _sa) = pair().await;
        pool.put(1, a, Some(Duration::ZERO));
        assert!(pool.take(1, open).is_none());
        assert_eq!(pool.len(), 0);
    }

    #[tokio::test]
    async fn beyond_its_capacity_a_shard_evicts_its_oldest_connection() {
        let pool = IdlePool::new(2);
        let (a, _sa) = pair().await;
        let (b, _sb) = pair().await;
        let (c, _sc) = pair().await;
        let (b_id, c_id) = (b.id(), c.id());
        assert!(pool.put(1, a, None).0.is_none());
        assert!(pool.put(1, b, None).0.is_none());
        let evicted = pool.put(1, c, None).0.expect("the oldest is evicted");
        assert!(evicted.evicted);
        assert_eq!(pool.take(1, open).map(|s| s.id()), Some(c_id));
        assert_eq!(pool.take(1, open).map(|s| s.id()), Some(b_id));
        let (d, _sd) = pair().await;
        assert!(
            IdlePool::new(0).put(1, d, None).0.is_some(),
            "capacity 0 keeps nothing"
        );
    }

    #[tokio::test]
    async fn a_connection_released_on_another_thread_is_taken_back() {
        let pool = Arc::new(IdlePool::new(8));
        let (a, _sa) = pair().await;
        let a_id = a.id();
        let p = pool.clone();
        std::thread::spawn(move || {
            p.put(1, a, None);
        })
        .join()
        .unwrap();
        assert_eq!(pool.take(1, open).map(|s| s.id()), Some(a_id));
    }

    #[tokio::test]
    async fn the_sweeper_drops_closed_connections_and_ends_with_an_empty_shard() {
        let pool = Arc::new(IdlePool::new(8));
        let (a, sa) = pair().await;
        let (b, _sb) = pair().await;
        let (_, sweeper) = pool.put(1, a, None);
        let shard = sweeper.expect("the first put starts a sweeper");
        assert!(pool.put(1, b, None).1.is_none(), "one sweeper per shard");
        drop(sa);
        settle().await;
        let (gone, empty) = pool.sweep_shard(shard, &mut open);
        assert_eq!((gone.len(), empty), (1, false));
        assert!(!gone[0].evicted);
        let b = pool.take(1, open).expect("the open one stays");
        drop(b);
        let (gone, empty) = pool.sweep_shard(shard, &mut open);
        assert_eq!((gone.len(), empty), (0, true));
        let (c, _sc) = pair().await;
        assert!(
            pool.put(1, c, None).1.is_some(),
            "an emptied shard gets a new sweeper"
        );
    }

    #[tokio::test]
    async fn the_sweeper_ends_when_the_pool_is_dropped() {
        let pool = Arc::new(IdlePool::new(8));
        let (a, _sa) = pair().await;
        let (_, shard) = pool.put(1, a, None);
        let weak = Arc::downgrade(&pool);
        drop(pool);
        // Returns after one interval instead of running forever.
        IdlePool::sweep(weak, shard.unwrap(), open, drop).await;
    }
}
