//! Header and cookie helpers for the per-request path. They borrow from the request and only
//! allocate when something has to change.

use pingora::http::RequestHeader;

/// Host name of the request, without port, as sent (Host header or HTTP/2 authority).
pub fn host_of(req: &RequestHeader) -> &str {
    let raw = req
        .uri
        .host()
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("");
    strip_port(raw)
}

/// The Host header as sent, port included, for rebuilding the URL the browser asked for.
pub fn authority_of(req: &RequestHeader) -> &str {
    req.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| &host[..h.len() + 1]);
    }
    match host.rfind(':') {
        Some(i) => &host[..i],
        None => host,
    }
}

/// Value of cookie `name` in the request's Cookie header(s).
pub fn cookie<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    for h in req.headers.get_all(http::header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == name {
                    return Some(v.trim_matches('"'));
                }
            }
        }
    }
    None
}

/// Removes cookies named in `names` from the Cookie header(s), keeping the application's own.
/// Allocates only when one of them is present: one string for the rebuilt header.
pub fn strip_cookies(req: &mut RequestHeader, names: &[&str]) {
    let is_ours = |part: &str| {
        let k = part.trim().split('=').next().unwrap_or("");
        names.contains(&k)
    };
    let present = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .any(|h| h.to_str().map_or(true, |s| s.split(';').any(is_ours)));
    if !present {
        return;
    }
    let mut kept = String::new();
    for h in req.headers.get_all(http::header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for part in s.split(';') {
            let part = part.trim();
            if part.is_empty() || is_ours(part) {
                continue;
            }
            if !kept.is_empty() {
                kept.push_str("; ");
            }
            kept.push_str(part);
        }
    }
    let _ = req.remove_header(&http::header::COOKIE);
    if !kept.is_empty() {
        let _ = req.insert_header(http::header::COOKIE, kept);
    }
}

/// Removes every `X-Convergences-*` header and the given names (identity headers an application
/// is configured with): a client must never be able to choose its identity.
pub fn strip_identity_headers(req: &mut RequestHeader, configured: &[&http::HeaderName]) {
    let spoofed: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-convergences-") || configured.contains(k))
        .cloned()
        .collect();
    for k in spoofed {
        let _ = req.remove_header(&k);
    }
}

/// True for a request a browser makes for a page (it can follow a redirect to the login form).
pub fn is_browser_navigation(req: &RequestHeader) -> bool {
    (req.method == http::Method::GET || req.method == http::Method::HEAD)
        && req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/x", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn host_without_port() {
        assert_eq!(strip_port("bip.localhost:8080"), "bip.localhost");
        assert_eq!(strip_port("bip.localhost"), "bip.localhost");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(
            host_of(&req(&[("host", "Auth.localhost:8080")])),
            "Auth.localhost"
        );
    }

    #[test]
    fn cookies_are_found_and_stripped() {
        let mut r = req(&[
            ("cookie", "app=1; convergences_session=abc; other=2"),
            ("cookie", "convergences_app=zz"),
        ]);
        assert_eq!(cookie(&r, "convergences_session"), Some("abc"));
        assert_eq!(cookie(&r, "convergences_app"), Some("zz"));
        assert_eq!(cookie(&r, "missing"), None);
        strip_cookies(&mut r, &["convergences_session", "convergences_app"]);
        let all: Vec<_> = r.headers.get_all("cookie").iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0], "app=1; other=2");
        let mut only = req(&[("cookie", "convergences_session=abc")]);
        strip_cookies(&mut only, &["convergences_session"]);
        assert!(only.headers.get("cookie").is_none());
    }

    #[test]
    fn identity_headers_are_stripped() {
        let mut r = req(&[
            ("x-convergences-user", "boss@x.fr"),
            ("X-Convergences-Roles", "administrateur"),
            ("remote-user", "boss"),
            ("accept", "text/html"),
        ]);
        let remote = http::HeaderName::from_static("remote-user");
        strip_identity_headers(&mut r, &[&remote]);
        assert_eq!(r.headers.len(), 1);
        assert!(is_browser_navigation(&r));
    }
}
