//! The forwarding lines the gateway adds to every request it proxies (`Forwarded`,
//! `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto`, `X-Forwarded-Host`): where the request
//! came from, from what the gateway itself knows. They depend only on the client address, the
//! scheme and the host asked for, which a user's requests repeat, so each proxy thread keeps
//! the lines it built for up to [`MAX_PER_THREAD`] of those it saw (emptied when full) and
//! hands out a shared reference instead of writing and checking the same lines again
//! (docs/architecture.md#a-request-to-an-application).

use super::client_addr::ip_text;
use foldhash::fast::RandomState as Fast;
use pingora::http::AppendedHeaders;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

/// Blocks kept per thread. With usual hosts a block and its key take about 250 bytes (about
/// 250 KB per thread); with the longest hosts kept, about 1.3 KB (1.3 MB). When full, the thread
/// starts again empty (the addresses of the moment come back at the cost of one build each).
const MAX_PER_THREAD: usize = 1024;

/// The address part of a key: a kind byte, then the 16 bytes of an IPv6 address or the first
/// 4 of them for IPv4 (the rest zero).
const ADDRESS: usize = 17;

/// Longest key kept: address, scheme, a separator and the host. A longer host is built each
/// time rather than kept.
const MAX_KEY: usize = 320;

thread_local! {
    /// By address (binary, so that its text is only written on a miss), then "scheme\nhost":
    /// neither a static scheme nor a header value holds a line feed.
    static BUILT: RefCell<HashMap<Box<[u8]>, AppendedHeaders, Fast>> =
        RefCell::new(HashMap::default());
}

