//! Who the client is: the TCP peer, or, behind a trusted load balancer, the last untrusted hop
//! of its X-Forwarded-For chain (docs/security.md#brute-force).

use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// The client's address: the peer's, unless the peer is a trusted load balancer, in which case
/// the last address its X-Forwarded-For chain adds before reaching a trusted hop.
pub fn client_ip(session: &Session, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
    else {
        return String::new();
    };
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&peer)) {
        return peer.to_string();
    }
    forwarded_client(session.req_header(), trusted)
        .unwrap_or(peer)
        .to_string()
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
    use super::forwarded_client;
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
