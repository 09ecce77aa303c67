//! A circuit breaker in front of one remote dependency (the session store, the directory
//! database). Closed, every call goes through, bounded by a timeout and by the number of calls
//! that may wait on the dependency at once. After `failures_to_open` consecutive failures it
//! opens: calls are refused at once (the caller answers its 503 page without waiting), while one
//! background probe asks the dependency, every `probe_interval`, whether it is back; the first
//! success closes the breaker. Requests never act as probes, so none of them waits on a dead
//! dependency once the breaker knows it is dead.
//!
//! The closed path costs two atomic loads, one increment and one decrement of the waiting count
//! and the timeout's timer entry: no lock, no allocation.

use futures_util::future::BoxFuture;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// How a breaker behaves (`[resilience]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Bound on one call: past it the call fails (and counts as a failure).
    pub timeout: Duration,
    /// Consecutive failures that open the breaker.
    pub failures_to_open: u32,
    /// Pause between two probes while open.
    pub probe_interval: Duration,
    /// Calls that may wait on the dependency at once; more are refused at once.
    pub max_waiting: usize,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            timeout: Duration::from_millis(1000),
            failures_to_open: 2,
            probe_interval: Duration::from_millis(200),
            max_waiting: 64,
        }
    }
}

/// Why a call did not get an answer from the dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The breaker is open: the dependency is known to be down.
    #[error("known to be unavailable (circuit open)")]
    Open,
    /// Too many calls are already waiting on the dependency.
    #[error("too many requests waiting on it")]
    Saturated,
    /// The call took longer than the configured bound.
    #[error("no answer within the time limit")]
    TimedOut,
}

impl Refused {
    fn index(self) -> usize {
        match self {
            Refused::Open => 0,
            Refused::Saturated => 1,
            Refused::TimedOut => 2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refused::Open => "open",
            Refused::Saturated => "saturated",
            Refused::TimedOut => "timeout",
        }
    }
}

/// Asks the dependency whether it answers (a `PING`, a `SELECT 1`).
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

pub struct Breaker {
    name: &'static str,
    settings: BreakerSettings,
    open: AtomicBool,
    failures: AtomicU32,
    waiting: AtomicUsize,
    probing: AtomicBool,
    /// Calls refused without reaching the dependency (also counted in the metrics, which are
    /// process-wide; this is per breaker).
    refusals: AtomicU64,
    probe: OnceLock<Probe>,
    /// Where the probe runs: the runtime that owns the dependency's connections.
    runtime: tokio::runtime::Handle,
    /// Lets the probe task hold the breaker without keeping it alive after its owner is gone.
    this: Weak<Breaker>,
    state_gauge: metrics::Gauge,
    wait: metrics::Histogram,
    opened_total: metrics::Counter,
    /// Indexed like [`Refused::index`]: registered once, so that refusing costs no lookup.
    refused_total: [metrics::Counter; 3],
}

impl Breaker {
    /// Must be called within a tokio runtime: probes will run on it.
    pub fn new(name: &'static str, settings: BreakerSettings) -> Arc<Breaker> {
        let b = Arc::new_cyclic(|this| {
            Breaker {
            name,
            settings,
            open: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            waiting: AtomicUsize::new(0),
            probing: AtomicBool::new(false),
            refusals: AtomicU64::new(0),
            probe: OnceLock::new(),
            runtime: tokio::runtime::Handle::current(),
            this: this.clone(),
            state_gauge: metrics::gauge!("convergences_dependency_circuit_open", "dependency" => name),
            wait: metrics::histogram!("convergences_dependency_wait_seconds", "dependency" => name),
            opened_total: metrics::counter!("convergences_dependency_circuit_opened_total", "dependency" => name),
            refused_total: [Refused::Open, Refused::Saturated, Refused::TimedOut].map(|r| {
                metrics::counter!("convergences_dependency_refused_total", "dependency" => name, "reason" => r.label())
            }),
        }
        });
        b.state_gauge.set(0.0);
        b
    }

    /// Sets how the breaker checks, while open, whether the dependency is back. Without one
    /// the breaker closes again after one probe interval (the next request then tries).
    pub fn set_probe(&self, probe: Probe) {
        let _ = self.probe.set(probe);
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn settings(&self) -> BreakerSettings {
        self.settings
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Calls refused so far without reaching the dependency (open, saturated, timed out).
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// Calls waiting on the dependency right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `call` unless the breaker is open or too many calls wait already; bounds it by the
    /// timeout. `is_outage` tells which errors say the dependency is unreachable (they count
    /// towards opening) from those that are answers (a constraint violated, a key missing).
    pub async fn call<T, E, F>(
        &self,
        call: F,
        is_outage: impl Fn(&E) -> bool,
    ) -> Result<Result<T, E>, Refused>
    where
        F: Future<Output = Result<T, E>>,
    {
        if self.is_open() {
            return Err(self.refuse(Refused::Open));
        }
        let _slot = match WaitSlot::take(&self.waiting, self.settings.max_waiting) {
            Some(s) => s,
            None => return Err(self.refuse(Refused::Saturated)),
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.settings.timeout, call).await;
        self.wait.record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(v)) => {
                self.success();
                Ok(Ok(v))
            }
            Ok(Err(e)) => {
                if is_outage(&e) {
                    self.failure();
                } else {
                    self.success();
                }
                Ok(Err(e))
            }
            Err(_) => {
                self.failure();
                Err(self.refuse(Refused::TimedOut))
            }
        }
    }

