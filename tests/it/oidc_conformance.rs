//! The OpenID Foundation's Basic OP certification plan (`oidcc-basic-certification-test-plan`),
//! module by module, for the configuration that applies here: `response_type=code`, clients
//! declared in the configuration (static registration), `client_secret_basic` (and the
//! `client_secret_post` variant module), metadata by discovery. The suite itself cannot run
//! here: each test drives the provider over HTTP as its module does, with the module's
//! parameters, and asserts what the module fails on (the warnings a module may raise are said
//! where they apply). docs/oidc-provider.md#conformance maps every module of the plan to its
//! test here, or says why it does not apply.

use crate::harness::{Browser, TestGateway};
use crate::oidc_provider::{
    answer, authorize, discovery, gateway, give_contact, location, pkce, query, sign_in_from,
    signed_in, verify, AGENT, OTHER_SECRET, RP_CB, SECRET,
};
use reqwest::blocking::Response;
use serde_json::Value;
use std::collections::HashMap;

const STATE: &str = "st-123";
const NONCE: &str = "n-456";

fn now() -> i64 {
    convergences::directory::now()
}

/// What every module does before its flow (`AbstractOIDCCServerTest.configure`): reads the
/// discovery document, checks the endpoints it needs are URLs, fetches the JWKS and checks that
/// every key has a `kid`, that no two share one and that none has a private or symmetric part;
/// and what other modules read there: both secret methods, no `alg=none` for ID tokens (which
/// skips oidcc-idtoken-unsigned), neither `request` nor `request_uri`.
fn discover(t: &TestGateway) -> Value {
    let disco = discovery(t);
    let issuer = t.gw.config.public_url.as_str();
    assert_eq!(disco["issuer"], issuer);
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let u = disco[k].as_str().unwrap_or_default();
        assert!(url::Url::parse(u).is_ok(), "{k}: {u}");
        assert!(u.starts_with(issuer), "{k}: {u}");
    }
    let methods = &disco["token_endpoint_auth_methods_supported"];
    for m in ["client_secret_basic", "client_secret_post"] {
        assert!(
            methods.as_array().unwrap().iter().any(|v| v == m),
            "{m} advertised"
        );
    }
    assert!(
        !disco["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "none"),
        "unsigned ID tokens are not offered"
    );
    assert_eq!(disco["request_parameter_supported"], false);
    assert_eq!(disco["request_uri_parameter_supported"], false);
    let jwks_uri = disco["jwks_uri"].as_str().unwrap();
    let path = url::Url::parse(jwks_uri).unwrap().path().to_string();
    let jwks: Value = t
        .client(false)
        .get(t.url("auth.test", &path))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    let mut kids = std::collections::HashSet::new();
    for k in keys {
        let kid = k["kid"].as_str().expect("every key has a kid");
        assert!(kids.insert(kid.to_string()), "kid {kid} is unique");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "no private part in {kid}");
        }
    }
    disco
}

/// The module's authorization request of `rp-client` (`CreateAuthorizationRequestSteps`):
/// `client_id`, `redirect_uri`, `scope`, `state`, `nonce`, `response_type=code`, then `extra`
/// (replacing, or removing with an empty value).
fn request<'a>(scope: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("client_id", "rp-client"),
        ("redirect_uri", RP_CB),
        ("scope", scope),
        ("state", STATE),
        ("nonce", NONCE),
        ("response_type", "code"),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    p
}

/// The successful answer at the redirect URI (`onAuthorizationCallbackResponse`): `iss` is the
/// issuer, `state` comes back, no error; returns the code.
fn code_of(t: &TestGateway, r: &Response, state: &str) -> String {
    let q = answer(r, RP_CB);
    assert!(!q.contains_key("error"), "{q:?}");
    assert_eq!(q["iss"], t.gw.config.public_url.as_str());
    assert_eq!(q["state"], state);
    let code = q.get("code").expect("a code").clone();
    // EnsureMinimumAuthorizationCodeLength: at least 128 bits.
    assert!(code.len() * 8 >= 128, "{code}");
    code
}

/// An error answered at the redirect URI, checked like
/// `performGenericAuthorizationEndpointErrorResponseValidation`: `state` back (when sent),
/// `iss`, no code, no other parameter, an `error_description` of the characters RFC 6749
/// allows. Returns the error.
fn error_of(t: &TestGateway, r: &Response, state: Option<&str>) -> String {
    let q = answer(r, RP_CB);
    assert_eq!(q.get("state").map(String::as_str), state);
    assert_eq!(q["iss"], t.gw.config.public_url.as_str());
    assert!(!q.contains_key("code"));
    for k in q.keys() {
        assert!(
            ["error", "error_description", "error_uri", "state", "iss"].contains(&k.as_str()),
            "unexpected parameter {k}"
        );
    }
    if let Some(d) = q.get("error_description") {
        assert!(
            d.bytes()
                .all(|c| (0x20..=0x7e).contains(&c) && c != b'"' && c != b'\\'),
            "{d}"
        );
    }
    q.get("error").expect("an error").clone()
}

