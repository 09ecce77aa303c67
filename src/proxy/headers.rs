//! Header and cookie helpers for the per-request path. They borrow from the request and only
//! allocate when something has to change.

use pingora::http::{AppendedHeaders, RequestHeader};

pub use super::reserved_headers::{strip_identity_headers, ReservedHeaders};

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
        // An IPv6 literal keeps its brackets; only a `:port` after them goes. Without a closing
        // bracket, or with anything else after it, the host is left as is (it names no route).
        return match host.find(']') {
            Some(i) if host[i + 1..].is_empty() || host[i + 1..].starts_with(':') => &host[..=i],
            _ => host,
        };
    }
    // A byte search: `str::rfind` sets up a character searcher that costs more than the search
    // on a host this short, on every proxied request.
    match host.bytes().rposition(|b| b == b':') {
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

/// Where the gateway's own cookies stand in a request's Cookie header(s): read in the pass
/// that finds the session cookie ([`scan_cookies`]), so that forwarding the request need not
/// read the header again in the common cases ([`take_cookies_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieLayout {
    /// No Cookie header, or one that holds none of ours: forwarded as it is.
    NoneOurs,
    /// One Cookie header that holds only ours: removed.
    OnlyOurs,
    /// Anything else (ours beside the application's, several headers, a value that is not
    /// text): rewritten, the application's own cookies joined in one header without ours.
    Rewrite,
}

/// The value of cookie `name`, as [`cookie`] reads it, and where the cookies named in `names`
/// stand, for [`take_cookies_as`]: one pass over the usual single Cookie header.
pub fn scan_cookies<'a, S: AsRef<str>>(
    req: &'a RequestHeader,
    name: &str,
    names: &[S],
) -> (Option<&'a str>, CookieLayout) {
    scan(req, Some(name), names)
}

