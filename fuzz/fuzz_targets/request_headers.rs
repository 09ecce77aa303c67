//! The request headers the proxy reads on every request before any login: the Host header and
//! request target (`host_of`, `authority_of`, `strip_port`), the identity and forwarding headers
//! a client must never pass to an application (`strip_identity_headers`), and the `Forwarded`
//! header the gateway writes from the client's Host (`append_gateway_headers`).
//!
//! Input: line 1 = request target (raw bytes), line 2 = Host header value, further lines =
//! `name: value` headers.
#![no_main]

use convergences::proxy::headers::{
    append_gateway_headers, authority_of, host_of, strip_identity_headers, strip_port,
    ReservedHeaders,
};
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;

/// A header name as application servers may read it: lower case, any non-alphanumeric as '-'.
fn folded(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Reads the `host="..."` quoted string of our own Forwarded value; `None` if it is not exactly
/// `for=...;proto=...;host="<quoted-string>"`.
fn forwarded_host(v: &str) -> Option<String> {
    let rest = v.strip_prefix("for=")?;
    let (_, rest) = rest.split_once(";proto=")?;
    let (_, rest) = rest.split_once(";host=\"")?;
    let mut out = String::new();
    let mut chars = rest.chars();
    loop {
        match chars.next()? {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
}

fn is_prefix(short: &str, long: &str) -> bool {
    long.as_bytes().starts_with(short.as_bytes()) && short.len() <= long.len()
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let target = lines.next().unwrap_or_default();
    let host = lines.next();

    if let Ok(s) = std::str::from_utf8(data) {
        let p = strip_port(s);
        assert!(is_prefix(p, s), "strip_port({s:?}) = {p:?}");
    }

    let Ok(mut req) = RequestHeader::build("GET", target, None) else {
        return;
    };
    let host_value = host.and_then(|h| HeaderValue::from_bytes(h).ok());
    if let Some(v) = &host_value {
        req.append_header(http::header::HOST, v.clone()).unwrap();
    }
    for line in lines.take(32) {
        let Some(i) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..i]),
            HeaderValue::from_bytes(line[i + 1..].trim_ascii()),
        ) else {
            continue;
        };
        if n != http::header::HOST {
            req.append_header(n, v).unwrap();
        }
    }

    let h = host_of(&req);
    let seen = req
        .uri
        .host()
        .or_else(|| host_value.as_ref().and_then(|v| v.to_str().ok()))
        .unwrap_or("");
    assert!(is_prefix(h, seen), "host_of = {h:?} from {seen:?}");
    if !seen.contains(':') {
        assert_eq!(h, seen);
    }
    let a = authority_of(&req);
    if let Some(v) = host_value.as_ref().and_then(|v| v.to_str().ok()) {
        assert_eq!(a, v);
    }

    // No identity or forwarding header survives, whatever its spelling.
    let remote = HeaderName::from_static("remote-user");
    strip_identity_headers(&mut req, &ReservedHeaders::new(&[&remote]));
    for k in req.headers.keys() {
        let f = folded(k.as_str());
        assert!(
            !f.starts_with("x-convergences-")
                && ![
                    "remote-user",
                    "forwarded",
                    "x-forwarded-for",
                    "x-forwarded-host",
                    "x-real-ip"
                ]
                .contains(&f.as_str()),
            "{k} reached the application"
        );
    }

    // The client's Host goes into our Forwarded header as one quoted string, nothing more.
    for ip in ["203.0.113.7", "2001:db8::1"] {
        assert!(append_gateway_headers(&mut req, None, None, ip.parse().ok(), "https").is_ok());
        // What the application receives: the request's headers, then the added lines.
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let added: Vec<(HeaderName, HeaderValue)> = req.appended_headers().iter().collect();
        let mut appended = Vec::new();
        req.appended_headers().write_to(&mut appended);
        assert!(wire.ends_with(&appended));
        let lines = wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        assert_eq!(
            lines,
            req.headers.len() + added.len(),
            "one line per header, none split or joined"
        );
        let fwd: Vec<&HeaderValue> = added
            .iter()
            .filter(|(n, _)| n == "forwarded")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(fwd.len(), 1);
        let fwd = fwd[0].to_str().unwrap().to_string();
        let want = host_value
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(
            forwarded_host(&fwd).as_deref(),
            Some(want),
            "Forwarded: {fwd}"
        );
        let xff: Vec<_> = added.iter().filter(|(n, _)| n == "x-forwarded-for").collect();
        assert_eq!(xff.len(), 1);
        assert_eq!(xff[0].1, ip);
    }
});
