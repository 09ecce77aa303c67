//! CORS headers and preflight answers of the provider's machine endpoints, by the rules of
//! `crate::oidc::cors` (docs/oidc-provider.md#cors).

use crate::oidc::cors::{allowed, Readers};
use crate::state::Gateway;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The request's `Origin`, when it is one a browser would send (visible ASCII).
pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Lets `origin` read `res` when `readers` include it. `Vary: Origin` either way, so that a
/// cache never hands one origin's answer to another.
pub fn apply(gw: &Gateway, origin: Option<&str>, readers: Readers<'_>, res: &mut Response) {
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(o) = origin else {
        return;
    };
    if allowed(&gw.routes(), o, readers) {
        if let Ok(v) = HeaderValue::from_str(o) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
    }
}

/// A preflight (`OPTIONS`): allowed origins get the methods and headers the endpoint takes,
/// others a 403 without any CORS header.
fn preflight(
    gw: &Gateway,
    headers: &HeaderMap,
    readers: Readers<'_>,
    methods: &'static str,
) -> Response {
    let ok = origin(headers).is_some_and(|o| allowed(&gw.routes(), o, readers));
    let mut res = if ok {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        StatusCode::FORBIDDEN.into_response()
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    apply(gw, origin(headers), readers, &mut res);
    res
}

/// Preflight of discovery and the JWKS.
pub async fn documents(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    preflight(&gw, &headers, Readers::AnyClient, "GET")
}

/// Preflight of the token endpoint.
pub async fn token(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    preflight(&gw, &headers, Readers::PublicClients, "POST")
}

/// Preflight of UserInfo.
pub async fn userinfo(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    preflight(&gw, &headers, Readers::PublicClients, "GET, POST")
}
