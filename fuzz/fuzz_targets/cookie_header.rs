//! Cookie headers as the proxy reads them: `proxy::headers::cookie` and `scan_cookies` (the
//! one pass the proxy makes: the same value as `cookie`), `strip_cookies` (the gateway's
//! cookies never reach an application) and `cookie_name_of` (Set-Cookie from an upstream).
//!
//! Input: first line = names to strip, comma-separated (the gateway's real cookie names are
//! always added); every further line = one `Cookie` header value (raw bytes, so non-UTF-8 and
//! obs-text values are tried too); each line is also read as a Set-Cookie value.
//!
//! The portal's own reading of cookies (`web::context::cookie_value`) is private: not fuzzed.
#![no_main]

use convergences::proxy::headers::{cookie, cookie_name_of, scan_cookies, strip_cookies};
use http::header::COOKIE;
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;

const OURS: [&str; 8] = [
    "convergences_session",
    "convergences_app",
    "convergences_csrf",
    "convergences_handshake",
    "__Host-convergences_session",
    "__Host-convergences_app",
    "__Host-convergences_csrf",
    "__Host-convergences_handshake",
];

/// The name `cookie()` reads from one `;`-separated part.
fn name_of(part: &str) -> Option<&str> {
    part.trim().split_once('=').map(|(k, _)| k)
}

fn cookie_values(req: &RequestHeader) -> Vec<Vec<u8>> {
    req.headers
        .get_all(COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    // Names to strip are cookie names as the gateway configures them: RFC 6265 tokens, never
    // with white space (a name ending in a space would be read by `cookie` from "name =v" yet
    // not stripped, a case no configuration can produce).
    let mut names: Vec<String> = String::from_utf8_lossy(first)
        .split(',')
        .filter(|n| !n.is_empty() && !n.chars().any(char::is_whitespace))
        .map(str::to_string)
        .collect();
    names.extend(OURS.iter().map(|s| s.to_string()));

    let mut req = RequestHeader::build("GET", b"/", None).unwrap();
    for line in lines.take(16) {
        // Set-Cookie from an upstream: the name is what precedes '=' or ';', trimmed.
        let n = cookie_name_of(line);
        assert!(n.len() <= line.len());
        assert!(!n.contains(&b'=') && !n.contains(&b';'), "{n:?}");
        assert_eq!(n, n.trim_ascii(), "name not trimmed: {n:?}");
        if let Ok(v) = HeaderValue::from_bytes(line) {
            req.append_header(COOKIE, v).unwrap();
        }
    }

    // What `cookie()` sees before stripping, for every name present and for ours.
    let mut probe: Vec<String> = names.clone();
    let mut all_str = true;
    for h in req.headers.get_all(COOKIE) {
        match h.to_str() {
            Ok(s) => probe.extend(s.split(';').filter_map(name_of).map(str::to_string)),
            Err(_) => all_str = false,
        }
    }
    probe.sort();
    probe.dedup();
    let before: Vec<(String, Option<String>)> = probe
        .iter()
        .map(|n| (n.clone(), cookie(&req, n).map(str::to_string)))
        .collect();
    for (n, was) in &before {
        let scanned = scan_cookies(&req, n, &names[..]).0;
        assert_eq!(
            scanned,
            was.as_deref(),
            "scan_cookies reads {n:?} otherwise"
        );
    }
    let is_ours = |part: &str| {
        let k = part.trim().split('=').next().unwrap_or("").trim();
        names.iter().any(|n| n == k)
    };
    let any_ours = req
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .any(|s| s.split(';').any(is_ours));
    let headers_before = cookie_values(&req);
    // strip_cookies rebuilds the header when one of ours, or an unreadable header, is there,
    // and joins several Cookie headers into one (what an HTTP/1.1 upstream expects).
    let rebuilt = any_ours || !all_str || headers_before.len() > 1;

    strip_cookies(&mut req, &names[..]);

    let after = cookie_values(&req);
    for (n, was) in &before {
        let now = cookie(&req, n);
        if names.contains(n) {
            assert_eq!(
                now, None,
                "stripped cookie {n:?} still readable; headers {after:?}"
            );
        } else if !names.iter().any(|m| m == n.trim()) {
            assert_eq!(
                now,
                was.as_deref(),
                "cookie {n:?} changed; headers {after:?}"
            );
        }
    }
    for h in req.headers.get_all(COOKIE) {
        let s = h.to_str().expect("a rebuilt Cookie header is ASCII");
        assert!(
            !rebuilt || !s.is_empty(),
            "empty Cookie header left by a rebuild"
        );
        for part in s.split(';') {
            assert!(!is_ours(part), "part {part:?} of a stripped cookie left");
        }
    }
    // Every other cookie is kept, in order (empty parts and unreadable headers aside).
    let parts = |values: &[Vec<u8>], keep_ours: bool| -> Vec<String> {
        values
            .iter()
            .filter_map(|v| Some(HeaderValue::from_bytes(v).ok()?.to_str().ok()?.to_string()))
            .flat_map(|s| {
                s.split(';')
                    .map(str::trim)
                    .filter(|p| !p.is_empty() && (keep_ours || !is_ours(p)))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(
        parts(&after, true),
        parts(&headers_before, false),
        "the application's own cookies were not all kept"
    );
    if !rebuilt {
        assert_eq!(
            after, headers_before,
            "nothing to strip, yet the headers changed"
        );
    } else {
        assert!(
            after.len() <= 1,
            "more than one Cookie header after a rebuild"
        );
    }
    // Stripping twice changes nothing more.
    strip_cookies(&mut req, &names[..]);
    assert_eq!(
        cookie_values(&req),
        after,
        "strip_cookies is not idempotent"
    );
});