/// The forwarding lines for a request from `ip` (`None` when unknown) received over `scheme`
/// for `host` (the Host header as sent, a checked header value; empty when absent).
pub fn lines(
    ip: Option<IpAddr>,
    scheme: &'static str,
    host: &[u8],
) -> pingora::Result<AppendedHeaders> {
    let len = ADDRESS + scheme.len() + 1 + host.len();
    if len > MAX_KEY {
        return build(ip, scheme, host);
    }
    let mut key = [0u8; MAX_KEY];
    match ip {
        None => {}
        Some(IpAddr::V4(v4)) => {
            key[0] = 4;
            key[1..5].copy_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            key[0] = 6;
            key[1..ADDRESS].copy_from_slice(&v6.octets());
        }
    }
    let mut at = ADDRESS;
    for part in [scheme.as_bytes(), b"\n", host] {
        key[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    let key = &key[..len];
    let kept = BUILT.try_with(|built| {
        // Only ever borrowed here, never across a call that could come back: `try_borrow_mut`
        // cannot fail, but a failure would only mean building once more.
        let mut built = built.try_borrow_mut().ok()?;
        if let Some(lines) = built.get(key) {
            return Some(Ok(lines.clone()));
        }
        let lines = match build(ip, scheme, host) {
            Ok(lines) => lines,
            Err(e) => return Some(Err(e)),
        };
        if built.len() >= MAX_PER_THREAD {
            built.clear();
        }
        built.insert(key.into(), lines.clone());
        Some(Ok(lines))
    });
    match kept {
        Ok(Some(lines)) => lines,
        _ => build(ip, scheme, host),
    }
}

fn build(
    ip: Option<IpAddr>,
    scheme: &'static str,
    host: &[u8],
) -> pingora::Result<AppendedHeaders> {
    use http::HeaderName;
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    let mut ip_buf = [0u8; 48];
    let ip = ip_text(ip, &mut ip_buf);
    let mut block = AppendedHeaders::builder(160 + 3 * ip.len() + 2 * host.len());
    let ip_b = ip.as_bytes();
    let for_part: [&[u8]; 3] = if ip.contains(':') {
        [b"for=\"[", ip_b, b"]\""]
    } else if ip.is_empty() {
        [b"for=unknown", b"", b""]
    } else {
        [b"for=", ip_b, b""]
    };
    // The host goes in a quoted string: a quote or a backslash in it is escaped (rare: only
    // then is a string made).
    let escaped;
    let host_part = if host.iter().any(|&b| b == b'"' || b == b'\\') {
        escaped = host
            .iter()
            .fold(Vec::with_capacity(host.len() + 8), |mut v, &b| {
                if b == b'"' || b == b'\\' {
                    v.push(b'\\');
                }
                v.push(b);
                v
            });
        &escaped[..]
    } else {
        host
    };
    block.push_parts(
        &http::header::FORWARDED,
        &[
            for_part[0],
            for_part[1],
            for_part[2],
            b";proto=",
            scheme.as_bytes(),
            b";host=\"",
            host_part,
            b"\"",
        ],
    )?;
    block.push(&X_FORWARDED_FOR, ip_b)?;
    block.push(&X_REAL_IP, ip_b)?;
    block.push(&X_FORWARDED_PROTO, scheme.as_bytes())?;
    if !host.is_empty() {
        block.push(&X_FORWARDED_HOST, host)?;
    }
    Ok(block.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &AppendedHeaders) -> String {
        let mut wire = Vec::new();
        lines.write_to(&mut wire);
        String::from_utf8(wire).unwrap()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_lines_say_where_the_request_came_from() {
        let l = lines(ip("192.0.2.7"), "https", b"bip.example.fr").unwrap();
        assert_eq!(
            text(&l),
            "forwarded: for=192.0.2.7;proto=https;host=\"bip.example.fr\"\r\n\
             x-forwarded-for: 192.0.2.7\r\n\
             x-real-ip: 192.0.2.7\r\n\
             x-forwarded-proto: https\r\n\
             x-forwarded-host: bip.example.fr\r\n"
        );
        let l = lines(ip("2001:db8::1"), "http", b"").unwrap();
        assert!(text(&l).starts_with("forwarded: for=\"[2001:db8::1]\";proto=http;host=\"\"\r\n"));
        assert!(!text(&l).contains("x-forwarded-host"));
        let l = lines(None, "http", br#"a"b\c"#).unwrap();
        assert!(text(&l).starts_with(r#"forwarded: for=unknown;proto=http;host="a\"b\\c""#));
    }

    #[test]
    fn each_address_scheme_and_host_keeps_its_own_lines() {
        let a = lines(ip("192.0.2.7"), "https", b"bip.example.fr").unwrap();
        let again = lines(ip("192.0.2.7"), "https", b"bip.example.fr").unwrap();
        assert_eq!(
            a.chunks()[1].as_ptr(),
            again.chunks()[1].as_ptr(),
            "kept, not rebuilt"
        );
        // Another address (the IPv6 one begins with the same four bytes), scheme or host is
        // another key.
        for (ip, scheme, host) in [
            (ip("192.0.2.70"), "https", &b"bip.example.fr"[..]),
            (ip("c000:207::"), "https", b"bip.example.fr"),
            (None, "https", b"bip.example.fr"),
            (ip("192.0.2.7"), "http", b"bip.example.fr"),
            (ip("192.0.2.7"), "https", b"bip.example.fr:8443"),
            (ip("192.0.2.7"), "https", b""),
        ] {
            let other = lines(ip, scheme, host).unwrap();
            assert_eq!(other, build(ip, scheme, host).unwrap());
            assert_ne!(other, a);
        }
    }

    #[test]
    fn a_full_thread_starts_again_and_a_long_host_is_built_each_time() {
        std::thread::spawn(|| {
            for i in 0..MAX_PER_THREAD + 10 {
                let ip = ip(&format!("10.0.{}.{}", i / 256, i % 256));
                assert_eq!(
                    lines(ip, "http", b"h").unwrap(),
                    build(ip, "http", b"h").unwrap()
                );
            }
            BUILT.with(|b| assert!(b.borrow().len() <= MAX_PER_THREAD));
            let host = vec![b'h'; MAX_KEY];
            let l = lines(ip("10.0.0.1"), "http", &host).unwrap();
            assert_eq!(l, build(ip("10.0.0.1"), "http", &host).unwrap());
            BUILT.with(|b| assert!(!b.borrow().keys().any(|k| k.len() > MAX_KEY)));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_value_no_header_may_hold_is_refused_and_not_kept() {
        assert!(lines(ip("10.0.0.1"), "http", b"bad\r\nhost").is_err());
        assert!(BUILT.with(|b| !b.borrow().keys().any(|k| k.ends_with(b"bad\r\nhost"))));
    }
}
