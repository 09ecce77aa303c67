//! Machine endpoints: JWKS, liveness, readiness, metrics, the stylesheet, and the 404 page.

use super::error::WebError;
use crate::state::Gateway;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;

pub async fn jwks(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        gw.signer.jwks_json().to_string(),
    )
}

pub async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain")], "ok\n")
}

/// Ready when both the directory and the session store answer.
pub async fn readyz(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    let db = gw.dir.ping().await;
    let store = gw.sessions.store.ping().await;
    let line =
        |name: &str, ok: bool| format!("{name}: {}\n", if ok { "ok" } else { "unavailable" });
    let body = format!(
        "{}{}",
        line("database", db.is_ok()),
        line("sessions", store.is_ok())
    );
    let status = if db.is_ok() && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "text/plain")], body)
}

pub async fn metrics(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    if let Some(n) = gw.sessions.store.count() {
        metrics::gauge!("convergences_sessions_active").set(n as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(),
    )
}

const STYLESHEET: &str = include_str!("../../static/style.css");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

const PASSWORD_JS: &str = include_str!("../../static/password.js");

pub async fn password_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        PASSWORD_JS,
    )
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}
