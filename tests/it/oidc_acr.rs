//! Authentication levels of the OpenID Connect provider (docs/oidc-provider.md#acr): an
//! `acr_values` asking for a second factor, or an application's `require_mfa`, sends a session
//! that has not used one through the confirmation first; `prompt=none` gets `login_required`;
//! the ID token's `acr` and `amr` are the session's, whatever the request says.

use crate::harness::{csrf_of, Browser, Options, TestGateway};
use crate::oidc_provider::{
    answer, apps, auth_params, authorize, code, grant, location, redeem, signed_in, token, verify,
    AGENT, RP_CB, SECRET,
};
use convergences::auth::totp;
use serde_json::Value;

const TOTP_SECRET: &[u8] = b"12345678901234567890";

fn now() -> i64 {
    convergences::directory::now()
}

/// The OpenID Connect test clients, plus `vault-client` whose application requires a second
/// factor.
fn gateway() -> TestGateway {
    let t = TestGateway::start_with(Options {
        extra_apps: format!(
            "{}\n[[apps]]\nslug = \"vault\"\nname = \"Coffre OIDC\"\nurl = \"http://vault.test/\"\nrequire_mfa = true\n[apps.oidc]\nclient_id = \"vault-client\"\npublic = true\nredirect_uris = [\"http://vault.test/cb\"]\n",
            apps(None)
        ),
        ..Default::default()
    });
    grant(&t, AGENT, "rp", "utilisateur");
    grant(&t, AGENT, "vault", "utilisateur");
    t
}

fn id_token_claims(t: &TestGateway, tok: &Value) -> Value {
    verify(
        t,
        tok["id_token"].as_str().expect("an ID token"),
        jsonwebtoken::Algorithm::RS256,
        "rp-client",
    )
    .expect("verifies")
}

/// The path and query of a relative or absolute Location.
fn path_of(loc: &str) -> String {
    match url::Url::parse(loc) {
        Ok(u) => format!("{}?{}", u.path(), u.query().unwrap_or("")),
        Err(_) => loc.to_string(),
    }
}

/// Answers the confirmation page at `loc` with `code`; returns the POST's answer.
fn confirm(b: &Browser, loc: &str, code: &str) -> reqwest::blocking::Response {
    let (page, _) = b.visit(&b.t.url("auth.test", &path_of(loc)));
    let html = page.text().unwrap();
    assert!(html.contains("Confirmez votre identité"), "{html}");
    assert!(html.contains("name=\"code\""), "the code is asked: {html}");
    let return_to = url::Url::parse(&b.t.url("auth.test", &path_of(loc)))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .expect("return_to")
        .1
        .into_owned();
    b.post(
        "/login/confirmer",
        &[
            ("csrf", &csrf_of(&html)),
            ("code", code),
            ("return_to", &return_to),
        ],
    )
}