#[derive(Clone, Copy)]
enum Auth {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
}

/// A token request of `client` (`rp-client` or `other-client`, with their secrets):
/// status, headers and JSON body.
fn token_call(
    t: &TestGateway,
    client: &str,
    auth: Auth,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let secret = if client == "rp-client" {
        SECRET
    } else {
        OTHER_SECRET
    };
    let mut form: Vec<(&str, &str)> = form.to_vec();
    if let Auth::Post = auth {
        form.push(("client_id", client));
        form.push(("client_secret", secret));
    }
    let mut req = t
        .client(false)
        .post(t.url("auth.test", "/oidc/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query(&form));
    if let Auth::Basic = auth {
        req = req.basic_auth(client, Some(secret));
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().unwrap_or(Value::Null))
}

/// A successful token answer, checked like `requestAuthorizationCode` and the refresh steps:
/// 200, JSON, not cacheable, a Bearer access token of printable characters and at least 128
/// bits, a positive `expires_in` under a year, an ID token.
fn tokens_ok(status: u16, headers: &reqwest::header::HeaderMap, tok: &Value) {
    assert_eq!(status, 200, "{tok}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    assert!(tok["token_type"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case("bearer"));
    let access = tok["access_token"].as_str().expect("an access token");
    assert!(access.len() >= 22 && access.bytes().all(|c| (0x20..=0x7e).contains(&c)));
    let exp = tok["expires_in"].as_i64().expect("expires_in, a number");
    assert!(exp > 0 && exp <= 31_536_000);
    assert!(tok["id_token"].as_str().is_some(), "{tok}");
    if let Some(r) = tok["refresh_token"].as_str() {
        assert!(r.len() >= 22 && r.bytes().all(|c| (0x20..=0x7e).contains(&c)));
    }
}

/// Redeems `code` for `rp-client` the module's way (no PKCE verifier): the checked answer.
fn redeem(t: &TestGateway, code: &str, auth: Auth) -> Value {
    let (status, headers, tok) = token_call(
        t,
        "rp-client",
        auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_CB),
        ],
    );
    tokens_ok(status, &headers, &tok);
    tok
}

/// `PerformStandardIdTokenChecks` and oidcc-idtoken-signature's checks on the ID token of
/// `client`: a `kid`, RS256 (the default), the signature by the JWKS key of that `kid`, `iss`,
/// `aud`, `azp`, `exp`, `iat` and `auth_time` within the suite's 5 minutes of skew, `sub`, and
/// the `nonce` sent (none when none was sent). Returns the claims.
fn id_token_ok(t: &TestGateway, tok: &Value, client: &str, nonce: Option<&str>) -> Value {
    let idt = tok["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(idt).unwrap();
    assert!(header.kid.is_some(), "EnsureIdTokenContainsKid");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let c = verify(t, idt, jsonwebtoken::Algorithm::RS256, client).expect("signature");
    assert_eq!(c["aud"], client);
    assert_eq!(c["azp"], client);
    let n = now();
    let iat = c["iat"].as_i64().unwrap();
    assert!(iat <= n + 300 && iat >= n - 300, "iat {iat}");
    let auth_time = c["auth_time"].as_i64().unwrap();
    assert!(auth_time <= n + 300 && auth_time >= n - 365 * 86400);
    assert!(!c["sub"].as_str().unwrap().is_empty());
    assert_eq!(c.get("nonce").and_then(Value::as_str), nonce);
    assert!(c["acr"].as_str().is_some_and(|a| !a.is_empty()));
    c
}

/// `EnsureIdTokenDoesNotContainNonRequestedClaims` for `scope=openid`.
fn only_openid_claims(c: &Value) {
    for k in c.as_object().unwrap().keys() {
        assert!(
            [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "azp",
                "sid",
                "at_hash",
                "c_hash",
                "nbf",
                "jti"
            ]
            .contains(&k.as_str()),
            "non-requested claim {k}"
        );
    }
}

/// How a UserInfo request carries its token.
#[derive(Clone, Copy, Debug)]
enum Carry {
    Get,
    PostHeader,
    PostBody,
}

/// A UserInfo request (`CallUserInfoEndpoint` and its variants): status, content type, JSON.
fn userinfo_call(t: &TestGateway, access: &str, how: Carry) -> (u16, String, Value) {
    let c = t.client(false);
    let url = t.url("auth.test", "/oidc/userinfo");
    let r = match how {
        Carry::Get => c.get(url).bearer_auth(access),
        Carry::PostHeader => c.post(url).bearer_auth(access),
        Carry::PostBody => c
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query(&[("access_token", access)])),
    }
    .send()
    .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.json().unwrap_or(Value::Null))
}

