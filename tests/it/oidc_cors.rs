//! CORS of the provider's machine endpoints (docs/oidc-provider.md#cors): a single-page public
//! client reads discovery, the JWKS, its tokens and its UserInfo from its own origin (the
//! origin of a registered redirect URI); no other origin reads anything, and a confidential
//! client's or another client's answers are never readable cross-origin.

use crate::harness::TestGateway;
use crate::oidc_provider::{answer, authorize, gateway, pkce, query, signed_in};
use reqwest::blocking::Response;

const SPA: &str = "http://spa.test";

fn acao(r: &Response) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

fn get(t: &TestGateway, path: &str, origin: &str, bearer: Option<&str>) -> Response {
    let mut req = t.client(false).get(t.url("auth.test", path));
    if !origin.is_empty() {
        req = req.header("origin", origin);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().unwrap()
}

fn preflight(t: &TestGateway, path: &str, origin: &str, method: &str) -> Response {
    t.client(false)
        .request(reqwest::Method::OPTIONS, t.url("auth.test", path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .unwrap()
}

/// The public client's token request, from `origin`.
fn spa_token(t: &TestGateway, form: &[(&str, &str)], origin: &str) -> Response {
    t.client(false)
        .post(t.url("auth.test", "/oidc/token"))
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query(form))
        .send()
        .unwrap()
}

#[test]
fn documents_and_preflights_answer_the_clients_origins_only() {
    let t = gateway();
    // Documents: any client's origin, nobody else, never "*".
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        for origin in [SPA, "http://rp.test", "http://other.test"] {
            let r = get(&t, path, origin, None);
            assert_eq!(r.status(), 200);
            assert_eq!(acao(&r).as_deref(), Some(origin), "{path} {origin}");
            assert!(r.headers().get_all("vary").iter().any(|v| v == "Origin"));
        }
        for origin in [
            "http://evil.test",
            "null",
            "http://spa.test.evil.test",
            "http://spa.test:80",
        ] {
            assert_eq!(acao(&get(&t, path, origin, None)), None, "{path} {origin}");
        }
        assert_eq!(acao(&get(&t, path, "", None)), None);
        let r = preflight(&t, path, SPA, "GET");
        assert_eq!(r.status(), 204);
        assert_eq!(acao(&r).as_deref(), Some(SPA));
        let r = preflight(&t, path, "http://evil.test", "GET");
        assert_eq!(r.status(), 403);
        assert_eq!(acao(&r), None);
    }
    // Preflights of the token and UserInfo endpoints: public clients' origins only.
    for (path, method) in [("/oidc/token", "POST"), ("/oidc/userinfo", "GET")] {
        let r = preflight(&t, path, SPA, method);
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(acao(&r).as_deref(), Some(SPA));
        let methods = r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains(method), "{methods}");
        let allowed = r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(allowed.contains("authorization"), "{allowed}");
        assert!(r
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
        for origin in ["http://rp.test", "http://evil.test"] {
            let r = preflight(&t, path, origin, method);
            assert_eq!(r.status(), 403, "{path} {origin}");
            assert_eq!(acao(&r), None);
        }
    }
}

#[test]
fn a_public_client_reads_from_its_own_origin_and_nobody_else_does() {
    let t = gateway();
    // The code flow of the public client, its token request and UserInfo from its origin.
    let b = signed_in(&t);
    let (verifier, challenge) = pkce();
    let r = authorize(
        &b,
        &[
            ("response_type", "code"),
            ("client_id", "spa-client"),
            ("redirect_uri", "http://spa.test/cb"),
            ("scope", "openid email"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = answer(&r, "http://spa.test/cb")["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://spa.test/cb"),
        ("client_id", "spa-client"),
        ("code_verifier", verifier.as_str()),
    ];
    let r = spa_token(&t, &form, SPA);
    assert_eq!(r.status(), 200);
    assert_eq!(acao(&r).as_deref(), Some(SPA));
    let tok: serde_json::Value = r.json().unwrap();
    let access = tok["access_token"].as_str().unwrap();
    let r = get(&t, "/oidc/userinfo", SPA, Some(access));
    assert_eq!(r.status(), 200);
    assert_eq!(acao(&r).as_deref(), Some(SPA));
    // Another client's page cannot read this user's claims with the token it stole, nor a
    // page of no client at all.
    for origin in ["http://rp.test", "http://evil.test"] {
        let r = get(&t, "/oidc/userinfo", origin, Some(access));
        assert_eq!(r.status(), 200, "the token itself still works server-side");
        assert_eq!(acao(&r), None, "{origin}");
    }
    // An error for the public client is readable by it (to know what went wrong)...
    let r = spa_token(&t, &form, SPA);
    assert_eq!(r.status(), 400, "a code works once");
    assert_eq!(acao(&r).as_deref(), Some(SPA));
    // ...but a confidential client's token answers never are, even from its own origin.
    let r = t
        .client(false)
        .post(t.url("auth.test", "/oidc/token"))
        .header("origin", "http://rp.test")
        .basic_auth("rp-client", Some(crate::oidc_provider::SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(acao(&r), None);
    // A page of the public client's origin naming the confidential client reads nothing.
    let r = t
        .client(false)
        .post(t.url("auth.test", "/oidc/token"))
        .header("origin", SPA)
        .basic_auth("rp-client", Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(acao(&r), None);
}