    /// A failure seen outside [`Breaker::call`] (e.g. a query of the portal that could not
    /// get a connection).
    pub fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.settings.failures_to_open && !self.open.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                dependency = self.name,
                failures = n,
                "dependency unreachable: circuit open, requests refused at once while a probe checks it"
            );
            self.state_gauge.set(1.0);
            self.opened_total.increment(1);
            self.start_probe();
        }
    }

    fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    fn close(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.open.swap(false, Ordering::AcqRel) {
            tracing::info!(
                dependency = self.name,
                "dependency answers again: circuit closed"
            );
            self.state_gauge.set(0.0);
        }
    }

    fn refuse(&self, why: Refused) -> Refused {
        self.refusals.fetch_add(1, Ordering::Relaxed);
        self.refused_total[why.index()].increment(1);
        why
    }

    /// One probe task at most: it asks until the dependency answers, then closes.
    fn start_probe(&self) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(me) = self.this.upgrade() else {
            return;
        };
        self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(me.settings.probe_interval).await;
                let ok = match me.probe.get() {
                    Some(p) => tokio::time::timeout(me.settings.timeout, p())
                        .await
                        .unwrap_or(false),
                    None => true,
                };
                if ok {
                    me.close();
                    break;
                }
                // The owner is gone (the gateway stopped): stop probing.
                if Arc::strong_count(&me) == 1 {
                    break;
                }
            }
            me.probing.store(false, Ordering::Release);
            // A failure between `close` and here saw `probing` still set: start again.
            if me.is_open() {
                me.start_probe();
            }
        });
    }
}

/// One of the `max` places for a call waiting on the dependency; freed on drop (also when the
/// request's future is dropped mid-call).
struct WaitSlot<'a>(&'a AtomicUsize);

impl<'a> WaitSlot<'a> {
    fn take(count: &'a AtomicUsize, max: usize) -> Option<WaitSlot<'a>> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(WaitSlot(count))
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            timeout: Duration::from_millis(200),
            failures_to_open: 2,
            probe_interval: Duration::from_millis(10),
            max_waiting: 2,
        }
    }

    async fn fail(b: &Breaker) -> Result<Result<(), &'static str>, Refused> {
        b.call(async { Err::<(), _>("down") }, |_| true).await
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_refuses_at_once_and_closes_on_a_probe_success() {
        let b = Breaker::new("test", settings());
        let up = Arc::new(AtomicBool::new(false));
        let u = up.clone();
        b.set_probe(Arc::new(move || {
            let u = u.clone();
            Box::pin(async move { u.load(Ordering::SeqCst) })
        }));
        assert_eq!(fail(&b).await, Ok(Err("down")));
        assert!(!b.is_open(), "one failure does not open");
        assert_eq!(fail(&b).await, Ok(Err("down")));
        assert!(b.is_open());
        // Open: the call is not even started.
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let r = b
            .call(
                async move {
                    s.store(true, Ordering::SeqCst);
                    Ok::<_, ()>(())
                },
                |_| true,
            )
            .await;
        assert_eq!(r, Err(Refused::Open));
        assert!(!started.load(Ordering::SeqCst));
        // The probe keeps failing: still open.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(b.is_open());
        up.store(true, Ordering::SeqCst);
        for _ in 0..200 {
            if !b.is_open() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!b.is_open(), "the probe's success closes the breaker");
        assert_eq!(b.call(async { Ok::<_, ()>(7) }, |_| true).await, Ok(Ok(7)));
    }

    #[tokio::test]
    async fn answers_that_are_not_outages_and_successes_do_not_open() {
        let b = Breaker::new("test", settings());
        for _ in 0..5 {
            let r = b
                .call(async { Err::<(), _>("constraint") }, |_| false)
                .await;
            assert_eq!(r, Ok(Err("constraint")));
        }
        assert!(!b.is_open());
        // Failures must be consecutive.
        let _ = fail(&b).await;
        let _ = b.call(async { Ok::<_, &str>(()) }, |_| true).await;
        let _ = fail(&b).await;
        assert!(!b.is_open());
    }

    #[tokio::test]
    async fn a_call_past_the_timeout_is_refused_and_counts_as_a_failure() {
        let b = Breaker::new("test", settings());
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ()>(())
        };
        assert_eq!(b.call(slow(), |_| true).await, Err(Refused::TimedOut));
        assert_eq!(b.call(slow(), |_| true).await, Err(Refused::TimedOut));
        assert!(b.is_open());
    }

    #[tokio::test]
    async fn no_more_than_max_waiting_calls_wait_at_once() {
        let b = Breaker::new("test", settings());
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut held = Vec::new();
        for _ in 0..2 {
            let (b, g) = (b.clone(), gate.clone());
            held.push(tokio::spawn(async move {
                b.call(
                    async move {
                        g.notified().await;
                        Ok::<_, ()>(())
                    },
                    |_| true,
                )
                .await
            }));
        }
        while b.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            b.call(async { Ok::<_, ()>(()) }, |_| true).await,
            Err(Refused::Saturated)
        );
        gate.notify_waiters();
        for h in held {
            assert_eq!(h.await.unwrap(), Ok(Ok(())));
        }
        assert_eq!(b.waiting(), 0);
        assert_eq!(
            b.call(async { Ok::<_, ()>(()) }, |_| true).await,
            Ok(Ok(()))
        );
    }
}