/// A successful UserInfo answer for the ID token's subject (`AbstractOIDCCUserInfoTest`): 200,
/// JSON, the same `sub`, standard claims of the right types. Returns the claims.
fn userinfo_ok(t: &TestGateway, tok: &Value, id_claims: &Value, how: Carry) -> Value {
    let (status, ct, info) = userinfo_call(t, tok["access_token"].as_str().unwrap(), how);
    assert_eq!(status, 200, "{how:?}: {info}");
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(info["sub"], id_claims["sub"]);
    // ValidateUserInfoStandardClaims: the types of OpenID Connect Core section 5.1.
    for k in ["name", "given_name", "family_name", "email", "phone_number"] {
        assert!(info.get(k).is_none_or(Value::is_string), "{k}");
    }
    assert!(info.get("email_verified").is_none_or(Value::is_boolean));
    assert!(info
        .get("address")
        .is_none_or(|a| a.is_object() && a.get("formatted").is_none_or(Value::is_string)));
    info
}

/// One happy flow of `rp-client` (`performAuthorizationFlow`): the request with `scope` and
/// `extra`, the code, the tokens and the checked ID token claims.
fn flow(t: &TestGateway, b: &Browser, scope: &str, extra: &[(&str, &str)]) -> (Value, Value) {
    let code = code_of(t, &authorize(b, &request(scope, extra)), STATE);
    let tok = redeem(t, &code, Auth::Basic);
    let claims = id_token_ok(t, &tok, "rp-client", Some(NONCE));
    (tok, claims)
}

/// oidcc-server (the happy flow, `client_secret_basic`) and oidcc-idtoken-signature (a `kid`,
/// RS256 when the client names no algorithm): code of at least 128 bits, tokens, ID token, no
/// claim `scope=openid` did not ask for (a warning in oidcc-server), UserInfo. oidcc-server
/// also warns if `name` is in the ID token: it is not.
#[test]
fn oidcc_server() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let (tok, claims) = flow(&t, &b, "openid", &[]);
    only_openid_claims(&claims);
    assert!(claims.get("name").is_none());
    assert!(
        tok.get("refresh_token").is_none(),
        "offline_access not asked"
    );
    userinfo_ok(&t, &tok, &claims, Carry::Get);
}

/// oidcc-server-client-secret-post: the happy flow with the secret in the token request's
/// body.
#[test]
fn oidcc_server_client_secret_post() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let code = code_of(&t, &authorize(&b, &request("openid", &[])), STATE);
    let tok = redeem(&t, &code, Auth::Post);
    let claims = id_token_ok(&t, &tok, "rp-client", Some(NONCE));
    userinfo_ok(&t, &tok, &claims, Carry::Get);
}

/// oidcc-response-type-missing: without `response_type`, the error goes back to the client
/// (the module accepts `unsupported_response_type` or `invalid_request`, or an error page).
#[test]
fn oidcc_response_type_missing() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let r = authorize(&b, &request("openid", &[("response_type", "")]));
    let e = error_of(&t, &r, Some(STATE));
    assert!(
        ["unsupported_response_type", "invalid_request"].contains(&e.as_str()),
        "{e}"
    );
}

/// oidcc-userinfo-get, oidcc-userinfo-post-header, oidcc-userinfo-post-body: the access token
/// in the header of a GET, of a POST, and in the form body of a POST (RFC 6750 section 2.2),
/// each a 200 JSON answer for the ID token's subject. Beyond the modules: the token in both
/// places at once is `invalid_request`, and a GET's body is not read.
#[test]
fn oidcc_userinfo_get_post_header_post_body() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    for how in [Carry::Get, Carry::PostHeader, Carry::PostBody] {
        let (tok, claims) = flow(&t, &b, "openid", &[]);
        userinfo_ok(&t, &tok, &claims, how);
    }
    let (tok, _) = flow(&t, &b, "openid", &[]);
    let access = tok["access_token"].as_str().unwrap();
    let url = t.url("auth.test", "/oidc/userinfo");
    let r = t
        .client(false)
        .post(&url)
        .bearer_auth(access)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query(&[("access_token", access)]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_request");
    let r = t
        .client(false)
        .get(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query(&[("access_token", access)]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "a GET carries no token in a body");
    assert_eq!(
        userinfo_call(&t, "not-a-token", Carry::PostBody).0,
        401,
        "an unknown token in the body is refused like one in the header"
    );
}

/// oidcc-ensure-request-without-nonce-succeeds-for-code-flow: a code flow without `nonce` gets
/// a code (and, beyond the module, an ID token without `nonce`).
#[test]
fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let code = code_of(
        &t,
        &authorize(&b, &request("openid", &[("nonce", "")])),
        STATE,
    );
    let tok = redeem(&t, &code, Auth::Basic);
    id_token_ok(&t, &tok, "rp-client", None);
}

