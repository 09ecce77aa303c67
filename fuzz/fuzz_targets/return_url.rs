//! Return URLs (`?return_to=` of the login form and of the application handshake):
//! `proxy::routes::RouteTable::validate_return`, on a table built once from a configuration
//! with a portal host, an application on its own host and one under a path prefix.
//!
//! The properties are the specification, whatever the implementation: a browser must never be
//! sent off-site. An accepted relative value starts with exactly one '/', and holds no ASCII
//! control character, no space and no backslash; an accepted absolute value is on the portal
//! host or a declared application host, on the configured scheme and port, without
//! credentials. And, read by a browser (WHATWG URL parsing, as `url` implements it) relative
//! to any page of ours, it lands on one of our hosts.
//!
//! Input: the raw return URL (UTF-8).
#![no_main]

use convergences::config::Config;
use convergences::proxy::routes::RouteTable;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use url::Url;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:8080"
portal_host = "auth.localhost"

[[apps]]
slug = "bip"
name = "BIP"
host = "bip.localhost"
upstreams = ["127.0.0.1:9001"]

[[apps]]
slug = "site"
name = "Site"
path_prefix = "/site"
upstreams = ["127.0.0.1:9003"]

[[apps]]
slug = "bip-admin"
name = "BIP admin"
host = "bip.localhost"
path_prefix = "/admin"
upstreams = ["127.0.0.1:9004"]
"#;

const HOSTS: [&str; 2] = ["auth.localhost", "bip.localhost"];

fn table() -> &'static RouteTable {
    static T: OnceLock<RouteTable> = OnceLock::new();
    T.get_or_init(|| {
        let t = RouteTable::new(&Config::from_toml("fuzz.toml", CONFIG, &[]).unwrap());
        assert_eq!((t.scheme, t.port_suffix.as_str()), ("http", ":8080"));
        t
    })
}

/// Pages of ours a browser could be on when it follows the redirect.
fn bases() -> &'static [Url] {
    static B: OnceLock<Vec<Url>> = OnceLock::new();
    B.get_or_init(|| {
        [
            "http://auth.localhost:8080/login",
            "http://auth.localhost:8080/aia/utilisateurs/3",
            "http://bip.localhost:8080/dossier/1?x=y",
        ]
        .iter()
        .map(|u| Url::parse(u).unwrap())
        .collect()
    })
}

fn assert_ours(u: &Url, raw: &str, v: &str) {
    assert_eq!(
        u.scheme(),
        "http",
        "{raw:?} accepted as {v:?}: scheme of {u}"
    );
    assert!(
        u.host_str().is_some_and(|h| HOSTS.contains(&h)),
        "{raw:?} accepted as {v:?}: a browser goes to {u}"
    );
    assert_eq!(
        u.port(),
        Some(8080),
        "{raw:?} accepted as {v:?}: port of {u}"
    );
    assert!(
        u.username().is_empty() && u.password().is_none(),
        "{raw:?}: credentials in {u}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let t = table();
    let Some(v) = t.validate_return(raw) else {
        return;
    };
    assert!(
        !v.is_empty() && v.len() <= 4 * 2048,
        "{raw:?} accepted as {v:?}"
    );
    if v.starts_with('/') {
        assert!(
            !v.starts_with("//") && !v.starts_with("/\\"),
            "{raw:?} accepted as a protocol-relative {v:?}"
        );
        assert!(
            !v.bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\'),
            "{raw:?} accepted as {v:?}: control character, space or backslash"
        );
    } else {
        let u = Url::parse(&v).unwrap_or_else(|e| panic!("{raw:?} accepted as {v:?}: {e}"));
        assert_ours(&u, raw, &v);
    }
    // What a browser does with it: resolve it against the page it is on.
    for base in bases() {
        let u = base
            .join(&v)
            .unwrap_or_else(|e| panic!("{raw:?} accepted as {v:?}, unusable from {base}: {e}"));
        assert_ours(&u, raw, &v);
    }
    // The normalised value is itself accepted, unchanged (while within the length limit:
    // percent-encoding may lengthen it).
    if v.len() <= 2048 {
        assert_eq!(
            t.validate_return(&v).as_deref(),
            Some(v.as_str()),
            "{raw:?}"
        );
    }
});
