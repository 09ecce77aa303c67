//! Machine endpoints: JWKS, liveness, readiness, metrics, the stylesheet, and the 404 page.

use super::error::WebError;
use crate::config::Secret;
use crate::state::Gateway;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The JWKS; readable from the browser pages of OpenID Connect clients' origins
/// (docs/oidc-provider.md#cors).
pub async fn jwks(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        gw.oidc.jwks_json().to_string(),
    )
        .into_response();
    super::oidc::cors::apply(
        &gw,
        super::oidc::cors::origin(&headers),
        crate::oidc::cors::Readers::AnyClient,
        &mut res,
    );
    res
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
    let mut body = format!(
        "{}{}",
        line("database", db.is_ok()),
        line("sessions", store.is_ok())
    );
    // Reported, never a reason to be unready: password sign-in works without them.
    for p in gw.providers.all().iter() {
        let state = match p.status() {
            crate::auth::oidc_client::Status::Up => "ok",
            crate::auth::oidc_client::Status::Starting => "starting",
            crate::auth::oidc_client::Status::Down(_) => "unavailable",
        };
        body.push_str(&format!("identity provider {}: {state}\n", p.config.slug));
    }
    let status = if db.is_ok() && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "text/plain")], body)
}

/// `true` when `authorization` is `Bearer <token>` with the configured token. Both sides are
/// hashed first so that the comparison takes the same time whatever the length or content of
/// what was sent.
pub fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let given = authorization
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .unwrap_or("");
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(token.as_bytes());
    !given.is_empty() && bool::from(a.ct_eq(&b))
}

/// Prometheus text format, for the holder of `server.metrics_token` only: without a configured
/// token the endpoint does not exist (404), a missing or wrong token is a 401.
pub async fn metrics(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(Secret(token)) = &gw.config.metrics_token else {
        return Err(WebError::NotFound);
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !bearer_matches(auth, token) {
        return Ok((
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            WebError::Rejected(StatusCode::UNAUTHORIZED),
        )
            .into_response());
    }
    if let Some(n) = gw.sessions.store.count() {
        metrics::gauge!("convergences_sessions_active").set(n as f64);
    }
    gw.limits.publish();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(),
    )
        .into_response())
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

fn script(text: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        text,
    )
}

pub async fn password_js() -> impl IntoResponse {
    script(include_str!("../../static/password.js"))
}

pub async fn passkey_js() -> impl IntoResponse {
    script(include_str!("../../static/passkey.js"))
}

pub async fn continue_js() -> impl IntoResponse {
    script(include_str!("../../static/continue.js"))
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

    #[test]
    fn bearer_token_must_match_exactly() {
        let t = "0123456789abcdef0123456789abcdef";
        assert!(bearer_matches(Some(&format!("Bearer {t}")), t));
        assert!(bearer_matches(Some(&format!("bearer  {t} ")), t));
        assert!(!bearer_matches(None, t));
        assert!(!bearer_matches(Some(t), t), "scheme required");
        assert!(!bearer_matches(Some(&format!("Basic {t}")), t));
        assert!(!bearer_matches(Some(&format!("Bearer {t}x")), t));
        assert!(!bearer_matches(Some("Bearer "), t));
        assert!(
            !bearer_matches(Some("Bearer "), ""),
            "an empty token never matches"
        );
    }
}
