//! The OpenID Connect provider, driven over HTTP like a relying party and a browser would
//! (docs/oidc-provider.md): the attack classes, revocation, logout and interoperability. The
//! modules of the OpenID Foundation's Basic OP certification plan each have their test, named
//! after them, in `oidc_conformance.rs` (docs/oidc-provider.md#conformance).

use crate::harness::{csrf_of, redis_url, Options, TestGateway, PASSWORD};
use base64::Engine;
use reqwest::blocking::Response;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

pub(crate) const SECRET: &str = "rp-secret-0123456789-abcdef";
pub(crate) const OTHER_SECRET: &str = "other-secret-0123456789-xyz";
pub(crate) const RP_CB: &str = "http://rp.test/cb";
pub(crate) const RP_BYE: &str = "http://rp.test/bye";
pub(crate) const AGENT: &str = "agent@mairie-exemple.fr";

pub(crate) fn hash(secret: &'static str) -> String {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<&'static str, String>>> = OnceLock::new();
    let m = CACHE.get_or_init(Default::default);
    let mut m = m.lock().unwrap();
    m.entry(secret)
        .or_insert_with(|| convergences::auth::password::hash_blocking(secret).unwrap())
        .clone()
}

/// Three clients: `rp-client` (confidential, RS256, refresh tokens), `other-client`
/// (confidential, EdDSA, refresh tokens) and `spa-client` (public, PKCE mandatory), on OpenID
/// Connect-only applications.
pub(crate) fn apps(backchannel: Option<&str>) -> String {
    let bc = backchannel
        .map(|u| format!("backchannel_logout_uri = \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[[apps]]
slug = "rp"
name = "Démo OpenID Connect"
url = "http://rp.test/"
[apps.oidc]
client_id = "rp-client"
client_secret_hash = "{h1}"
redirect_uris = ["{RP_CB}", "http://rp.test/cb2?x=1"]
post_logout_redirect_uris = ["{RP_BYE}"]
offline_access = true
{bc}
[[apps]]
slug = "other"
name = "Autre application"
url = "http://other.test/"
[apps.oidc]
client_id = "other-client"
client_secret_hash = "{h2}"
redirect_uris = ["http://other.test/cb"]
id_token_signed_response_alg = "EdDSA"
offline_access = true
[[apps]]
slug = "spa"
name = "Application monopage"
url = "http://spa.test/"
[apps.oidc]
client_id = "spa-client"
public = true
redirect_uris = ["http://spa.test/cb"]
"#,
        h1 = hash(SECRET),
        h2 = hash(OTHER_SECRET),
    )
}

pub(crate) fn gateway() -> TestGateway {
    start(None, None)
}

pub(crate) fn start(
    backchannel: Option<&str>,
    share: Option<crate::harness::Shared>,
) -> TestGateway {
    let t = TestGateway::start_with(Options {
        extra_apps: apps(backchannel),
        share,
        ..Default::default()
    });
    grant(&t, AGENT, "rp", "utilisateur");
    grant(&t, AGENT, "spa", "utilisateur");
    grant(&t, AGENT, "other", "utilisateur");
    t
}

pub(crate) fn grant(t: &TestGateway, email: &str, app: &str, role: &str) {
    let id = t.user_id(email);
    t.block_on(async {
        let s =
            t.gw.dir
                .structure_by_name("mairie-exemple")
                .await
                .unwrap()
                .unwrap();
        t.gw.dir.assign_role(id, app, role, s.id, None).await.ok();
    });
    t.gw.user_changed(id);
}

pub(crate) fn pkce() -> (String, String) {
    let verifier = format!("{}{}", convergences::auth::random_token(), "-._~abc");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The authorization request of `rp-client`, with `extra` replacing or adding parameters
/// (an empty value removes one).
pub(crate) fn auth_params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "rp-client"),
        ("redirect_uri", RP_CB),
        (
            "scope",
            "openid profile email phone address roles structure offline_access",
        ),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    p
}

pub(crate) fn authorize(b: &crate::harness::Browser, pairs: &[(&str, &str)]) -> Response {
    b.client
        .get(b.t.url("auth.test", &format!("/oidc/authorize?{}", query(pairs))))
        .send()
        .unwrap()
}