/// oidcc-ensure-request-with-acr-values-succeeds, and beyond it: the level is enforced.
#[test]
fn acr_values_ask_for_the_second_factor_and_the_id_token_tells_the_truth() {
    let t = gateway();
    let disco = t
        .client(false)
        .get(t.url("auth.test", "/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(
        disco["acr_values_supported"],
        serde_json::json!(["eidas1", "eidas2"])
    );
    let b = signed_in(&t);
    // A password session satisfies eidas1, or a list that accepts it, or values it does not
    // know; the token says eidas1 and pwd.
    for acr in ["eidas1", "eidas1 eidas2", "eidas3", "EIDAS2"] {
        let (c, v) = code(&b, &[("acr_values", acr)]);
        let (status, tok) = redeem(&t, &c, &v);
        assert_eq!(status, 200, "{acr}: {tok}");
        let claims = id_token_claims(&t, &tok);
        assert_eq!(claims["acr"], "eidas1", "{acr}");
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    }
    // eidas2 without a session that used a second factor: no code. Without a page allowed,
    // login_required goes back to the client.
    let r = authorize(
        &b,
        &auth_params(&[("acr_values", "eidas2"), ("prompt", "none")]),
    );
    let q = answer(&r, RP_CB);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-123");
    assert!(!q.contains_key("code"));

    // The account gets a second factor in another browser: this session still stands for a
    // password, and is sent to confirm with the new factor.
    let uid = t.user_id(AGENT);
    t.block_on(convergences::second_factor::enrol_totp(
        &t.gw,
        uid,
        TOTP_SECRET,
        true,
    ))
    .unwrap();
    let (verifier, challenge) = crate::oidc_provider::pkce();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("acr_values", "eidas2"),
    ];
    let r = authorize(&b, &auth_params(&pkce));
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert!(
        loc.starts_with("/login/confirmer?return_to=%2Foidc%2Fauthorize")
            && loc.ends_with("&mfa=1"),
        "{loc}"
    );
    // A wrong code changes nothing.
    let r = confirm(&b, &loc, "000000");
    assert_ne!(r.status(), 303);
    let r = authorize(
        &b,
        &auth_params(&[("acr_values", "eidas2"), ("prompt", "none")]),
    );
    assert_eq!(answer(&r, RP_CB)["error"], "login_required");
    // The right one comes back to the request, which now answers with a code.
    let before = now();
    let r = confirm(&b, &loc, &totp::code_at_step(TOTP_SECRET, now() / 30));
    assert_eq!(r.status(), 303);
    let back = location(&r);
    assert!(back.starts_with("/oidc/authorize?"), "{back}");
    let r = b.client.get(t.url("auth.test", &back)).send().unwrap();
    let q = answer(&r, RP_CB);
    let (status, tok) = redeem(&t, &q["code"], &verifier);
    assert_eq!(status, 200, "{tok}");
    let claims = id_token_claims(&t, &tok);
    assert_eq!(claims["acr"], "eidas2");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert!(claims["auth_time"].as_i64().unwrap() >= before);
    assert_eq!(claims["nonce"], "n-456", "the request came back whole");
    // From now on eidas2 is reached without a page.
    let (c, v) = code(&b, &[("acr_values", "eidas2"), ("prompt", "none")]);
    let (_, tok) = redeem(&t, &c, &v);
    assert_eq!(id_token_claims(&t, &tok)["acr"], "eidas2");
    // A stale session: the level stays, but a client that wants it recent adds max_age, and
    // the user signs in again (with the second factor, which the account now has).
    b.age_authentication(3600);
    let stale = [("acr_values", "eidas2"), ("max_age", "600")];
    let mut none = stale.to_vec();
    none.push(("prompt", "none"));
    let r = authorize(&b, &auth_params(&none));
    assert_eq!(answer(&r, RP_CB)["error"], "login_required");
    let r = authorize(&b, &auth_params(&stale));
    let loc = location(&r);
    assert!(
        loc.starts_with("/login?return_to=") && loc.contains("reauth=1"),
        "{loc}"
    );
}

/// The level is the session's: a request cannot declare it. Dropping `acr_values` from the
/// URL (what a user skipping the second step would do) yields a code whose ID token says
/// eidas1, which the relying party that asked for eidas2 refuses; `acr` in other parameters
/// is ignored.
#[test]
fn a_forged_request_never_raises_the_level() {
    let t = gateway();
    let b = signed_in(&t);
    for extra in [
        vec![("acr", "eidas2")],
        vec![(
            "claims",
            r#"{"id_token":{"acr":{"essential":true,"value":"eidas2"}}}"#,
        )],
        vec![("amr", "mfa"), ("fresh_after", "0")],
    ] {
        let (c, v) = code(&b, &extra);
        let (_, tok) = redeem(&t, &c, &v);
        let claims = id_token_claims(&t, &tok);
        assert_eq!(claims["acr"], "eidas1", "{extra:?}");
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    }
    // A refresh keeps the level of the authorization, not a later one.
    let (c, v) = code(&b, &[]);
    let (_, tok) = redeem(&t, &c, &v);
    let (status, refreshed) = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ],
        Some(("rp-client", SECRET)),
    );
    assert_eq!(status, 200);
    assert_eq!(id_token_claims(&t, &refreshed)["acr"], "eidas1");
}

/// An application that requires a second factor (`require_mfa`) gets no code for a password
/// session, even without `acr_values`; an account without any factor is told to enrol one.
#[test]
fn require_mfa_applies_to_openid_connect_and_accounts_without_factor_enrol_first() {
    let t = gateway();
    let b = signed_in(&t);
    let (_, challenge) = crate::oidc_provider::pkce();
    let vault = [
        ("response_type", "code"),
        ("client_id", "vault-client"),
        ("redirect_uri", "http://vault.test/cb"),
        ("scope", "openid"),
        ("state", "v"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = authorize(&b, &vault);
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert!(loc.starts_with("/login/confirmer?"), "{loc}");
    let (page, _) = b.visit(&t.url("auth.test", &loc));
    let html = page.text().unwrap();
    assert!(
        html.contains("Activer la vérification en deux étapes"),
        "{html}"
    );
    assert!(
        !html.contains("name=\"password\""),
        "a password is not enough"
    );
    let mut none = vault.to_vec();
    none.push(("prompt", "none"));
    let r = authorize(&b, &none);
    assert_eq!(
        answer(&r, "http://vault.test/cb")["error"],
        "login_required"
    );
    // The same account's request to an ordinary client with eidas2 stops there too.
    let r = authorize(&b, &auth_params(&[("acr_values", "eidas2")]));
    let loc = location(&r);
    let (page, _) = b.visit(&t.url("auth.test", &loc));
    assert!(page
        .text()
        .unwrap()
        .contains("Activer la vérification en deux étapes"));
}
