//! Who the client is: the TCP peer, or, behind a trusted load balancer, the last untrusted hop
//! of its X-Forwarded-For chain (docs/security.md#brute-force).

use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// The client's address: the peer's, unless the peer is a trusted load balancer, in which case
/// the last address its X-Forwarded-For chain adds before reaching a trusted hop. `None` for a
/// peer without an IP address (a Unix socket).
pub fn client_ip(session: &Session, trusted: &[ipnet::IpNet]) -> Option<std::net::IpAddr> {
    let peer = session.client_addr()?.as_inet()?.ip();
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    Some(forwarded_client(session.req_header(), trusted).unwrap_or(peer))
}

/// `ip` as text in `buf` (no allocation: this is the per-request path); empty for `None`.
pub fn ip_text(ip: Option<std::net::IpAddr>, buf: &mut [u8; 48]) -> &str {
    use std::io::Write;
    let Some(ip) = ip else { return "" };
    if let std::net::IpAddr::V4(v4) = ip {
        // The common case, written by hand: the formatting machinery costs more than the rest
        // of this function.
        let mut end = 0;
        for (k, octet) in v4.octets().into_iter().enumerate() {
            if k > 0 {
                buf[end] = b'.';
                end += 1;
            }
            let digits = [octet / 100, octet / 10 % 10, octet % 10];
            let skip = if octet >= 100 {
                0
            } else if octet >= 10 {
                1
            } else {
                2
            };
            for d in &digits[skip..] {
                buf[end] = b'0' + d;
                end += 1;
            }
        }
        return std::str::from_utf8(&buf[..end]).unwrap_or("");
    }
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // An IPv6 address is at most 45 characters: the buffer always holds it.
    let _ = write!(cursor, "{ip}");
    let end = cursor.position() as usize;
    std::str::from_utf8(&buf[..end]).unwrap_or("")
}

pub fn forwarded_client(req: &RequestHeader, trusted: &[ipnet::IpNet]) -> Option<std::net::IpAddr> {
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    for h in req.headers.get_all("x-forwarded-for") {
        for part in h.to_str().ok()?.split(',') {
            hops.push(part.trim().parse().ok()?);
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
}

#[cfg(test)]
mod tests {
    use super::{forwarded_client, ip_text};

    #[test]
    fn addresses_are_written_in_full_without_allocating() {
        let mut buf = [0u8; 48];
        let longest: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        assert_eq!(
            ip_text(Some(longest), &mut buf),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        for text in [
            "203.0.113.9",
            "0.0.0.0",
            "255.255.255.255",
            "10.100.1.99",
            "1.20.3.40",
        ] {
            let v4: std::net::IpAddr = text.parse().unwrap();
            assert_eq!(ip_text(Some(v4), &mut buf), text);
        }
        let mapped: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ip_text(Some(mapped), &mut buf), "::ffff:192.0.2.1");
        assert_eq!(ip_text(None, &mut buf), "");
    }
    use pingora::http::RequestHeader;

    #[test]
    fn the_client_is_the_last_untrusted_forwarded_hop() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        r.append_header("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")
            .unwrap();
        assert_eq!(
            forwarded_client(&r, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        let mut bad = RequestHeader::build("GET", b"/", None).unwrap();
        bad.append_header("x-forwarded-for", "not-an-ip").unwrap();
        assert_eq!(forwarded_client(&bad, &trusted), None);
        let empty = RequestHeader::build("GET", b"/", None).unwrap();
        assert_eq!(forwarded_client(&empty, &trusted), None);
    }
}