pub(crate) fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The query parameters of a redirect to the client.
pub(crate) fn answer(r: &Response, to: &str) -> HashMap<String, String> {
    assert_eq!(r.status(), 302, "redirect expected");
    let loc = location(r);
    assert!(loc.starts_with(to), "{loc} should go to {to}");
    let u = url::Url::parse(&loc).unwrap();
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A token request; `basic` authenticates in the header, otherwise the form carries what the
/// test gave.
pub(crate) fn token(
    t: &TestGateway,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = t
        .client(false)
        .post(t.url("auth.test", "/oidc/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query(form));
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

pub(crate) fn userinfo(t: &TestGateway, access: &str) -> (u16, Value) {
    let r = t
        .client(false)
        .get(t.url("auth.test", "/oidc/userinfo"))
        .bearer_auth(access)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// The login form the authorization endpoint sent `b` to (`r`), answered with the password;
/// the browser then follows the way back to the authorization endpoint, whose answer this is.
pub(crate) fn sign_in_from(b: &crate::harness::Browser, r: Response) -> Response {
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert!(loc.starts_with("/login?"), "the login form: {loc}");
    let (page, _) = b.visit(&b.t.url("auth.test", &loc));
    let html = page.text().unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    let return_to = url::Url::parse(&b.t.url("auth.test", &loc))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .expect("return_to")
        .1
        .into_owned();
    let r = b
        .client
        .post(b.t.url("auth.test", "/login"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", AGENT),
            ("password", PASSWORD),
            ("return_to", &return_to),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    b.client
        .get(b.t.url("auth.test", &location(&r)))
        .send()
        .unwrap()
}

/// The test account's phone number and postal address, for the phone and address scopes.
pub(crate) fn give_contact(t: &TestGateway) {
    let id = t.user_id(AGENT);
    t.block_on(async {
        sqlx::query("UPDATE users SET phone = '01 02 03 04 05', postal_address = '1 place de la Mairie' WHERE id = $1")
            .bind(id)
            .execute(&t.gw.dir.pool)
            .await
            .unwrap();
    });
    t.gw.user_changed(id);
}

/// A browser of the agent, signed in.
pub(crate) fn signed_in(t: &TestGateway) -> crate::harness::Browser<'_> {
    t.signed_in(AGENT)
}

/// Code flow of `rp-client` with PKCE: returns the code and verifier.
pub(crate) fn code(b: &crate::harness::Browser, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut e = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    e.extend_from_slice(extra);
    let r = authorize(b, &auth_params(&e));
    let q = answer(&r, RP_CB);
    assert_eq!(q["state"], "st-123");
    (q["code"].clone(), verifier)
}

pub(crate) fn redeem(t: &TestGateway, code: &str, verifier: &str) -> (u16, Value) {
    token(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_CB),
            ("code_verifier", verifier),
        ],
        Some(("rp-client", SECRET)),
    )
}

/// The discovery document.
pub(crate) fn discovery(t: &TestGateway) -> Value {
    t.client(false)
        .get(t.url("auth.test", "/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

pub(crate) fn jwks(t: &TestGateway) -> jsonwebtoken::jwk::JwkSet {
    t.client(false)
        .get(t.url("auth.test", "/.well-known/jwks.json"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Verifies a JWT like a relying party: key by `kid` from the JWKS, algorithm, issuer, audience.
pub(crate) fn verify(
    t: &TestGateway,
    jwt: &str,
    alg: jsonwebtoken::Algorithm,
    aud: &str,
) -> Option<Value> {
    let header = jsonwebtoken::decode_header(jwt).ok()?;
    let set = jwks(t);
    let jwk = set.find(header.kid.as_deref()?)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[t.gw.config.public_url.as_str()]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .ok()
        .map(|d| d.claims)
}

/// The whole life of a grant: discovery, code flow with PKCE and every scope, the ID token's
/// claims, UserInfo, refresh token rotation (a reused one revokes the chain), RP-initiated
/// logout with the ID token as hint.
#[test]
fn code_flow_with_pkce_userinfo_refresh_and_rp_logout() {
    let t = gateway();
    give_contact(&t);
    let disco = discovery(&t);
    let issuer = t.gw.config.public_url.clone();
    assert_eq!(disco["issuer"], issuer.as_str());
    assert_eq!(disco["token_endpoint"], format!("{issuer}/oidc/token"));
    assert_eq!(
        disco["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    let b = signed_in(&t);
    let (code, verifier) = code(&b, &[]);
    let (status, tok) = redeem(&t, &code, &verifier);
    assert_eq!(status, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    let idt = tok["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(idt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(header.kid.is_some());
    let claims = verify(&t, idt, jsonwebtoken::Algorithm::RS256, "rp-client").expect("verifies");
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["email"], AGENT);
    assert_eq!(claims["given_name"], "Agnès");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "eidas1");
    assert!(claims["auth_time"].as_i64().unwrap() > 0);
    assert_eq!(
        claims["roles"],
        serde_json::json!([{ "role": "utilisateur", "structure": "mairie-exemple" }])
    );

    let access = tok["access_token"].as_str().unwrap();
    let (status, info) = userinfo(&t, access);
    assert_eq!(status, 200);
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["phone_number"], "01 02 03 04 05");
    assert_eq!(info["address"]["formatted"], "1 place de la Mairie");
    assert_eq!(info["structure"], "mairie-exemple");
    let post = t
        .client(false)
        .post(t.url("auth.test", "/oidc/userinfo"))
        .bearer_auth(access)
        .send()
        .unwrap();
    assert_eq!(post.status(), 200);

    // Refresh: rotated; the old one replayed revokes the chain.
    let r1 = tok["refresh_token"].as_str().unwrap().to_string();
    let (status, tok2) = token(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 200, "{tok2}");
    let r2 = tok2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(userinfo(&t, tok2["access_token"].as_str().unwrap()).0, 200);
    let (status, err) = token(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = token(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 400, "the reuse revoked the newer token too");
    assert_eq!(
        userinfo(&t, tok2["access_token"].as_str().unwrap()).0,
        401,
        "and its access token"
    );

    // A new grant, then RP-initiated logout with the ID token as hint.
    let (code, verifier) = self::code(&b, &[]);
    let (_, tok) = redeem(&t, &code, &verifier);
    let r = b
        .client
        .get(t.url(
            "auth.test",
            &format!(
                "/oidc/logout?{}",
                query(&[
                    ("id_token_hint", tok["id_token"].as_str().unwrap()),
                    ("post_logout_redirect_uri", RP_BYE),
                    ("state", "bye-1"),
                ])
            ),
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{RP_BYE}?state=bye-1"));
    let (page, url) = b.visit(&t.url("auth.test", "/"));
    assert!(url.contains("/login"), "signed out: {url}");
    drop(page);
    assert_eq!(
        userinfo(&t, tok["access_token"].as_str().unwrap()).0,
        401,
        "logout ends the tokens"
    );
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 400);
}

/// An unregistered redirect URI gets a French page and no redirect, whatever its resemblance
/// to a registered one (a query added, changed or missing, a trailing slash, another case,
/// scheme or port, none at all); a registered URI with a query keeps it.
#[test]
fn unregistered_redirect_uris_stop_on_a_french_page() {
    let t = gateway();
    let b = signed_in(&t);
    for bad in [
        "http://rp.test/cb/",
        "http://rp.test/cb/../evil",
        "http://rp.test/cbx",
        "http://RP.test/cb",
        "http://rp.test/CB",
        "http://rp.test/cb#frag",
        "http://rp.test/cb?x=1",
        "http://rp.test/cb2",
        "http://rp.test/cb2?x=1&y=2",
        "http://rp.test.evil.fr/cb",
        "https://rp.test/cb",
        "http://rp.test:80/cb",
        "",
    ] {
        let r = authorize(&b, &auth_params(&[("redirect_uri", bad)]));
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "{bad}");
        let html = r.text().unwrap();
        assert!(html.contains("adresse de retour"), "{bad}: {html}");
    }
    // A registered URI with a query keeps it.
    let (_, challenge) = pkce();
    let r = authorize(
        &b,
        &auth_params(&[
            ("redirect_uri", "http://rp.test/cb2?x=1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]),
    );
    let q = answer(&r, "http://rp.test/cb2?x=1&");
    assert_eq!(q["x"], "1");
    assert!(q.contains_key("code"));
    // Unknown client, and a repeated parameter: pages too.
    let r = authorize(&b, &auth_params(&[("client_id", "nobody")]));
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let mut twice = auth_params(&[]);
    twice.push(("redirect_uri", "http://evil.test/cb"));
    let r = authorize(&b, &twice);
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

/// Errors after a registered redirect URI go back to the client (response type, scope,
/// request object, malformed or downgraded PKCE); what the provider does not use is ignored;
/// a scope not asked for gives no claim.
#[test]
fn request_errors_go_back_and_unknown_parameters_are_ignored() {
    let t = gateway();
    let b = signed_in(&t);
    for (extra, want) in [
        (vec![("response_type", "")], "unsupported_response_type"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "profile email")], "invalid_scope"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            vec![("code_challenge", "abc"), ("code_challenge_method", "S256")],
            "invalid_request",
        ),
        (
            vec![
                ("code_challenge_method", "plain"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
            ],
            "invalid_request",
        ),
    ] {
        let r = authorize(&b, &auth_params(&extra));
        let q = answer(&r, RP_CB);
        assert_eq!(q["error"], want, "{extra:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], t.gw.config.public_url.as_str());
    }
    for extra in [
        vec![
            ("nonce", ""),
            ("display", "popup"),
            ("ui_locales", "fr-FR en"),
            ("claims_locales", "fr"),
        ],
        vec![
            ("unknown_param", "x"),
            ("display", "page"),
            ("acr_values", "eidas2 eidas1"),
        ],
        vec![("scope", "email openid"), ("prompt", "consent")],
    ] {
        let (code, verifier) = code(&b, &extra);
        let (status, tok) = redeem(&t, &code, &verifier);
        assert_eq!(status, 200, "{extra:?}: {tok}");
    }
    let (code, verifier) = code(&b, &[("scope", "email openid"), ("nonce", "")]);
    let (_, tok) = redeem(&t, &code, &verifier);
    let claims = verify(
        &t,
        tok["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS256,
        "rp-client",
    )
    .unwrap();
    assert!(claims.get("nonce").is_none());
    assert_eq!(claims["email"], AGENT);
    assert!(claims.get("given_name").is_none(), "profile was not asked");
    assert!(
        tok.get("refresh_token").is_none(),
        "offline_access was not asked"
    );
    // The same request as a form.
    let (_, challenge) = pkce();
    let r = b
        .client
        .post(t.url("auth.test", "/oidc/authorize"))
        .form(&auth_params(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .send()
        .unwrap();
    assert!(answer(&r, RP_CB).contains_key("code"));
}

/// The token endpoint's attack classes: a replayed code revokes what it issued; a code is bound
/// to its client, its redirect URI and its PKCE verifier; secrets are checked, by one method
/// at a time.
#[test]
fn codes_are_single_use_and_bound_to_client_redirect_and_verifier() {
    let t = gateway();
    let b = signed_in(&t);
    // Replay.
    let (c, v) = code(&b, &[]);
    let (status, tok) = redeem(&t, &c, &v);
    assert_eq!(status, 200);
    let (status, err) = redeem(&t, &c, &v);
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(&t, tok["access_token"].as_str().unwrap()).0,
        401,
        "the replay revoked the first tokens"
    );

    // client_secret_post works; a wrong secret, an unknown client, both methods at once do not.
    let (c, v) = code(&b, &[]);
    let form = |secret: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", c.clone()),
            ("redirect_uri", RP_CB.into()),
            ("code_verifier", v.clone()),
            ("client_id", "rp-client".into()),
            ("client_secret", secret.into()),
        ]
    };
    let as_ref = |f: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { f.clone() };
    let send = |f: Vec<(&'static str, String)>, basic: Option<(&str, &str)>| {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token(&t, &pairs, basic)
    };
    let (status, err) = send(as_ref(&form("wrong-secret")), None);
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = send(as_ref(&form(SECRET)), Some(("rp-client", SECRET)));
    assert_eq!(status, 401, "two authentication methods");
    let (status, err) = send(as_ref(&form(SECRET)), None);
    assert_eq!(status, 200, "client_secret_post: {err}");

    // A code presented by another (authenticated) client, or with another redirect URI, or
    // another verifier, is refused and burnt.
    let (c, v) = code(&b, &[]);
    let (status, err) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", RP_CB),
            ("code_verifier", &v),
        ],
        Some(("other-client", OTHER_SECRET)),
    );
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(redeem(&t, &c, &v).0, 400, "burnt");
    let (c, v) = code(&b, &[]);
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", "http://rp.test/cb2?x=1"),
            ("code_verifier", &v),
        ],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 400);
    let (c, _) = code(&b, &[]);
    let (other_verifier, _) = pkce();
    assert_eq!(redeem(&t, &c, &other_verifier).0, 400);
    let (c, _) = code(&b, &[]);
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", RP_CB),
        ],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 400, "verifier missing");
    // Downgrade: a code issued without a challenge redeemed with a verifier.
    let r = authorize(&b, &auth_params(&[]));
    let q = answer(&r, RP_CB);
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", RP_CB),
            ("code_verifier", &other_verifier),
        ],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 400);
    let (status, err) = token(
        &t,
        &[("grant_type", "password"), ("username", AGENT)],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

/// Public clients: PKCE is mandatory and no secret is accepted.
#[test]
fn public_clients_need_pkce() {
    let t = gateway();
    let b = signed_in(&t);
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", "spa-client"),
            ("redirect_uri", "http://spa.test/cb"),
            ("scope", "openid"),
            ("state", "s"),
        ];
        p.extend_from_slice(extra);
        p
    };
    let r = authorize(&b, &base(&[]));
    assert_eq!(answer(&r, "http://spa.test/cb")["error"], "invalid_request");
    let (verifier, challenge) = pkce();
    let mut p = base(&[("code_challenge_method", "S256")]);
    p.push(("code_challenge", &challenge));
    let r = authorize(&b, &p);
    let c = answer(&r, "http://spa.test/cb")["code"].clone();
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", "http://spa.test/cb"),
            ("client_id", "spa-client"),
            ("client_secret", "guess"),
            ("code_verifier", &verifier),
        ],
        None,
    );
    assert_eq!(status, 401, "a public client presents no secret");
    let r = authorize(&b, &p);
    let c = answer(&r, "http://spa.test/cb")["code"].clone();
    let (status, tok) = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", "http://spa.test/cb"),
            ("client_id", "spa-client"),
            ("code_verifier", &verifier),
        ],
        None,
    );
    assert_eq!(status, 200, "{tok}");
}

/// `prompt`, `max_age` and `login_hint` through the login form: an anonymous browser signs in
/// and comes back to the request; `prompt=login` and `max_age=0` ask a signed-in one for the
/// password again.
#[test]
fn prompt_max_age_and_login_hint() {
    let t = gateway();
    let anon = t.browser();
    let r = authorize(&anon, &auth_params(&[("prompt", "none")]));
    assert_eq!(answer(&r, RP_CB)["error"], "login_required");
    let r = authorize(&anon, &auth_params(&[("login_hint", AGENT)]));
    assert_eq!(r.status(), 302);
    let login = location(&r);
    assert!(login.starts_with("/login?return_to="), "{login}");
    let (page, _) = anon.visit(&t.url("auth.test", &login));
    let html = page.text().unwrap();
    assert!(
        html.contains(&format!("value=\"{AGENT}\"")),
        "login_hint pre-fills the e-mail"
    );
    // Signing in comes back to the request, which now answers with a code.
    let return_to = url::Url::parse(&t.url("auth.test", &login))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let (status, loc) = anon.login_with_return(AGENT, PASSWORD, &return_to);
    assert_eq!(status, 303);
    let r = anon.client.get(t.url("auth.test", &loc)).send().unwrap();
    assert!(answer(&r, RP_CB).contains_key("code"));

    let b = signed_in(&t);
    let r = authorize(&b, &auth_params(&[("prompt", "none")]));
    assert!(answer(&r, RP_CB).contains_key("code"));
    let r = authorize(&b, &auth_params(&[("max_age", "10000")]));
    assert!(answer(&r, RP_CB).contains_key("code"));
    // prompt=login (and max_age=0, older than the session) ask for the password again; the
    // new ID token says when.
    for extra in [("prompt", "login"), ("max_age", "0")] {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let before = convergences::directory::now();
        let r = authorize(&b, &auth_params(&[extra]));
        let loc = location(&r);
        assert!(
            loc.starts_with("/login?return_to=") && loc.contains("reauth=1"),
            "{extra:?}: {loc}"
        );
        // The form is shown despite the session.
        let r = sign_in_from(&b, r);
        let q = answer(&r, RP_CB);
        let (_, tok) = token(
            &t,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", RP_CB),
            ],
            Some(("rp-client", SECRET)),
        );
        let claims = verify(
            &t,
            tok["id_token"].as_str().unwrap(),
            jsonwebtoken::Algorithm::RS256,
            "rp-client",
        )
        .unwrap();
        assert!(claims["auth_time"].as_i64().unwrap() >= before, "{extra:?}");
    }
}

/// The proxy's authorisation rules: no role, no code (French 403); a locked account, a role
/// removed, a password changed end the tokens; an access token gives only its application's
/// roles.
/// `id_token_hint` at authorization names the person the client expects: a code only when
/// that person is the one signed in (OpenID Connect Core section 3.1.2.1); another person's
/// token, whatever the prompt, gets `login_required` and no code; a token that is not this
/// provider's ID token (an assertion of the proxy, a forged or re-signed one) `invalid_request`.
#[test]
fn id_token_hint_must_name_the_signed_in_user() {
    const OTHER: &str = "agent.ccas@mairie-exemple.fr";
    let t = gateway();
    grant(&t, OTHER, "rp", "utilisateur");
    let id_token_of = |email: &str| {
        let b = t.signed_in(email);
        let (c, v) = code(&b, &[]);
        let (status, tok) = redeem(&t, &c, &v);
        assert_eq!(status, 200, "{tok}");
        tok["id_token"].as_str().unwrap().to_string()
    };
    let own = id_token_of(AGENT);
    let other = id_token_of(OTHER);
    let b = signed_in(&t);
    let (_, challenge) = pkce();
    let with = |hint: &str, prompt: &str| {
        let r = authorize(
            &b,
            &auth_params(&[
                ("id_token_hint", hint),
                ("prompt", prompt),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]),
        );
        answer(&r, RP_CB)
    };
    for prompt in ["none", ""] {
        let q = with(&own, prompt);
        assert!(q.contains_key("code"), "{prompt:?}: {q:?}");
        let q = with(&other, prompt);
        assert_eq!(q["error"], "login_required", "{prompt:?}: {q:?}");
        assert!(!q.contains_key("code"));
        assert_eq!(q["state"], "st-123");
    }
    // Not an ID token of this provider: the proxy's assertion, a token cut short, another
    // token's signature.
    let id = t.user_id(AGENT);
    let assertion = t.block_on(async {
        let ident = t.gw.identities.get(&t.gw.dir, id).await.unwrap().unwrap();
        let now = convergences::directory::now();
        let h = ident
            .headers_for(
                &t.gw.routes().apps[0],
                &t.gw.signer,
                &convergences::session::Assurance::password(now),
                now,
            )
            .unwrap();
        let name = &t.gw.routes().apps[0].cfg.headers.assertion;
        let (_, value) = h
            .lines
            .iter()
            .find(|(n, _)| n == name)
            .expect("an assertion line");
        value.to_str().unwrap().to_string()
    });
    let parts: Vec<&str> = own.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], parts[1], other_parts[2]);
    for bad in [assertion.as_str(), &own[..own.len() - 4], &spliced, "x.y.z"] {
        let q = with(bad, "none");
        assert_eq!(q["error"], "invalid_request", "{bad}: {q:?}");
        assert!(!q.contains_key("code"));
    }
}

#[test]
fn roles_and_revocation_are_the_proxys() {
    let t = gateway();
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    let r = authorize(&b, &auth_params(&[]));
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().unwrap().contains("Accès refusé"));

    let b = signed_in(&t);
    let (c, v) = code(&b, &[]);
    let (_, tok) = redeem(&t, &c, &v);
    let access = tok["access_token"].as_str().unwrap().to_string();
    let (_, info) = userinfo(&t, &access);
    assert_eq!(
        info["roles"],
        serde_json::json!([{ "role": "utilisateur", "structure": "mairie-exemple" }]),
        "this application's roles only"
    );
    // Role removed: the tokens stop.
    let id = t.user_id(AGENT);
    t.block_on(async {
        sqlx::query("DELETE FROM role_assignments WHERE user_id = $1 AND role_id IN (SELECT r.id FROM app_roles r JOIN applications a ON a.id = r.app_id WHERE a.slug = 'rp')")
            .bind(id)
            .execute(&t.gw.dir.pool)
            .await
            .unwrap();
    });
    t.gw.user_changed(id);
    assert_eq!(userinfo(&t, &access).0, 401);
    let (status, _) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 400);
    // Revocation of the user's sessions (lock, deletion, password change) ends them too.
    grant(&t, AGENT, "rp", "utilisateur");
    let (c, v) = code(&b, &[]);
    let (_, tok) = redeem(&t, &c, &v);
    let access = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(&t, &access).0, 200);
    t.block_on(t.gw.revoke_user(id)).unwrap();
    assert_eq!(userinfo(&t, &access).0, 401);
    assert_eq!(userinfo(&t, "not-a-token").0, 401);
    let r = t
        .client(false)
        .get(t.url("auth.test", "/oidc/userinfo"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// An ID token never verifies as an assertion, nor an assertion as an ID token; a hint the
/// provider did not sign and an unregistered post-logout URI stop on a French page.
/// What one signed-in browser holds of both kinds of token.
struct Tokens {
    /// rp-client's token answer (RS256 ID token, access token).
    rp: Value,
    /// rp-client's ID token.
    idt: String,
    /// The assertion the proxy sends to bip.
    assertion: String,
    /// other-client's ID token (EdDSA).
    eddsa_idt: String,
}

/// Signs the agent in to rp-client and other-client and visits bip: one token of each kind.
fn tokens_of_each_kind(t: &TestGateway, b: &crate::harness::Browser) -> Tokens {
    let (c, v) = code(b, &[]);
    let (_, rp) = redeem(t, &c, &v);
    let idt = rp["id_token"].as_str().unwrap().to_string();
    let echo = b.get_json(&t.url("bip.test", "/"));
    let assertion = echo["headers"]["x-convergences-assertion"][0]
        .as_str()
        .unwrap()
        .to_string();
    let r = authorize(
        b,
        &[
            ("response_type", "code"),
            ("client_id", "other-client"),
            ("redirect_uri", "http://other.test/cb"),
            ("scope", "openid"),
            ("state", "s"),
        ],
    );
    let oc = answer(&r, "http://other.test/cb")["code"].clone();
    let (status, otok) = token(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &oc),
            ("redirect_uri", "http://other.test/cb"),
        ],
        Some(("other-client", OTHER_SECRET)),
    );
    assert_eq!(status, 200, "{otok}");
    let eddsa_idt = otok["id_token"].as_str().unwrap().to_string();
    Tokens {
        rp,
        idt,
        assertion,
        eddsa_idt,
    }
}