/// oidcc-scope-profile, oidcc-scope-email, oidcc-scope-address, oidcc-scope-phone,
/// oidcc-scope-all: `openid` with each scope alone, then all four; the scopes are advertised
/// (otherwise the modules skip), the flow succeeds and UserInfo returns the scope's claims
/// (a warning in the modules when missing: the provider returns those it holds, so `name`,
/// `given_name`, `family_name`, `email`, `email_verified`, `phone_number`, `address`, not
/// `middle_name` or `phone_number_verified`). oidcc-scope-email warns when the ID token holds
/// `email` too: the provider puts the scopes' claims in the ID token as well
/// (docs/oidc-provider.md#tokens-and-claims), which OpenID Connect Core section 5.4 allows.
#[test]
fn oidcc_scope_profile_email_address_phone_all() {
    let t = gateway();
    let disco = discover(&t);
    give_contact(&t);
    let supported = disco["scopes_supported"].as_array().unwrap();
    let b = signed_in(&t);
    for (scope, claims) in [
        ("openid profile", &["name", "given_name", "family_name"][..]),
        ("openid email", &["email", "email_verified"][..]),
        ("openid address", &["address"][..]),
        ("openid phone", &["phone_number"][..]),
        (
            "openid email phone address profile",
            &[
                "name",
                "given_name",
                "family_name",
                "email",
                "email_verified",
                "address",
                "phone_number",
            ][..],
        ),
    ] {
        for s in scope.split(' ') {
            assert!(supported.iter().any(|v| v == s), "{s} advertised");
        }
        let (tok, id_claims) = flow(&t, &b, scope, &[]);
        let info = userinfo_ok(&t, &tok, &id_claims, Carry::Get);
        for c in claims {
            assert!(info.get(*c).is_some(), "{scope}: {c} in {info}");
        }
        let all = [
            "name",
            "given_name",
            "family_name",
            "email",
            "email_verified",
            "address",
            "phone_number",
        ];
        for c in all.iter().filter(|c| !claims.contains(c)) {
            assert!(info.get(*c).is_none(), "{scope}: {c} was not asked");
        }
        if scope == "openid address" {
            assert_eq!(info["address"]["formatted"], "1 place de la Mairie");
        }
        if scope == "openid phone" {
            assert_eq!(info["phone_number"], "01 02 03 04 05");
        }
    }
}

/// oidcc-alternate-happy-flow: oidcc-scope-email with the scopes in reverse order
/// (`email openid`) and the parameters of the request in another order: same result.
#[test]
fn oidcc_alternate_happy_flow() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let mut p = request("email openid", &[]);
    p.reverse();
    let code = code_of(&t, &authorize(&b, &p), STATE);
    let tok = redeem(&t, &code, Auth::Basic);
    let claims = id_token_ok(&t, &tok, "rp-client", Some(NONCE));
    let info = userinfo_ok(&t, &tok, &claims, Carry::Get);
    assert_eq!(info["email"], AGENT);
}

