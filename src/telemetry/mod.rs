//! Logs (tracing, text or JSON) and Prometheus metrics. The metrics recorder is process-wide:
//! several gateways in one process (the tests) share it.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

mod per_thread;

/// Installs the log subscriber. Lines are handed to a writer thread (the proxy's workers never
/// wait on stderr); keep the returned guard alive until exit so the last lines are flushed.
pub fn init_logs(json: bool) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CONVERGENCES_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn,sqlx=warn"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(writer);
    let installed = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    installed.ok().map(|_| guard)
}

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "convergences_dependency_wait_seconds".into(),
                ),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            )
            .expect("static bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests embedding us); then metrics go there.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn init_metrics() {
    let _ = handle();
}

/// Folds the latency samples recorded since the last call into the histograms' buckets. The
/// recorder keeps each sample until then: without this, a gateway whose `/metrics` nobody
/// scrapes (no `server.metrics_token`) would grow by 8 bytes per proxied request, forever.
pub fn upkeep() {
    handle().run_upkeep();
}

/// Prometheus text exposition of every metric: the recorder's, then the per-request ones
/// kept per thread ([`per_thread`]).
pub fn render() -> String {
    let mut text = handle().render();
    per_thread::render(&mut text);
    text
}

/// Metric handles of one application, registered once so that a proxied request only bumps
/// atomics of its own thread (no registry lookup, no label allocation, no shared line).
pub struct AppMetrics {
    /// Requests by status and their latency (`convergences_requests_total`,
    /// `convergences_request_duration_seconds`).
    requests: Arc<per_thread::AppSeries>,
    upstream_errors: metrics::Counter,
}

impl AppMetrics {
    pub fn new(app: &'static str) -> AppMetrics {
        AppMetrics {
            requests: per_thread::AppSeries::of(app),
            upstream_errors: metrics::counter!("convergences_upstream_errors_total", "app" => app),
        }
    }

    pub fn proxied(&self, status: u16, seconds: f64) {
        self.requests.record(status_index(status), seconds);
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.increment(1);
    }
}

pub fn login(ok: bool) {
    metrics::counter!("convergences_logins_total", "result" => if ok { "ok" } else { "failed" })
        .increment(1);
}

/// `convergences_identity_cache_total{result="hit"}`, counted per thread: the requests that
/// looked the identity up (not those answered from the proxy's per-thread memo).
pub fn cache_hit() {
    per_thread::identity_cache(true);
}

pub fn cache_miss() {
    per_thread::identity_cache(false);
}

/// An identity older than its cache lifetime was used because the directory could not be
/// reached (degraded mode, `resilience.directory_grace_seconds`).
pub fn identity_degraded() {
    static DEGRADED: OnceLock<metrics::Counter> = OnceLock::new();
    DEGRADED
        .get_or_init(|| metrics::counter!("convergences_identity_degraded_total"))
        .increment(1);
}

/// A portal page did not answer within `resilience.page_timeout_ms` (a hung dependency).
pub fn page_timeout() {
    static TIMEOUTS: OnceLock<metrics::Counter> = OnceLock::new();
    TIMEOUTS
        .get_or_init(|| metrics::counter!("convergences_page_timeouts_total"))
        .increment(1);
}

/// OpenID Connect provider events: codes and tokens issued, refusals, replays, back-channel
/// logouts (docs/oidc-provider.md#limits-and-metrics).
pub fn oidc_event(event: &'static str) {
    metrics::counter!("convergences_oidc_events_total", "event" => event).increment(1);
}

/// 1 while an identity provider's metadata and keys can be read, 0 while it is unreachable.
pub fn identity_provider_up(slug: &str, up: bool) {
    metrics::gauge!("convergences_identity_provider_up", "provider" => label(slug)).set(if up {
        1.0
    } else {
        0.0
    });
}

/// One sign-in through an identity provider, by outcome (`ok`, `refused`, `unavailable`, and
/// `throttled` for a start refused by the per-address limit).
pub fn identity_provider_login(slug: &str, result: &'static str) {
    metrics::counter!("convergences_identity_provider_logins_total", "provider" => label(slug), "result" => result)
        .increment(1);
}

pub fn sessions_created() {
    metrics::counter!("convergences_sessions_created_total").increment(1);
}

/// Status labels: common codes as themselves, others by class.
const STATUS_LABELS: [&str; 20] = [
    "200", "204", "206", "301", "302", "303", "304", "400", "401", "403", "404", "500", "502",
    "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx",
];

/// The index of a status's label in [`STATUS_LABELS`].
fn status_index(status: u16) -> usize {
    match status {
        200 => 0,
        204 => 1,
        206 => 2,
        301 => 3,
        302 => 4,
        303 => 5,
        304 => 6,
        400 => 7,
        401 => 8,
        403 => 9,
        404 => 10,
        500 => 11,
        502 => 12,
        503 => 13,
        504 => 14,
        s if s < 200 => 15,
        s if s < 300 => 16,
        s if s < 400 => 17,
        s if s < 500 => 18,
        _ => 19,
    }
}

/// A `'static` copy of an application slug for metric labels. Each distinct slug is leaked
/// once, however many times the configuration is reloaded.
pub fn label(slug: &str) -> &'static str {
    static LABELS: OnceLock<dashmap::DashMap<String, &'static str>> = OnceLock::new();
    let labels = LABELS.get_or_init(dashmap::DashMap::new);
    if let Some(l) = labels.get(slug) {
        return *l;
    }
    *labels
        .entry(slug.to_string())
        .or_insert_with(|| Box::leak(slug.to_string().into_boxed_str()))
}

#[cfg(test)]
mod tests {
    use super::{status_index, STATUS_LABELS};

    #[test]
    fn every_status_has_its_label() {
        for label in &STATUS_LABELS[..15] {
            let code: u16 = label.parse().unwrap();
            assert_eq!(STATUS_LABELS[status_index(code)], *label);
        }
        for (code, label) in [
            (101, "1xx"),
            (201, "2xx"),
            (307, "3xx"),
            (429, "4xx"),
            (501, "5xx"),
            (0, "1xx"),
            (999, "5xx"),
        ] {
            assert_eq!(STATUS_LABELS[status_index(code)], label, "{code}");
        }
    }
}