#[test]
fn id_tokens_and_assertions_never_cross() {
    let t = gateway();
    let b = signed_in(&t);
    let Tokens {
        idt,
        assertion,
        eddsa_idt,
        ..
    } = tokens_of_each_kind(&t, &b);
    let eddsa_idt = eddsa_idt.as_str();
    assert!(
        verify(&t, &assertion, jsonwebtoken::Algorithm::EdDSA, "bip").is_some(),
        "the assertion verifies as itself"
    );
    // ID token checked as an application checks an assertion (EdDSA, audience = slug).
    for alg in [
        jsonwebtoken::Algorithm::EdDSA,
        jsonwebtoken::Algorithm::RS256,
    ] {
        for aud in ["bip", "rp", "netcotisations", "site"] {
            assert!(
                verify(&t, &idt, alg, aud).is_none(),
                "ID token accepted as assertion for {aud}"
            );
        }
    }
    // EdDSA ID tokens (other-client) use a key of their own: still not an assertion.
    assert!(verify(
        &t,
        eddsa_idt,
        jsonwebtoken::Algorithm::EdDSA,
        "other-client"
    )
    .is_some());
    assert_ne!(
        jsonwebtoken::decode_header(eddsa_idt).unwrap().kid,
        jsonwebtoken::decode_header(&assertion).unwrap().kid
    );
    for aud in ["bip", "other", "rp"] {
        assert!(verify(&t, eddsa_idt, jsonwebtoken::Algorithm::EdDSA, aud).is_none());
    }
    // Assertion checked as a relying party checks an ID token.
    for aud in ["rp-client", "other-client", "spa-client"] {
        assert!(verify(&t, &assertion, jsonwebtoken::Algorithm::RS256, aud).is_none());
        assert!(verify(&t, &assertion, jsonwebtoken::Algorithm::EdDSA, aud).is_none());
    }
}