/// Parameters the provider may ignore but that must not make the request fail, each sent by
/// its module to a browser without a session (the modules ask to clear the OP's cookies): the
/// login form is shown, and signing in ends with a code, tokens and UserInfo.
/// oidcc-display-page (`display=page`), oidcc-display-popup (`display=popup`),
/// oidcc-login-hint (`login_hint`, which also pre-fills the e-mail),
/// oidcc-ui-locales (`ui_locales=se`, the module's default), oidcc-claims-locales
/// (`claims_locales=se`), oidcc-ensure-request-with-unknown-parameter-succeeds
/// (`extra=foobar`), oidcc-ensure-request-with-acr-values-succeeds (`acr_values` = the
/// advertised `acr_values_supported`; the ID token's `acr` is one of them, else the module
/// warns).
#[test]
fn parameters_that_must_not_make_a_request_fail() {
    let t = gateway();
    let disco = discover(&t);
    let acr_values: Vec<&str> = disco["acr_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let acr_values = acr_values.join(" ");
    for (module, extra) in [
        ("oidcc-display-page", ("display", "page")),
        ("oidcc-display-popup", ("display", "popup")),
        ("oidcc-login-hint", ("login_hint", AGENT)),
        ("oidcc-ui-locales", ("ui_locales", "se")),
        ("oidcc-claims-locales", ("claims_locales", "se")),
        (
            "oidcc-ensure-request-with-unknown-parameter-succeeds",
            ("extra", "foobar"),
        ),
        (
            "oidcc-ensure-request-with-acr-values-succeeds",
            ("acr_values", acr_values.as_str()),
        ),
    ] {
        let b = t.browser();
        let r = authorize(&b, &request("openid", &[extra]));
        if module == "oidcc-login-hint" {
            let (page, _) = b.visit(&t.url("auth.test", &location(&r)));
            assert!(
                page.text().unwrap().contains(&format!("value=\"{AGENT}\"")),
                "login_hint pre-fills the e-mail"
            );
        }
        let r = sign_in_from(&b, r);
        let code = code_of(&t, &r, STATE);
        let tok = redeem(&t, &code, Auth::Basic);
        let claims = id_token_ok(&t, &tok, "rp-client", Some(NONCE));
        userinfo_ok(&t, &tok, &claims, Carry::Get);
        if module == "oidcc-ensure-request-with-acr-values-succeeds" {
            let acr = claims["acr"].as_str().unwrap();
            assert!(acr_values.split(' ').any(|v| v == acr), "{acr}");
        }
    }
}

/// oidcc-prompt-login: a first flow, then a second with `prompt=login` a second later: the
/// login form is shown although the browser has a session, and the second ID token's
/// `auth_time` is later than the first's.
#[test]
fn oidcc_prompt_login() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let (_, first) = flow(&t, &b, "openid", &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = sign_in_from(
        &b,
        authorize(&b, &request("openid", &[("prompt", "login")])),
    );
    let code = code_of(&t, &r, STATE);
    let second = id_token_ok(
        &t,
        &redeem(&t, &code, Auth::Basic),
        "rp-client",
        Some(NONCE),
    );
    assert!(second["auth_time"].as_i64() > first["auth_time"].as_i64());
    assert_eq!(second["sub"], first["sub"]);
}

/// oidcc-prompt-none-not-logged-in: `prompt=none` without a session, with a 128-character
/// `state` (that the provider must not damage): an error that needs a user interface
/// (`login_required`), sent back with the state intact.
#[test]
fn oidcc_prompt_none_not_logged_in() {
    let t = gateway();
    discover(&t);
    let state: String = "aB3-_".repeat(26)[..128].to_string();
    let b = t.browser();
    let r = authorize(
        &b,
        &request("openid", &[("prompt", "none"), ("state", &state)]),
    );
    let e = error_of(&t, &r, Some(&state));
    assert!(
        [
            "interaction_required",
            "login_required",
            "account_selection_required",
            "consent_required"
        ]
        .contains(&e.as_str()),
        "{e}"
    );
}

/// oidcc-prompt-none-logged-in (second request with `prompt=none`) and oidcc-id-token-hint
/// (second request with `prompt=none` and the first ID token as `id_token_hint`): a code at
/// once, without any page, and an ID token with the same `sub` and `auth_time`.
#[test]
fn oidcc_prompt_none_logged_in_and_id_token_hint() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let (first_tok, first) = flow(&t, &b, "openid", &[]);
    let hint = first_tok["id_token"].as_str().unwrap();
    for extra in [
        vec![("prompt", "none")],
        vec![("prompt", "none"), ("id_token_hint", hint)],
    ] {
        let (_, second) = flow(&t, &b, "openid", &extra);
        assert_eq!(second["sub"], first["sub"], "{extra:?}");
        assert_eq!(second["auth_time"], first["auth_time"], "{extra:?}");
    }
}

/// oidcc-max-age-1: a first flow, then two seconds later a second with `max_age=1`: the login
/// form is shown, and the second ID token has an `auth_time` later than the first's and
/// recent.
#[test]
fn oidcc_max_age_1() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let (_, first) = flow(&t, &b, "openid", &[]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let before = now();
    let r = sign_in_from(&b, authorize(&b, &request("openid", &[("max_age", "1")])));
    let code = code_of(&t, &r, STATE);
    let second = id_token_ok(
        &t,
        &redeem(&t, &code, Auth::Basic),
        "rp-client",
        Some(NONCE),
    );
    let auth_time = second["auth_time"]
        .as_i64()
        .expect("auth_time, max_age was sent");
    assert!(auth_time > first["auth_time"].as_i64().unwrap());
    assert!(auth_time >= before);
}

