//! Requests refused for their form, before or instead of a handler, answered like every other
//! portal error: a French HTML page with the right status.
//!
//! - [`reject_nul`]: no NUL byte reaches a handler (and so the database: PostgreSQL text cannot
//!   hold one, and a query with one fails as a 500) from the path, the query string or an
//!   `application/x-www-form-urlencoded` body. Such a request is a 400.
//! - [`french_rejections`]: axum's own rejections (a form too large, the wrong content type, a
//!   malformed body or query, a method the route does not take) come as English plain text;
//!   they are replaced by the French error page, status kept.

use super::error::WebError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Largest urlencoded body read to look for NUL bytes: axum's default body limit, which the
/// form extractors apply after this anyway.
pub const MAX_FORM_BODY: usize = 2 * 1024 * 1024;

/// `true` when `s` holds a percent-encoded NUL (`%00`) or a raw one.
pub fn has_nul(s: &[u8]) -> bool {
    s.contains(&0) || s.windows(3).any(|w| w == b"%00")
}

fn is_urlencoded(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn nul_refused() -> Response {
    WebError::BadRequest(
        "La demande contient un caractère nul, qui n'est accepté dans aucun champ. Corrigez la saisie et recommencez."
            .into(),
    )
    .into_response()
}

/// See the module documentation.
pub async fn reject_nul(req: Request, next: Next) -> Response {
    let uri_nul = req
        .uri()
        .path_and_query()
        .is_some_and(|pq| has_nul(pq.as_str().as_bytes()));
    if uri_nul {
        return nul_refused();
    }
    if !is_urlencoded(&req) {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BODY as u64) {
        return WebError::Rejected(StatusCode::PAYLOAD_TOO_LARGE).into_response();
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BODY).await {
        Ok(b) => b,
        Err(_) => return WebError::Rejected(StatusCode::PAYLOAD_TOO_LARGE).into_response(),
    };
    if has_nul(&bytes) {
        return nul_refused();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// See the module documentation: a 4xx in plain text (or, for a 405, with no body at all) is
/// an extractor's or the router's rejection, never a page of ours.
pub async fn french_rejections(res: Response) -> Response {
    let status = res.status();
    if !status.is_client_error() {
        return res;
    }
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let plain = ct.starts_with("text/plain");
    let bare_405 = status == StatusCode::METHOD_NOT_ALLOWED && ct.is_empty();
    if !plain && !bare_405 {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let mut page = WebError::Rejected(status).into_response();
    if let Some(a) = allow {
        page.headers_mut().insert(header::ALLOW, a);
    }
    page.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page
}

#[cfg(test)]
mod tests {
    use super::has_nul;

    #[test]
    fn nul_bytes_are_found_encoded_or_raw() {
        assert!(has_nul(b"q=ab%00cd"));
        assert!(has_nul(b"%00"));
        assert!(has_nul(b"a\0b"));
        assert!(
            !has_nul(b"q=%2500"),
            "an encoded percent sign followed by 00"
        );
        assert!(!has_nul(b"q=100%25&page=200"));
        assert!(!has_nul(b"q=%0"));
    }
}