#[test]
fn logout_cannot_redirect_elsewhere_and_asks_without_a_hint() {
    let t = gateway();
    let b = signed_in(&t);
    let Tokens {
        rp: tok,
        idt,
        assertion,
        eddsa_idt,
    } = tokens_of_each_kind(&t, &b);
    let eddsa_idt = eddsa_idt.as_str();
    // The provider itself refuses an assertion or a forged token as id_token_hint, and an
    // unregistered post-logout URI, without redirecting.
    let forged = {
        // A token signed with a key of the attacker's, claiming our issuer.
        let other = tempfile::tempdir().unwrap();
        let attacker =
            convergences::oidc::keys::OidcKeys::load(&convergences::config::OidcSettings {
                rsa_key_file: other.path().join("r.pem"),
                eddsa_key_file: other.path().join("e.pem"),
                previous_key_files: vec![],
                token_requests_per_minute: 1,
            })
            .unwrap();
        let claims: Value = serde_json::json!({ "iss": t.gw.config.public_url, "sub": "x", "aud": "rp-client", "exp": 9999999999i64 });
        attacker
            .sign(convergences::config::IdTokenAlg::Rs256, "JWT", &claims)
            .unwrap()
    };
    for (hint, uri) in [
        (assertion.as_str(), RP_BYE),
        (forged.as_str(), RP_BYE),
        (idt.as_str(), "http://evil.test/bye"),
        (idt.as_str(), "http://rp.test/bye/"),
        (idt.as_str(), "http://rp.test/cb"),
        (eddsa_idt, RP_BYE),
    ] {
        let r = b
            .client
            .get(t.url(
                "auth.test",
                &format!(
                    "/oidc/logout?{}",
                    query(&[("id_token_hint", hint), ("post_logout_redirect_uri", uri)])
                ),
            ))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{uri}");
        assert!(r.headers().get("location").is_none());
    }
    // Without a hint, the user is asked; a cross-site GET does not log out.
    let r = b
        .client
        .get(t.url(
            "auth.test",
            &format!(
                "/oidc/logout?{}",
                query(&[
                    ("client_id", "rp-client"),
                    ("post_logout_redirect_uri", RP_BYE)
                ])
            ),
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    assert!(html.contains("Démo OpenID Connect"), "{html}");
    assert_eq!(
        userinfo(&t, tok["access_token"].as_str().unwrap()).0,
        200,
        "still signed in"
    );
    let r = b
        .client
        .post(t.url("auth.test", "/oidc/logout"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("confirm", "1"),
            ("client_id", "rp-client"),
            ("post_logout_redirect_uri", RP_BYE),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), RP_BYE);
    assert_eq!(userinfo(&t, tok["access_token"].as_str().unwrap()).0, 401);
}

/// A minimal back-channel receiver: records the logout tokens it is sent.
pub(crate) fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let g = got.clone();
    crate::harness::rt().spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        let app = axum::Router::new().route(
            "/bc",
            axum::routing::post(move |body: String| {
                let g = g.clone();
                async move {
                    if let Some((_, t)) =
                        form_urlencoded::parse(body.as_bytes()).find(|(k, _)| k == "logout_token")
                    {
                        g.lock().unwrap().push(t.into_owned());
                    }
                    ""
                }
            }),
        );
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}/bc"), got)
}

