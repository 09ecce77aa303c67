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

//! Patched (Convergences): long read timeouts on a coarse per-thread clock.
//!
//! A proxied request arms the upstream read timeout once and, nearly always, disarms it a few
//! microseconds later when the answer arrives: the timeout is there for the rare upstream that
//! hangs, and a long one (Pingora's users set seconds to minutes) needs no precision. Even the
//! runtime's own timer does per request what a pending read does not need: a deadline read off
//! the clock and converted to ticks, the timer wheel's lock taken twice, its levels searched
//! and updated on insertion and removal, and the runtime's driver walking the wheel again when
//! it parks.
//!
//! Here a thread keeps its pending reads in a slab, each with the tick of its deadline, and one
//! task per thread (started by the first read armed, ended after a while without any) advances
//! the tick every [`TICK`] and wakes the reads that are due. Arming a read is a slab insertion
//! and a waker clone, disarming it a removal: no clock read, no lock. A read times out no
//! earlier than its duration and, while the thread keeps up, at most one [`TICK`] later (the
//! clock counts ticks rather than reading the time: a thread held up delays a timeout, never
//! advances it). Only for current-thread runtimes, where a task never
//! leaves the thread whose slab holds its read; and only for timeouts of at least
//! [`COARSE_FROM`], where a tick is at most a twentieth of the duration.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// The step of the per-thread clock.
pub(super) const TICK: Duration = Duration::from_millis(100);

const TICKS_PER_SECOND: u64 = 10;
const _: () = assert!(TICK.as_millis() * TICKS_PER_SECOND as u128 == 1000);

/// The shortest timeout kept on the coarse clock.
pub(super) const COARSE_FROM: Duration = Duration::from_secs(2);

/// After this many ticks without a read pending, the thread's task ends (a new read starts it
/// again), so an idle thread is not woken ten times a second.
const IDLE_TICKS: u32 = 50;

struct Pending {
    /// The tick at which the read is due.
    due: u64,
    /// Who armed this entry, so that a stale key never disarms another read.
    id: u64,
    waker: Option<Waker>,
    expired: bool,
}

#[derive(Default)]
struct Clock {
    reads: slab::Slab<Pending>,
    /// Ticks since the thread's first armed read.
    now: u64,
    /// Identifies the next entry.
    next_id: u64,
    /// Whether this thread's task is alive: set by the task's own guard, so that a task dropped
    /// anywhere (the runtime shut down) lets the next read start a new one.
    running: Option<Arc<AtomicBool>>,
}

thread_local! {
    static CLOCK: RefCell<Clock> = RefCell::new(Clock::default());
}

