//! The OpenID Connect provider's parsers of untrusted input: parameters of authorization,
//! token and logout requests (`oidc::params`), the authorization request's validation
//! (`oidc::request`), client credentials (`oidc::client_auth`), PKCE (`oidc::pkce`) and the
//! UserInfo access token (`oidc::bearer`).
//!
//! Properties: nothing panics; a parameter is never read twice differently (repeats are
//! refused); an accepted request's redirect URI is a registered one, byte for byte; the request
//! the login page comes back to validates to the same request; an access token is read from
//! the header or the body, never from both.
//!
//! Input: a query string or form body; its first line is also tried as an Authorization header.
#![no_main]

use convergences::config::{ClientSecret, IdTokenAlg, OidcClient, Secret};
use convergences::oidc::{bearer, client_auth, params, pkce, request};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fn client(public: bool) -> OidcClient {
    OidcClient {
        client_id: "rp".into(),
        secret: if public {
            ClientSecret::None
        } else {
            ClientSecret::Plain(Secret("0123456789abcdef".into()))
        },
        redirect_uris: vec![
            "https://rp.example/cb".into(),
            "https://rp.example/cb?x=1".into(),
        ],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        id_token_alg: IdTokenAlg::Rs256,
        offline_access: true,
        access_token_ttl: Duration::from_secs(60),
        id_token_ttl: Duration::from_secs(60),
        refresh_token_ttl: Duration::from_secs(60),
    }
}

fuzz_target!(|data: &[u8]| {
    let header = std::str::from_utf8(data.split(|b| *b == b'\n').next().unwrap_or(b"")).ok();
    let form = Some("application/x-www-form-urlencoded");
    if let Ok(t) = bearer::presented(header, form, data) {
        let from_body = bearer::presented(None, form, data).ok();
        let from_header = bearer::presented(header, None, b"").ok();
        assert!(
            from_body.is_none() || from_header.is_none(),
            "a token in both places is refused"
        );
        assert!(Some(&t) == from_body.as_ref() || Some(&t) == from_header.as_ref());
    }
    let Ok(p) = params::parse(data) else {
        return;
    };
    for v in p.values() {
        let _ = pkce::verify(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
    let _ = client_auth::presented(header, &p);
    for public in [false, true] {
        let c = client(public);
        match request::validate(&p, Some(&c)) {
            Ok(r) => {
                assert!(c.redirect_uris.contains(&r.redirect_uri));
                assert_eq!(r.scopes.first().map(String::as_str), Some("openid"));
                assert!(
                    !public || r.code_challenge.is_some(),
                    "public client without PKCE"
                );
                let back = r.return_path(r.fresh_after);
                let q = back.split_once('?').map(|(_, q)| q).unwrap_or("");
                let again = params::parse(q.as_bytes()).expect("our own query parses");
                let r2 = request::validate(&again, Some(&c)).expect("our own query validates");
                assert_eq!(r2.redirect_uri, r.redirect_uri);
                assert_eq!(r2.scopes, r.scopes);
                assert_eq!(r2.state, r.state);
                assert_eq!(r2.nonce, r.nonce);
                assert_eq!(r2.code_challenge, r.code_challenge);
            }
            Err(request::AuthError::Redirect { redirect_uri, .. }) => {
                assert!(
                    c.redirect_uris.contains(&redirect_uri),
                    "error sent to {redirect_uri:?}"
                );
            }
            Err(request::AuthError::Page(_)) => {}
        }
    }
});
