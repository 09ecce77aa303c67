//! The header names a client may never send to an application: identity and forwarding
//! headers in every spelling an application server may fold into them, removed from each
//! proxied request (see [`strip_identity_headers`]).

use pingora::http::RequestHeader;

/// Headers through which a client could tell an application where the request came from.
/// The client's copies are removed, whatever their spelling; the gateway sets its own
/// (see [`append_gateway_headers`]).
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-forwarded-by",
    "x-forwarded-client-cert",
    "x-real-ip",
    "client-ip",
    "x-client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-originating-ip",
    "x-original-host",
    "x-host",
    "x-original-url",
    "x-rewrite-url",
    "x-url-scheme",
    "front-end-https",
];

/// Headers that applications behind authenticating proxies commonly take as the user's
/// identity: removed even when no application here is configured with them, since an
/// application server may trust them on its own (REMOTE_USER in CGI, for one).
const CONVENTIONAL_IDENTITY: &[&str] = &[
    "remote-user",
    "x-remote-user",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-authenticated-user",
];

/// Compares header names the way application servers may: case-insensitively, and with every
/// character other than a letter or a digit taken as the same separator (CGI, PHP, Rack,
/// WSGI and others fold `-` and `_` together; some fold `.` too).
fn same_folded(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.eq_ignore_ascii_case(y) || (!x.is_ascii_alphanumeric() && !y.is_ascii_alphanumeric())
        })
}

fn folded_prefix(name: &[u8], prefix: &[u8]) -> bool {
    name.len() >= prefix.len() && same_folded(&name[..prefix.len()], prefix)
}

/// The headers a client must never be able to send to an application: an identity header
/// (any `X-Convergences-*`, and the names an application is configured with) or a forwarding
/// header, in any spelling that an application server may fold into it. Built once per
/// application (`routes::AppRoute::reserved`), bucketed by length: a request's header is
/// compared only with the few names as long as it, on every request.
pub struct ReservedHeaders {
    /// `by_len[n]`: the reserved names of `n` bytes, lower-case.
    by_len: Vec<Vec<Box<[u8]>>>,
}

/// Every name with this prefix is reserved, whatever its spelling.
const OWN_PREFIX: &[u8] = b"x-convergences-";

impl ReservedHeaders {
    pub fn new(configured: &[&http::HeaderName]) -> ReservedHeaders {
        let mut by_len: Vec<Vec<Box<[u8]>>> = Vec::new();
        let fixed = FORWARDING.iter().chain(CONVENTIONAL_IDENTITY).copied();
        for name in fixed.chain(configured.iter().map(|c| c.as_str())) {
            let n = name.len();
            if by_len.len() <= n {
                by_len.resize_with(n + 1, Vec::new);
            }
            by_len[n].push(name.as_bytes().into());
        }
        ReservedHeaders { by_len }
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        folded_prefix(name, OWN_PREFIX)
            || self
                .by_len
                .get(name.len())
                .is_some_and(|names| names.iter().any(|f| same_folded(name, f)))
    }
}

/// Removes every identity and forwarding header a client sent (see [`ReservedHeaders`]): a
/// client must never be able to choose its identity or its address. Allocates only when one
/// is present.
pub fn strip_identity_headers(req: &mut RequestHeader, reserved: &ReservedHeaders) {
    let is_reserved = |k: &http::HeaderName| reserved.contains(k.as_str().as_bytes());
    if !req.headers.keys().any(is_reserved) {
        return;
    }
    let spoofed: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| is_reserved(k))
        .cloned()
        .collect();
    for k in spoofed {
        let _ = req.remove_header(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::headers::tests::req;

    #[test]
    fn identity_headers_are_stripped() {
        let mut r = req(&[
            ("x-convergences-user", "boss@x.fr"),
            ("X-Convergences-Roles", "administrateur"),
            ("remote-user", "boss"),
            ("accept", "text/html"),
        ]);
        let remote = http::HeaderName::from_static("remote-user");
        strip_identity_headers(&mut r, &ReservedHeaders::new(&[&remote]));
        assert_eq!(r.headers.len(), 1);
        assert!(r.headers.contains_key("accept"));
    }

    #[test]
    fn every_spelling_of_an_identity_or_forwarding_header_is_stripped() {
        let remote = http::HeaderName::from_static("remote-user");
        let spoofs = [
            "X_Convergences_User",
            "x-convergences_roles",
            "X.Convergences.Name",
            "Remote_User",
            "REMOTE.USER",
            "Forwarded",
            "X-Real-IP",
            "x_real_ip",
            "X-Forwarded-Host",
            "X_Forwarded_For",
            "Client-IP",
            "client_ip",
            "True-Client-IP",
            "X-Original-URL",
            "X_Forwarded_User",
            "x-auth-request-email",
        ];
        for name in spoofs {
            let mut r = req(&[(name, "evil"), ("x-app", "kept"), ("remote-userx", "kept")]);
            strip_identity_headers(&mut r, &ReservedHeaders::new(&[&remote]));
            assert_eq!(r.headers.len(), 2, "{name} survived");
            let mut r = req(&[(name, "evil"), ("x-app", "kept"), ("remote-userx", "kept")]);
            strip_identity_headers(&mut r, &ReservedHeaders::new(&[]));
            assert_eq!(r.headers.len(), 2, "{name} survived");
        }
    }

    #[test]
    fn every_reserved_name_is_found_in_any_spelling_and_no_longer_name_is() {
        let custom = http::HeaderName::from_static("x-bip-agent");
        let reserved = ReservedHeaders::new(&[&custom]);
        let names = FORWARDING
            .iter()
            .chain(CONVENTIONAL_IDENTITY)
            .copied()
            .chain([custom.as_str(), "x-convergences-anything"]);
        for name in names {
            let shouted = name.to_ascii_uppercase().replace('-', "_");
            for spelling in [name.to_string(), shouted, name.replace('-', ".")] {
                assert!(reserved.contains(spelling.as_bytes()), "{spelling}");
            }
            let longer = format!("{name}x");
            assert_eq!(
                reserved.contains(longer.as_bytes()),
                name.starts_with("x-convergences-"),
                "{longer}"
            );
        }
        assert!(!ReservedHeaders::new(&[]).contains(b"x-bip-agent"));
        assert!(!reserved.contains(b""));
    }
}