/// `fut`, or `Err(())` once `t` has elapsed (at most one [`TICK`] later). Must run on a
/// current-thread runtime.
pub(super) async fn timeout<T>(t: Duration, fut: impl Future<Output = T>) -> Result<T, ()> {
    let mut fut = pin!(fut);
    let ticks = ticks_for(t);
    let mut armed = Armed(None);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if armed.pending(ticks, cx.waker()) {
            Poll::Ready(Err(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Whole ticks in `t`, rounded up, plus one for the tick already under way: the read is due
/// no earlier than `t` after it was armed. In integers of the machine's width (this runs for
/// every proxied request).
fn ticks_for(t: Duration) -> u64 {
    t.as_secs()
        .saturating_mul(TICKS_PER_SECOND)
        .saturating_add(u64::from(t.subsec_nanos().div_ceil(TICK.subsec_nanos())) + 1)
}

/// A read's entry in its thread's slab (key, id), removed when the read ends either way.
struct Armed(Option<(usize, u64)>);

impl Armed {
    /// Arms the read on its first pending poll, keeps its waker current on the next ones;
    /// true once it is due.
    fn pending(&mut self, ticks: u64, waker: &Waker) -> bool {
        CLOCK.with(|clock| {
            let mut clock = clock.borrow_mut();
            if let Some((key, id)) = self.0 {
                if let Some(p) = clock.reads.get_mut(key).filter(|p| p.id == id) {
                    if p.expired {
                        return true;
                    }
                    match &p.waker {
                        Some(w) if w.will_wake(waker) => {}
                        _ => p.waker = Some(waker.clone()),
                    }
                    return false;
                }
            }
            let id = clock.next_id;
            clock.next_id += 1;
            let due = clock.now.saturating_add(ticks);
            let key = clock.reads.insert(Pending {
                due,
                id,
                waker: Some(waker.clone()),
                expired: false,
            });
            self.0 = Some((key, id));
            if !clock
                .running
                .as_ref()
                .is_some_and(|r| r.load(Ordering::Relaxed))
            {
                start(&mut clock);
            }
            false
        })
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let Some((key, id)) = self.0 else { return };
        // During the thread's own teardown the slab may be gone already, with nothing to clean.
        let _ = CLOCK.try_with(|clock| {
            let mut clock = clock.borrow_mut();
            if clock.reads.get(key).is_some_and(|p| p.id == id) {
                clock.reads.remove(key);
            }
        });
    }
}

/// Clears its flag when the task holding it is dropped, wherever that happens.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

fn start(clock: &mut Clock) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Not reachable from Pingora (its reads run in a runtime); without a task the reads
        // simply never time out, as without a timeout.
        return;
    };
    let flag = Arc::new(AtomicBool::new(true));
    clock.running = Some(flag.clone());
    let guard = Running(flag);
    runtime.spawn(async move {
        let _guard = guard;
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        let mut idle = 0;
        while idle < IDLE_TICKS {
            interval.tick().await;
            let due = CLOCK.with(|clock| {
                let mut clock = clock.borrow_mut();
                clock.now += 1;
                let now = clock.now;
                if clock.reads.is_empty() {
                    idle += 1;
                    return Vec::new();
                }
                idle = 0;
                clock
                    .reads
                    .iter_mut()
                    .filter(|(_, p)| !p.expired && p.due <= now)
                    .filter_map(|(_, p)| {
                        p.expired = true;
                        p.waker.take()
                    })
                    .collect::<Vec<_>>()
            });
            // Woken outside the borrow: a waker may run code of its own.
            due.into_iter().for_each(Waker::wake);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn armed_reads() -> usize {
        CLOCK.with(|c| c.borrow().reads.len())
    }

    #[test]
    fn a_deadline_is_never_early() {
        assert_eq!(ticks_for(Duration::from_secs(2)), 21);
        assert_eq!(ticks_for(Duration::from_millis(2_050)), 22);
        assert_eq!(ticks_for(Duration::from_millis(2_100)), 22);
        assert_eq!(ticks_for(Duration::from_nanos(2_100_000_001)), 23);
        assert_eq!(ticks_for(Duration::MAX), u64::MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_never_ends_times_out_within_a_tick_of_its_duration() {
        let started = tokio::time::Instant::now();
        let out = timeout(Duration::from_secs(3), std::future::pending::<()>()).await;
        assert_eq!(out, Err(()));
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_secs(3), "{elapsed:?}");
        assert!(elapsed <= Duration::from_secs(3) + 2 * TICK, "{elapsed:?}");
        assert_eq!(armed_reads(), 0, "the entry is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_ends_in_time_disarms_its_timeout() {
        let read = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(timeout(Duration::from_secs(3), read).await, Ok(()));
        assert_eq!(armed_reads(), 0);
        // A read ready at once arms nothing.
        assert_eq!(timeout(Duration::from_secs(3), async { 7 }).await, Ok(7));
        assert_eq!(armed_reads(), 0);
        // A read dropped before its end (the request cancelled) leaves nothing either.
        let cancelled = timeout(Duration::from_secs(3), std::future::pending::<()>());
        let _ = tokio::time::timeout(Duration::from_millis(10), cancelled).await;
        assert_eq!(armed_reads(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn many_reads_each_get_their_own_deadline() {
        let started = tokio::time::Instant::now();
        let short = timeout(Duration::from_secs(2), std::future::pending::<()>());
        let long = timeout(Duration::from_secs(5), std::future::pending::<()>());
        let ok = timeout(
            Duration::from_secs(2),
            tokio::time::sleep(Duration::from_secs(1)),
        );
        let (short, long, ok) = tokio::join!(
            async {
                let r = short.await;
                (r, started.elapsed())
            },
            async {
                let r = long.await;
                (r, started.elapsed())
            },
            ok
        );
        assert_eq!((short.0, long.0, ok), (Err(()), Err(()), Ok(())));
        assert!(short.1 >= Duration::from_secs(2) && short.1 < Duration::from_secs(3));
        assert!(long.1 >= Duration::from_secs(5) && long.1 < Duration::from_secs(6));
    }

    #[test]
    fn a_new_runtime_on_the_same_thread_gets_a_new_clock_task() {
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let out = rt.block_on(timeout(
                Duration::from_secs(2),
                std::future::pending::<()>(),
            ));
            assert_eq!(out, Err(()));
            // The runtime and its clock task go; the next one must not wait for a dead task.
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_thread_stops_its_clock_and_a_new_read_restarts_it() {
        let _ = timeout(Duration::from_secs(2), std::future::pending::<()>()).await;
        tokio::time::sleep(TICK * (IDLE_TICKS + 5)).await;
        let stopped = CLOCK.with(|c| {
            c.borrow()
                .running
                .as_ref()
                .is_some_and(|r| !r.load(Ordering::Relaxed))
        });
        assert!(stopped, "the task ended");
        let wall = Instant::now();
        let out = timeout(Duration::from_secs(2), std::future::pending::<()>()).await;
        assert_eq!(out, Err(()));
        assert!(
            wall.elapsed() < Duration::from_secs(2),
            "paused time, no real wait"
        );
    }
}