/// oidcc-max-age-10000: a first flow with `max_age=15000`, a second with `max_age=10000`: no
/// login form the second time, `auth_time` in both ID tokens and equal, the same `sub`.
#[test]
fn oidcc_max_age_10000() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let (_, first) = flow(&t, &b, "openid", &[("max_age", "15000")]);
    let (_, second) = flow(&t, &b, "openid", &[("max_age", "10000")]);
    assert!(first["auth_time"].is_i64());
    assert_eq!(second["auth_time"], first["auth_time"]);
    assert_eq!(second["sub"], first["sub"]);
}

/// The second presentation of a used code: 400, JSON, `invalid_grant`, a valid description.
fn reuse_refused(t: &TestGateway, code: &str) {
    let (status, headers, err) = token_call(
        t,
        "rp-client",
        Auth::Basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_CB),
        ],
    );
    assert_eq!(status, 400, "{err}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(err["error"], "invalid_grant");
    let d = err["error_description"].as_str().unwrap_or_default();
    assert!(d
        .bytes()
        .all(|c| (0x20..=0x7e).contains(&c) && c != b'"' && c != b'\\'));
}

/// oidcc-codereuse: the code presented again at once is refused with `invalid_grant`.
#[test]
fn oidcc_codereuse() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let code = code_of(&t, &authorize(&b, &request("openid", &[])), STATE);
    redeem(&t, &code, Auth::Basic);
    reuse_refused(&t, &code);
}

/// oidcc-codereuse-30seconds: the code presented again 30 seconds later (within its 60 s of
/// life: the provider remembers a used code for 10 minutes) is refused with `invalid_grant`,
/// and the access token the first use issued no longer works (a warning in the module).
#[test]
fn oidcc_codereuse_30seconds() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let code = code_of(&t, &authorize(&b, &request("openid", &[])), STATE);
    let tok = redeem(&t, &code, Auth::Basic);
    std::thread::sleep(std::time::Duration::from_secs(30));
    reuse_refused(&t, &code);
    let (status, _, _) = userinfo_call(&t, tok["access_token"].as_str().unwrap(), Carry::Get);
    assert!((400..500).contains(&status), "revoked: {status}");
}

/// oidcc-ensure-registered-redirect-uri: a `redirect_uri` that is the suite's base URL plus
/// `/callback/` and a random path, never registered: an error page, and no redirect, neither
/// there nor to the registered URI.
#[test]
fn oidcc_ensure_registered_redirect_uri() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let bad = format!(
        "http://rp.test/callback/{}",
        &convergences::auth::random_token()[..10]
    );
    let r = authorize(&b, &request("openid", &[("redirect_uri", &bad)]));
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().unwrap().contains("adresse de retour"));
}

/// oidcc-ensure-post-request-succeeds: the authorization request sent as a POST form: the
/// answer reaches the redirect URI, and the flow completes.
#[test]
fn oidcc_ensure_post_request_succeeds() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let r = b
        .client
        .post(t.url("auth.test", "/oidc/authorize"))
        .form(&request("openid", &[]))
        .send()
        .unwrap();
    let code = code_of(&t, &r, STATE);
    let tok = redeem(&t, &code, Auth::Basic);
    let claims = id_token_ok(&t, &tok, "rp-client", Some(NONCE));
    userinfo_ok(&t, &tok, &claims, Carry::Get);
}

/// An unsigned request object (`alg` `none`) holding the module's whole request, as
/// `SerializeRequestObjectWithNullAlgorithm` writes it.
fn unsigned_request_object(claims: &[(&str, &str)]) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let body: serde_json::Map<String, Value> = claims
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none"})),
        b64(&Value::Object(body))
    )
}

/// What `BuildRequestObjectBy{Value,Reference}RedirectToAuthorizationEndpoint` sends beside
/// the object: `response_type`, `client_id`, `scope` and `redirect_uri` (required outside by
/// OpenID Connect Core section 6.1), not `state` nor `nonce` (only inside).
fn outside_object<'a>(p: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    p.iter()
        .filter(|(k, _)| ["response_type", "client_id", "scope", "redirect_uri"].contains(k))
        .copied()
        .collect()
}

/// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported (`request`,
/// an unsigned object), oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported
/// (`request_uri`, the address of one; the plan runs it with dynamic registration only, the
/// provider's answer is the same), oidcc-ensure-request-object-with-redirect-uri (a valid
/// `redirect_uri` in the object, another, unregistered, outside).
///
/// The provider supports neither, says so in discovery (`request_parameter_supported` and
/// `request_uri_parameter_supported` false) and answers `request_not_supported` /
/// `request_uri_not_supported` at the registered redirect URI, without a code (the modules then
/// skip, "permitted behaviour"). The third module fails a provider that sends
/// `request_not_supported` to the object's redirect URI when the one outside is not
/// registered: it gets the error page, without any redirect.
#[test]
fn request_objects_are_refused_as_unsupported() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let full = request("openid", &[]);
    let object = unsigned_request_object(&full);
    let mut p = outside_object(&full);
    p.push(("request", &object));
    let r = authorize(&b, &p);
    assert_eq!(error_of(&t, &r, None), "request_not_supported");

    let mut p = outside_object(&full);
    p.push(("request_uri", "https://suite.test/requests/abc#frag"));
    let r = authorize(&b, &p);
    assert_eq!(error_of(&t, &r, None), "request_uri_not_supported");

    let invalid = format!("{RP_CB}_invalid");
    let mut p: Vec<(&str, &str)> = outside_object(&full)
        .into_iter()
        .filter(|(k, _)| *k != "redirect_uri")
        .collect();
    p.push(("redirect_uri", &invalid));
    p.push(("request", &object));
    let r = authorize(&b, &p);
    assert_eq!(r.status(), 400);
    assert!(
        r.headers().get("location").is_none(),
        "no redirect, to either URI"
    );
    assert!(r.text().unwrap().contains("adresse de retour"));
}

/// oidcc-claims-essential: `claims` asking for `name` as an essential UserInfo claim, with
/// `scope=openid`. The provider does not support the `claims` parameter (discovery:
/// `claims_parameter_supported` false), ignores it, and the flow succeeds; UserInfo then holds
/// no `name` (the module's warning: a client that wants the name asks for `profile`). The ID
/// token does not hold `name` either (another warning otherwise).
#[test]
fn oidcc_claims_essential() {
    let t = gateway();
    let disco = discover(&t);
    assert_eq!(disco["claims_parameter_supported"], false);
    let b = signed_in(&t);
    let claims = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let (tok, id_claims) = flow(&t, &b, "openid", &[("claims", claims)]);
    assert!(id_claims.get("name").is_none());
    userinfo_ok(&t, &tok, &id_claims, Carry::Get);
}

/// One client's part of oidcc-refresh-token (`RefreshTokenRequestSteps`): a flow with
/// `offline_access` (advertised) and `prompt=consent`, a refresh token, then, a second later,
/// the refresh (with `scope` for the first client): a checked 200 answer with a new access
/// token that UserInfo accepts, and an ID token with the same `iss`, `sub`, `aud`, `azp` and
/// `auth_time` but a new `iat`. Returns the newest refresh token.
fn refresh_part(
    t: &TestGateway,
    b: &Browser,
    client: &str,
    redirect_uri: &str,
    with_scope: bool,
) -> String {
    let scope = "openid offline_access";
    let r = authorize(
        b,
        &[
            ("client_id", client),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", STATE),
            ("nonce", NONCE),
            ("response_type", "code"),
            ("prompt", "consent"),
        ],
    );
    let q = answer(&r, redirect_uri);
    assert_eq!(q["state"], STATE);
    let (status, headers, tok) = token_call(
        t,
        client,
        Auth::Basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", redirect_uri),
        ],
    );
    tokens_ok(status, &headers, &tok);
    let first = crate::harness::claims_of(tok["id_token"].as_str().unwrap());
    let refresh = tok["refresh_token"].as_str().expect("a refresh token");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh)];
    if with_scope {
        form.push(("scope", scope));
    }
    let (status, headers, tok2) = token_call(t, client, Auth::Basic, &form);
    tokens_ok(status, &headers, &tok2);
    assert_ne!(tok2["access_token"], tok["access_token"]);
    let second = crate::harness::claims_of(tok2["id_token"].as_str().unwrap());
    for k in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(second[k], first[k], "{k}");
    }
    assert_ne!(second["iat"], first["iat"]);
    let (status, _, info) = userinfo_call(t, tok2["access_token"].as_str().unwrap(), Carry::Get);
    assert_eq!(status, 200);
    assert_eq!(info["sub"], first["sub"]);
    tok2["refresh_token"]
        .as_str()
        .unwrap_or(refresh)
        .to_string()
}

