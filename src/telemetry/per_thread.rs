//! The metrics every proxied request updates (requests by status, latency histogram, identity
//! cache hits), kept in per-thread shards and summed when `/metrics` is read.
//!
//! Through the `metrics` recorder, each proxied request made about six atomic read-modify-writes
//! on memory that every proxy thread writes too (a counter and its generation, the histogram's
//! sample block and its generation, the cache-hit counter and its generation): the cache line
//! bounces between cores on every request. Here each thread writes its own line; the sum is
//! made only for a scrape. The exposition is the same Prometheus text as the recorder's
//! (docs/architecture.md#a-request-to-an-application).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// More shards than proxy threads in any layout we run; two threads sharing a shard stay
/// correct (the counters are atomic), only slower.
const SHARDS: usize = 16;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const DURATION_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The index of this thread's shard, given out in turn as threads first record something.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// One thread's counts for one application, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct AppShard {
    /// Per status label (`super::STATUS_LABELS`).
    requests: [AtomicU64; super::STATUS_LABELS.len()],
    /// Per bucket, not cumulative: the last is above every bound (`+Inf`).
    buckets: [AtomicU64; DURATION_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// The request metrics of one application (all the gateways of a process that serve an
/// application of that slug share them, as they shared the recorder's series).
pub struct AppSeries {
    app: &'static str,
    shards: [AppShard; SHARDS],
}

impl AppSeries {
    /// The series of `app`, registered once per process.
    pub fn of(app: &'static str) -> Arc<AppSeries> {
        let mut all = registry().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = all.iter().find(|s| s.app == app) {
            return s.clone();
        }
        let s = Arc::new(AppSeries {
            app,
            shards: std::array::from_fn(|_| AppShard::default()),
        });
        all.push(s.clone());
        s
    }

    pub fn record(&self, status_index: usize, seconds: f64) {
        let shard = &self.shards[shard_index()];
        if let Some(c) = shard.requests.get(status_index) {
            c.fetch_add(1, Relaxed);
        }
        let bucket = DURATION_BOUNDS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(DURATION_BOUNDS.len());
        shard.buckets[bucket].fetch_add(1, Relaxed);
        // Saturating conversion: a negative or NaN duration counts as zero.
        shard.sum_nanos.fetch_add((seconds * 1e9) as u64, Relaxed);
    }

    fn requests(&self, status_index: usize) -> u64 {
        self.shards
            .iter()
            .map(|s| s.requests[status_index].load(Relaxed))
            .sum()
    }

    fn bucket(&self, i: usize) -> u64 {
        self.shards.iter().map(|s| s.buckets[i].load(Relaxed)).sum()
    }

    fn sum_seconds(&self) -> f64 {
        let nanos: u64 = self.shards.iter().map(|s| s.sum_nanos.load(Relaxed)).sum();
        nanos as f64 / 1e9
    }
}

fn registry() -> &'static Mutex<Vec<Arc<AppSeries>>> {
    static ALL: OnceLock<Mutex<Vec<Arc<AppSeries>>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

#[repr(align(128))]
#[derive(Default)]
struct CacheShard {
    hit: AtomicU64,
    miss: AtomicU64,
}

fn cache_shards() -> &'static [CacheShard; SHARDS] {
    static SHARDS_: OnceLock<[CacheShard; SHARDS]> = OnceLock::new();
    SHARDS_.get_or_init(|| std::array::from_fn(|_| CacheShard::default()))
}

pub fn identity_cache(hit: bool) {
    let shard = &cache_shards()[shard_index()];
    if hit {
        shard.hit.fetch_add(1, Relaxed);
    } else {
        shard.miss.fetch_add(1, Relaxed);
    }
}

/// Prometheus text for these metrics, in the recorder's layout: a `# TYPE` line per family,
/// a series per label set used so far, a blank line after each family.
pub fn render(out: &mut String) {
    let all: Vec<Arc<AppSeries>> = registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut family = String::new();
    for s in &all {
        for (i, status) in super::STATUS_LABELS.iter().enumerate() {
            let n = s.requests(i);
            if n > 0 {
                let _ = writeln!(
                    family,
                    "convergences_requests_total{{app=\"{}\",status=\"{status}\"}} {n}",
                    escape(s.app)
                );
            }
        }
    }
    if !family.is_empty() {
        out.push_str("# TYPE convergences_requests_total counter\n");
        out.push_str(&family);
        out.push('\n');
    }
    if !all.is_empty() {
        out.push_str("# TYPE convergences_request_duration_seconds histogram\n");
        for s in &all {
            let app = escape(s.app);
            let mut cumulated = 0;
            for (i, bound) in DURATION_BOUNDS.iter().enumerate() {
                cumulated += s.bucket(i);
                let _ = writeln!(
                    out,
                    "convergences_request_duration_seconds_bucket{{app=\"{app}\",le=\"{bound}\"}} {cumulated}"
                );
            }
            cumulated += s.bucket(DURATION_BOUNDS.len());
            let _ = writeln!(
                out,
                "convergences_request_duration_seconds_bucket{{app=\"{app}\",le=\"+Inf\"}} {cumulated}"
            );
            let _ = writeln!(
                out,
                "convergences_request_duration_seconds_sum{{app=\"{app}\"}} {}",
                s.sum_seconds()
            );
            let _ = writeln!(
                out,
                "convergences_request_duration_seconds_count{{app=\"{app}\"}} {cumulated}"
            );
        }
        out.push('\n');
    }
    let shards = cache_shards();
    let hit: u64 = shards.iter().map(|s| s.hit.load(Relaxed)).sum();
    let miss: u64 = shards.iter().map(|s| s.miss.load(Relaxed)).sum();
    if hit + miss > 0 {
        out.push_str("# TYPE convergences_identity_cache_total counter\n");
        for (result, n) in [("hit", hit), ("miss", miss)] {
            if n > 0 {
                let _ = writeln!(
                    out,
                    "convergences_identity_cache_total{{result=\"{result}\"}} {n}"
                );
            }
        }
        out.push('\n');
    }
}

/// A label value as the text format wants it (slugs never need it; the check is cheap).
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        v.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
    }

    #[test]
    fn counts_from_several_threads_are_summed() {
        let s = AppSeries::of("per-thread-test");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        s.record(0, 0.002);
                    }
                });
            }
        });
        s.record(13, 20.0);
        let mut text = String::new();
        render(&mut text);
        let app = "{app=\"per-thread-test\"";
        assert_eq!(
            line(
                &text,
                &format!("convergences_requests_total{app},status=\"200\"}}")
            ),
            Some("4000")
        );
        assert_eq!(
            line(
                &text,
                &format!("convergences_requests_total{app},status=\"503\"}}")
            ),
            Some("1")
        );
        let bucket = |le: &str| {
            line(
                &text,
                &format!("convergences_request_duration_seconds_bucket{app},le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.001"), Some("0"), "2 ms is above 1 ms");
        assert_eq!(bucket("0.0025"), Some("4000"));
        assert_eq!(
            bucket("10"),
            Some("4000"),
            "cumulative; 20 s is above every bound"
        );
        assert_eq!(bucket("+Inf"), Some("4001"));
        assert_eq!(
            line(
                &text,
                &format!("convergences_request_duration_seconds_count{app}}}")
            ),
            Some("4001")
        );
        let sum: f64 = line(
            &text,
            &format!("convergences_request_duration_seconds_sum{app}}}"),
        )
        .unwrap()
        .parse()
        .unwrap();
        assert!((sum - 28.0).abs() < 1e-6, "{sum}");
        assert_eq!(
            text.matches("# TYPE convergences_request_duration_seconds histogram")
                .count(),
            1
        );
    }

    #[test]
    fn a_series_is_registered_once_per_slug() {
        let a = AppSeries::of("per-thread-once");
        let b = AppSeries::of("per-thread-once");
        assert!(Arc::ptr_eq(&a, &b));
    }
}