/// [`scan_cookies`], and [`take_cookies`]'s own look (`name`: `None`) at the header(s).
fn scan<'a, S: AsRef<str>>(
    req: &'a RequestHeader,
    name: Option<&str>,
    names: &[S],
) -> (Option<&'a str>, CookieLayout) {
    let mut all = req.headers.get_all(http::header::COOKIE).iter();
    let Some(first) = all.next() else {
        return (None, CookieLayout::NoneOurs);
    };
    // One header, the common case, decided in one pass; several, or a value that is not text
    // (dropped when rewritten), go through the rewrite.
    let (None, Ok(s)) = (all.next(), first.to_str()) else {
        return (name.and_then(|n| cookie(req, n)), CookieLayout::Rewrite);
    };
    let (mut value, mut ours, mut theirs) = (None, false, false);
    // Positions found by `memchr` rather than `split` and `split_once`: on a header this
    // short, setting up `str`'s searches cost more than the searches (three per part, in the
    // profile).
    let bytes = s.as_bytes();
    let mut start = 0;
    while start <= bytes.len() {
        let end = memchr::memchr(b';', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let part = s[start..end].trim_ascii();
        start = end + 1;
        if part.is_empty() {
            continue;
        }
        let eq = memchr::memchr(b'=', part.as_bytes());
        let key = eq.map_or(part, |i| &part[..i]);
        if let (Some(i), None) = (eq, value) {
            if Some(key) == name {
                value = Some(part[i + 1..].trim_matches('"'));
            }
        }
        if is_our_key(key, names) {
            ours = true;
        } else {
            theirs = true;
        }
    }
    let layout = match (ours, theirs) {
        (false, _) => CookieLayout::NoneOurs,
        (true, false) => CookieLayout::OnlyOurs,
        (true, true) => CookieLayout::Rewrite,
    };
    (value, layout)
}

/// Whether one `name=value` part of a Cookie header is one of `names`. A valid header value is
/// visible ASCII, spaces and tabs: ASCII trimming is enough.
fn is_ours<S: AsRef<str>>(part: &str, names: &[S]) -> bool {
    is_our_key(part.split_once('=').map_or(part, |(k, _)| k), names)
}

/// Whether the name before a part's `=` (the whole part without one) is one of `names`.
fn is_our_key<S: AsRef<str>>(key: &str, names: &[S]) -> bool {
    let key = key.trim_ascii();
    names.iter().any(|n| n.as_ref() == key)
}

/// [`take_cookies`] when [`scan_cookies`] has already read the same header(s).
pub fn take_cookies_as<S: AsRef<str>>(
    req: &mut RequestHeader,
    names: &[S],
    layout: CookieLayout,
) -> Option<String> {
    match layout {
        CookieLayout::NoneOurs => None,
        CookieLayout::OnlyOurs => {
            let _ = req.remove_header(&http::header::COOKIE);
            None
        }
        CookieLayout::Rewrite => {
            let mut kept = String::new();
            for h in req.headers.get_all(http::header::COOKIE) {
                let Ok(s) = h.to_str() else { continue };
                for part in s.split(';') {
                    let part = part.trim();
                    if part.is_empty() || is_ours(part, names) {
                        continue;
                    }
                    if !kept.is_empty() {
                        kept.push_str("; ");
                    }
                    kept.push_str(part);
                }
            }
            let _ = req.remove_header(&http::header::COOKIE);
            (!kept.is_empty()).then_some(kept)
        }
    }
}

/// Removes cookies named in `names` from the Cookie header(s), keeping the application's own
/// in one header. Several Cookie headers (an HTTP/2 client may send each cookie in its own)
/// are joined with "; ", as an HTTP/1.1 upstream expects (RFC 9113, 8.2.3). Allocates only
/// when one of ours is present or there are several headers: one string for the new header.
pub fn strip_cookies<S: AsRef<str>>(req: &mut RequestHeader, names: &[S]) {
    if let Some(kept) = take_cookies(req, names) {
        let _ = req.insert_header(http::header::COOKIE, kept);
    }
}

/// [`strip_cookies`] for the proxy, which sends the header itself among the lines it adds
/// ([`append_gateway_headers`]): when the Cookie header(s) had to change, they are removed and
/// what the application may see is returned (`None` also when nothing had to change: one
/// header left as it is when none of ours is in it, removed when it holds only ours).
pub fn take_cookies<S: AsRef<str>>(req: &mut RequestHeader, names: &[S]) -> Option<String> {
    let layout = scan(req, None, names).1;
    take_cookies_as(req, names, layout)
}

/// The name of the cookie a Set-Cookie value sets, as the browser will read it.
pub fn cookie_name_of(set_cookie: &[u8]) -> &[u8] {
    let end = set_cookie
        .iter()
        .position(|&b| b == b'=' || b == b';')
        .unwrap_or(set_cookie.len());
    set_cookie[..end].trim_ascii()
}

/// Sets the headers the gateway adds to a request for an application, after everything the
/// client sent: the user's identity lines (`identity`, made once per user and application, see
/// `identity_cache`), the application's cookies when [`take_cookies`] had to rewrite them
/// (`cookies`), then where the request came from, from what the gateway itself knows:
/// the client address (see `client_ip`), the scheme it was received on and the host it asked
/// for (`forwarding.rs`, kept per thread). They go in one block of ready lines, written after
/// the request's own headers (a patched pingora-http, docs/pingora-patches.md): without
/// cookies to rewrite, two shared references and no copy; no header-map insertion. The
/// client's copies of these headers must already be gone ([`strip_identity_headers`]).
pub fn append_gateway_headers(
    req: &mut RequestHeader,
    identity: Option<&AppendedHeaders>,
    cookies: Option<&str>,
    ip: Option<std::net::IpAddr>,
    scheme: &'static str,
) -> pingora::Result<()> {
    let host = req
        .headers
        .get(http::header::HOST)
        .filter(|h| h.to_str().is_ok() && !h.is_empty())
        .map_or(&b""[..], |h| h.as_bytes());
    let forwarding = super::forwarding::lines(ip, scheme, host)?;
    let block = match cookies {
        None => match identity {
            Some(identity) => AppendedHeaders::pair(identity, &forwarding),
            None => forwarding,
        },
        Some(cookies) => {
            let mut block = AppendedHeaders::builder(cookies.len() + 10 + forwarding.len());
            if let Some(identity) = identity {
                block.extend(identity);
            }
            block.push(&http::header::COOKIE, cookies.as_bytes())?;
            block.extend(&forwarding);
            block.finish()
        }
    };
    req.set_appended_headers(block);
    Ok(())
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
pub(super) mod tests {
    use super::*;

    /// A request to `/x` with these headers, in order (also for reserved_headers' tests).
    pub(in crate::proxy) fn req(headers: &[(&str, &str)]) -> RequestHeader {
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
        assert_eq!(strip_port("[::1"), "[::1", "no closing bracket: no panic");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(
            strip_port("[o\\]\\[//"),
            "[o\\]\\[//",
            "nothing but a port is cut after the bracket"
        );
        assert_eq!(strip_port("["), "[");
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
    fn cookies_sent_in_several_headers_reach_the_application_in_one() {
        let mut r = req(&[("cookie", "a=1"), ("cookie", "b=2; c=3"), ("cookie", "d=4")]);
        strip_cookies(&mut r, &["convergences_app"]);
        let all: Vec<_> = r.headers.get_all("cookie").iter().collect();
        assert_eq!(all, ["a=1; b=2; c=3; d=4"]);
        // None of ours, one header empty, a name with spaces around it: still joined, the
        // empty header dropped, every part kept as the application would read it.
        let mut odd = req(&[
            ("cookie", "a=evil; Path=/"),
            ("cookie", " Secure-convergences_app =x"),
            ("cookie", ""),
        ]);
        strip_cookies(&mut odd, &["convergences_app"]);
        let all: Vec<_> = odd.headers.get_all("cookie").iter().collect();
        assert_eq!(all, ["a=evil; Path=/; Secure-convergences_app =x"]);
        assert_eq!(cookie(&odd, "Secure-convergences_app "), Some("x"));
        // Tabs count as spaces around a name, as they do for an application's parser.
        let mut tabs = req(&[("cookie", "a=1;\tconvergences_app\t=x;\tb=2")]);
        strip_cookies(&mut tabs, &["convergences_app"]);
        assert_eq!(tabs.headers["cookie"], "a=1; b=2");
        assert_eq!(cookie(&tabs, "b"), Some("2"));
        let mut one = req(&[("cookie", "a=1;b=2")]);
        strip_cookies(&mut one, &["convergences_app"]);
        assert_eq!(
            one.headers["cookie"], "a=1;b=2",
            "one header is left as sent"
        );
    }

    /// Where the gateway's cookies stand, read the plain way (`split`, `split_once`), to check
    /// the one pass of `scan_cookies` against something it does not share.
    fn reference_layout(r: &RequestHeader, names: &[&str]) -> CookieLayout {
        let all: Vec<_> = r.headers.get_all("cookie").iter().collect();
        let [one] = all[..] else {
            return match all.len() {
                0 => CookieLayout::NoneOurs,
                _ => CookieLayout::Rewrite,
            };
        };
        let Ok(s) = one.to_str() else {
            return CookieLayout::Rewrite;
        };
        let parts = s.split(';').map(str::trim).filter(|p| !p.is_empty());
        let keys: Vec<&str> = parts
            .map(|p| p.split_once('=').map_or(p, |(k, _)| k).trim())
            .collect();
        let ours = keys.iter().filter(|k| names.contains(k)).count();
        match (ours, keys.len() - ours) {
            (0, _) => CookieLayout::NoneOurs,
            (_, 0) => CookieLayout::OnlyOurs,
            _ => CookieLayout::Rewrite,
        }
    }

    /// The one pass of `scan_cookies` must read every Cookie header as `cookie` and
    /// `take_cookies` do: the same session cookie, and the same header for the application.
    #[test]
    fn one_scan_of_the_cookies_reads_them_as_the_two_passes_do() {
        let ours = ["convergences_app", "__Host-convergences_app", "csrf"];
        let parts = [
            "convergences_app=abc",
            "convergences_app=\"q\"",
            "convergences_app=",
            "convergences_app",
            " convergences_app =x",
            "\tconvergences_app\t=y",
            "__Host-convergences_app=h",
            "csrf=1",
            "a=1",
            "b=2=3",
            "convergences_apps=no",
            "=x",
            "",
            " ",
        ];
        let mut headers: Vec<Vec<String>> = vec![vec![]];
        for a in parts {
            headers.push(vec![a.to_string()]);
            for b in parts {
                headers.push(vec![format!("{a};{b}")]);
                headers.push(vec![format!("{a}; {b}; a=9")]);
                headers.push(vec![a.to_string(), b.to_string()]);
            }
        }
        for sent in headers {
            let mut r = req(&[]);
            for h in &sent {
                r.append_header("cookie", h.as_str()).unwrap();
            }
            let (token, layout) = scan_cookies(&r, "convergences_app", &ours);
            assert_eq!(token, cookie(&r, "convergences_app"), "{sent:?}");
            assert_eq!(layout, reference_layout(&r, &ours), "{sent:?}");
            let mut twice = r.clone();
            let kept = take_cookies(&mut twice, &ours);
            assert_eq!(take_cookies_as(&mut r, &ours, layout), kept, "{sent:?}");
            let seen = |r: &RequestHeader| -> Vec<Vec<u8>> {
                let all = r.headers.get_all("cookie").iter();
                all.map(|v| v.as_bytes().to_vec()).collect()
            };
            assert_eq!(seen(&r), seen(&twice), "{sent:?} ({layout:?})");
        }
        // The common cases are decided without a second pass.
        let layout = |h: &str| scan_cookies(&req(&[("cookie", h)]), "convergences_app", &ours).1;
        assert_eq!(layout("a=1; b=2"), CookieLayout::NoneOurs);
        assert_eq!(layout("convergences_app=x; csrf=2"), CookieLayout::OnlyOurs);
        assert_eq!(layout("convergences_app=x; a=1"), CookieLayout::Rewrite);
    }

    fn ip(text: &str) -> Option<std::net::IpAddr> {
        Some(text.parse().unwrap())
    }

    /// The value of an added header, as the application reads it.
    fn added(r: &RequestHeader, name: &str) -> Option<String> {
        r.appended_headers()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap().to_string())
    }

    #[test]
    fn forwarding_headers_come_from_the_gateway() {
        let mut r = req(&[("host", "bip.localhost:8080")]);
        append_gateway_headers(&mut r, None, None, ip("2001:db8::1"), "https").unwrap();
        assert_eq!(
            added(&r, "forwarded").unwrap(),
            "for=\"[2001:db8::1]\";proto=https;host=\"bip.localhost:8080\""
        );
        assert_eq!(added(&r, "x-forwarded-host").unwrap(), "bip.localhost:8080");
        assert_eq!(added(&r, "x-real-ip").unwrap(), "2001:db8::1");
        assert_eq!(added(&r, "x-forwarded-proto").unwrap(), "https");

        // A quote in the Host stays inside the quoted string; no Host, no X-Forwarded-Host;
        // no address, "unknown"; the identity lines come first, as they were made.
        let mut r = req(&[("host", "a\"b\\c")]);
        append_gateway_headers(&mut r, None, None, ip("192.0.2.1"), "http").unwrap();
        assert_eq!(
            added(&r, "forwarded").unwrap(),
            "for=192.0.2.1;proto=http;host=\"a\\\"b\\\\c\""
        );
        let mut r = req(&[]);
        let mut id = AppendedHeaders::builder(32);
        id.push(&http::HeaderName::from_static("x-convergences-user"), b"u")
            .unwrap();
        let id = id.finish();
        append_gateway_headers(&mut r, Some(&id), None, None, "http").unwrap();
        assert_eq!(
            added(&r, "forwarded").unwrap(),
            "for=unknown;proto=http;host=\"\""
        );
        assert_eq!(added(&r, "x-forwarded-host"), None);
        let mut wire = Vec::new();
        r.appended_headers().write_to(&mut wire);
        assert!(wire.starts_with(b"x-convergences-user: u\r\nforwarded: "));
        // The application's cookies, once ours are taken out, go with the added lines.
        let mut r = req(&[
            ("cookie", "a=1; convergences_app=secret"),
            ("cookie", "b=2"),
        ]);
        let kept = take_cookies(&mut r, &["convergences_app"]);
        assert_eq!(kept.as_deref(), Some("a=1; b=2"));
        assert!(r.headers.get("cookie").is_none());
        append_gateway_headers(&mut r, None, kept.as_deref(), ip("192.0.2.1"), "http").unwrap();
        assert_eq!(added(&r, "cookie").unwrap(), "a=1; b=2");
        // With identity lines too: identity, then the cookies, then where it came from.
        let mut r = req(&[("host", "bip.localhost")]);
        append_gateway_headers(&mut r, Some(&id), Some("a=1"), ip("192.0.2.1"), "http").unwrap();
        let mut wire = Vec::new();
        r.appended_headers().write_to(&mut wire);
        assert!(
            wire.starts_with(b"x-convergences-user: u\r\ncookie: a=1\r\nforwarded: for=192.0.2.1;")
        );
        let mut untouched = req(&[("cookie", "a=1")]);
        assert_eq!(take_cookies(&mut untouched, &["convergences_app"]), None);
        assert_eq!(untouched.headers["cookie"], "a=1");
    }

    #[test]
    fn set_cookie_names_are_read_like_a_browser() {
        assert_eq!(cookie_name_of(b"a=b; Path=/"), b"a");
        assert_eq!(
            cookie_name_of(b" convergences_session =x"),
            b"convergences_session"
        );
        assert_eq!(cookie_name_of(b"novalue"), b"novalue");
        assert_eq!(cookie_name_of(b""), b"");
    }
}