pub(crate) fn wait_for(
    got: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    n: usize,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = got.lock().unwrap().clone();
        if v.len() >= n || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub(crate) fn check_logout_token(t: &TestGateway, jwt: &str, sub: &Value, sid: &Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let claims = verify(t, jwt, jsonwebtoken::Algorithm::RS256, "rp-client")
        .expect("signed by the provider");
    assert_eq!(&claims["sub"], sub);
    assert_eq!(&claims["sid"], sid);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
}

/// Back-channel logout: the portal logout sends a signed logout token to the client.
#[test]
fn backchannel_logout_on_portal_logout() {
    let (uri, got) = receiver();
    let t = start(Some(&uri), None);
    let b = signed_in(&t);
    let (c, v) = code(&b, &[]);
    let (_, tok) = redeem(&t, &c, &v);
    let claims = verify(
        &t,
        tok["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS256,
        "rp-client",
    )
    .unwrap();
    b.logout();
    let tokens = wait_for(&got, 1);
    assert_eq!(tokens.len(), 1, "one logout token");
    check_logout_token(&t, &tokens[0], &claims["sub"], &claims["sid"]);
}

/// Back-channel logout across two instances sharing Redis: signed in and tokens issued on one,
/// logged out on the other, which sends the logout token, once.
#[test]
fn backchannel_logout_across_two_instances() {
    if redis_url().is_none() {
        eprintln!("skipped here: needs TEST_REDIS_URL (scripts/test.sh --services runs it)");
        return;
    }
    let (uri, got) = receiver();
    let a = start(Some(&uri), None);
    let b_inst = TestGateway::start_with(Options {
        extra_apps: apps(Some(&uri)),
        share: Some(a.shared()),
        ..Default::default()
    });
    let b = signed_in(&a);
    let (c, v) = code(&b, &[]);
    // The code issued by one instance is redeemed at the other.
    let (status, tok) = redeem(&b_inst, &c, &v);
    assert_eq!(status, 200, "{tok}");
    let claims = verify(
        &b_inst,
        tok["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS256,
        "rp-client",
    )
    .unwrap();
    assert_eq!(userinfo(&a, tok["access_token"].as_str().unwrap()).0, 200);
    // Log out through the second instance.
    // Cookies are not bound to a port: the browser presents the same session there.
    let page = b
        .client
        .get(b_inst.url("auth.test", "/logout"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let r = b
        .client
        .post(b_inst.url("auth.test", "/logout"))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let tokens = wait_for(&got, 1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(got.lock().unwrap().len(), 1, "sent once, by one instance");
    check_logout_token(&a, &tokens[0], &claims["sub"], &claims["sid"]);
    assert_eq!(userinfo(&a, tok["access_token"].as_str().unwrap()).0, 401);
}

/// Interoperability: openid-client (npm, pinned in tests/interop/openid-client/), a widely used
/// relying-party library, signs in through the provider (discovery, code flow with PKCE, ID
/// token validation, userinfo, refresh, RP-initiated logout) and reports what it saw. Its script
/// installs the package from the registry when needed. Skipped only where Node.js is missing,
/// unless CONVERGENCES_INTEROP=1 requires it.
#[test]
fn interop_with_openid_client() {
    let required = std::env::var("CONVERGENCES_INTEROP").is_ok_and(|v| v == "1");
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(!required, "CONVERGENCES_INTEROP=1 but Node.js is missing");
        eprintln!("skipped here: needs Node.js");
        return;
    }
    let t = gateway();
    let issuer = t.gw.config.public_url.clone();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/openid-client/run.sh"
    );
    let out = std::process::Command::new(script)
        .args([
            issuer.as_str(),
            "rp-client",
            SECRET,
            RP_CB,
            RP_BYE,
            AGENT,
            PASSWORD,
        ])
        .output()
        .expect("run the relying party");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openid-client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON report");
    let idt = &report["id_token_claims"];
    assert_eq!(idt["iss"], issuer.as_str());
    assert_eq!(idt["aud"], "rp-client");
    assert_eq!(idt["email"], AGENT);
    assert_eq!(idt["family_name"], "Agent");
    assert_eq!(
        idt["roles"],
        serde_json::json!([{ "role": "utilisateur", "structure": "mairie-exemple" }])
    );
    assert_eq!(report["userinfo"]["sub"], idt["sub"]);
    assert_eq!(report["userinfo"]["structure"], "mairie-exemple");
    assert_eq!(report["refreshed_sub"], idt["sub"]);
    assert_eq!(report["refresh_rotated"], true);
    assert_eq!(report["logout_status"], 303);
    assert_eq!(report["after_logout"], format!("{RP_BYE}?state=bye"));
    assert!(
        report["userinfo_after_logout"]
            .as_str()
            .unwrap()
            .starts_with("refused"),
        "{report}"
    );
}
