//! What an identity provider (or someone posing as one) sends back: its JWKS document
//! (`auth::oidc_client::jwt::KeySet::parse`) and signed JWTs, ID tokens and userinfo
//! (`jwt::verify`). Nothing may panic; no made-up token verifies against a real RSA key, whatever
//! its header says (`alg: none`, HMAC, unknown `kid`...).
//!
//! Input: the first line is tried as a JWKS document, the rest as a token; the whole input is
//! tried as a token too.
#![no_main]

use convergences::auth::oidc_client::jwt::{self, Expect, KeySet};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const JWKS: &str = include_str!("../../tests/it/fixtures/idp-keys.json");

fn keys() -> &'static KeySet {
    static K: OnceLock<KeySet> = OnceLock::new();
    K.get_or_init(|| {
        let all: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        let doc = serde_json::json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "key-1",
            "n": all["key1"]["n"], "e": all["key1"]["e"],
        }]});
        KeySet::parse(doc.to_string().as_bytes()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = s.split_once('\n').unwrap_or((s, ""));
    let _ = KeySet::parse(first.as_bytes());
    for require_exp in [true, false] {
        let e = Expect {
            issuer: "https://idp.example.fr",
            audience: "client",
            require_exp,
            algorithms: &[Algorithm::RS256, Algorithm::ES256],
        };
        for token in [s, rest] {
            let got = jwt::verify::<serde_json::Value>(token, keys(), &e);
            assert!(got.is_err(), "a made-up token verified: {token:?}");
        }
    }
});