/// oidcc-refresh-token: discovery advertises the `refresh_token` grant and `offline_access`;
/// each of two clients refreshes its tokens (`refresh_part`), then the second client's refresh
/// token presented by the first is refused: 400, JSON, `invalid_grant`.
#[test]
fn oidcc_refresh_token() {
    let t = gateway();
    let disco = discover(&t);
    assert!(disco["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "refresh_token"));
    assert!(disco["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "offline_access"));
    let b = signed_in(&t);
    refresh_part(&t, &b, "rp-client", RP_CB, true);
    let other = refresh_part(&t, &b, "other-client", "http://other.test/cb", false);
    let (status, headers, err) = token_call(
        &t,
        "rp-client",
        Auth::Basic,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &other),
            ("scope", "openid offline_access"),
        ],
    );
    assert_eq!(status, 400, "{err}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(err["error"], "invalid_grant");
}

/// oidcc-ensure-request-with-valid-pkce-succeeds: `code_challenge` (S256) in the request and
/// `code_verifier` at the token endpoint: the flow succeeds.
#[test]
fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let t = gateway();
    discover(&t);
    let b = signed_in(&t);
    let (verifier, challenge) = pkce();
    let r = authorize(
        &b,
        &request(
            "openid",
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ),
    );
    let code = code_of(&t, &r, STATE);
    let (status, headers, tok) = token_call(
        &t,
        "rp-client",
        Auth::Basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP_CB),
            ("code_verifier", &verifier),
        ],
    );
    tokens_ok(status, &headers, &tok);
    let claims = id_token_ok(&t, &tok, "rp-client", Some(NONCE));
    userinfo_ok(&t, &tok, &claims, Carry::Get);
}

/// docs/oidc-provider.md#conformance has a row for every module of the plan, and none other;
/// a row that names a test here names an existing one, whose doc comment names the module.
#[test]
fn every_module_of_the_plan_is_in_the_conformance_table() {
    let doc = include_str!("../../docs/oidc-provider.md");
    let table = doc
        .split("## Conformance")
        .nth(1)
        .expect("a Conformance section");
    let this = include_str!("oidc_conformance.rs");
    let lines: Vec<&str> = this.lines().collect();
    let mut rows: HashMap<&str, &str> = HashMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `oidcc-")) {
        let module = line[3..].split('`').next().unwrap();
        assert!(rows.insert(module, line).is_none(), "{module} once");
    }
    for m in PLAN {
        let row = rows.get(m).unwrap_or_else(|| panic!("{m} in the table"));
        if row.contains("not applicable") {
            continue;
        }
        let f = row
            .split("oidc_conformance.rs::")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .unwrap_or_else(|| panic!("{m}: a test of oidc_conformance.rs"));
        let at = lines
            .iter()
            .position(|l| *l == format!("fn {f}() {{"))
            .unwrap_or_else(|| panic!("{m}: fn {f} exists"));
        let doc: String = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("///") || l.starts_with("#["))
            .map(|l| l.trim_start_matches('/'))
            .collect::<Vec<_>>()
            .join(" ");
        let named = doc.match_indices(m).any(|(i, _)| {
            !doc[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
        });
        assert!(named, "{m} named in the doc comment of {f}");
    }
    assert_eq!(rows.len(), PLAN.len(), "no module outside the plan");
}

/// The modules of `oidcc-basic-certification-test-plan` (`OIDCCBasicTestPlan`), in its order.
const PLAN: &[&str] = &[
    "oidcc-server",
    "oidcc-response-type-missing",
    "oidcc-idtoken-signature",
    "oidcc-idtoken-unsigned",
    "oidcc-userinfo-get",
    "oidcc-userinfo-post-header",
    "oidcc-userinfo-post-body",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-scope-profile",
    "oidcc-scope-email",
    "oidcc-scope-address",
    "oidcc-scope-phone",
    "oidcc-scope-all",
    "oidcc-alternate-happy-flow",
    "oidcc-display-page",
    "oidcc-display-popup",
    "oidcc-prompt-login",
    "oidcc-prompt-none-not-logged-in",
    "oidcc-prompt-none-logged-in",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-ensure-request-with-unknown-parameter-succeeds",
    "oidcc-id-token-hint",
    "oidcc-login-hint",
    "oidcc-ui-locales",
    "oidcc-claims-locales",
    "oidcc-ensure-request-with-acr-values-succeeds",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-ensure-registered-redirect-uri",
    "oidcc-ensure-post-request-succeeds",
    "oidcc-server-client-secret-post",
    "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
    "oidcc-claims-essential",
    "oidcc-ensure-request-object-with-redirect-uri",
    "oidcc-refresh-token",
    "oidcc-ensure-request-with-valid-pkce-succeeds",
];
