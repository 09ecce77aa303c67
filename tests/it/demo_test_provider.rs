//! The demo's built-in identity provider (src/demo/test_provider/, `convergences demo
//! --with-test-provider`), registered with a gateway exactly as the demo does it
//! (`demo::test_provider_entry`), driven over HTTP as a newcomer would: the button, the
//! provider's French page, the choice of a demo account, the portal, logout through the
//! provider; then the provider's own refusals, and the command line.

use crate::harness::{claims_of, rt, Browser, Options, Page, TestGateway};
use convergences::demo::test_provider::{self, Settings, CLIENT_ID, CLIENT_SECRET};
use std::collections::HashMap;

const BUTTON: &str = "S'identifier avec le fournisseur de test";
const AGENT: &str = "agent@mairie-exemple.fr";

struct Demo {
    t: TestGateway,
    issuer: String,
    _keys: tempfile::TempDir,
}

/// The provider on an ephemeral loopback port, and a gateway with the demo's directory that
/// offers it.
fn start() -> Demo {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let t = TestGateway::start_with(Options {
        extra_config: convergences::demo::test_provider_entry(&issuer),
        ..Default::default()
    });
    let keys = tempfile::tempdir().unwrap();
    let router = test_provider::router(Settings {
        issuer: issuer.clone(),
        portal_url: t.gw.config.public_url.clone(),
        key_dir: keys.path().to_path_buf(),
    })
    .unwrap();
    listener.set_nonblocking(true).unwrap();
    rt().spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        let _ = axum::serve(l, router).await;
    });
    Demo {
        t,
        issuer,
        _keys: keys,
    }
}

/// From the login page to the provider's page: the button, followed like a browser.
fn provider_page(d: &Demo, b: &Browser) -> (String, Page) {
    let login = b.open("/login");
    let href = login
        .link(BUTTON)
        .unwrap_or_else(|| panic!("the provider's button: {}", login.text()));
    let (r, url) = b.visit(&crate::harness::absolute(&d.t.url("auth.test", "/"), &href));
    (url, Page::of(r))
}

/// Presses "Se connecter en tant {whom}" on the provider's page; returns the provider's
/// answer (a redirect back to the gateway), not followed.
fn choose(d: &Demo, b: &Browser, page: &Page, whom: &str) -> reqwest::blocking::Response {
    let buttons = page.texts("button[name=compte]");
    let values = page.attrs("button[name=compte]", "value");
    let label = format!("Se connecter en tant {whom}");
    let i = buttons
        .iter()
        .position(|t| *t == label)
        .unwrap_or_else(|| panic!("{label}: {buttons:?}"));
    let request = page.attrs("input[name=demande]", "value").remove(0);
    pick(d, &b.client, &request, &values[i])
}

/// Posts the provider's form: the waiting `request`, the button's value `account`.
fn pick(
    d: &Demo,
    http: &reqwest::blocking::Client,
    request: &str,
    account: &str,
) -> reqwest::blocking::Response {
    http.post(format!("{}/authorize", d.issuer))
        .form(&[("demande", request), ("compte", account)])
        .send()
        .unwrap()
}

/// The whole sign-in as `whom` ("qu'Agnès Agent"); returns the portal's home page.
fn sign_in_as(d: &Demo, b: &Browser, whom: &str) -> (String, Page) {
    let (_, page) = provider_page(d, b);
    let r = choose(d, b, &page, whom);
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    let (r, url) = b.visit(&back);
    (url, Page::of(r))
}

fn links(t: &TestGateway, email: &str) -> Vec<(String, String, String)> {
    let id = t.user_id(email);
    t.block_on(t.gw.dir.identity_links(id))
        .unwrap()
        .into_iter()
        .map(|l| (l.provider, l.subject, l.issuer))
        .collect()
}

#[test]
fn a_newcomer_signs_in_as_the_demo_agent_without_a_password_and_logs_out_through_the_provider() {
    let d = start();
    let t = &d.t;
    let b = t.browser();
    let (url, page) = provider_page(&d, &b);
    assert!(
        url.starts_with(&format!("{}/authorize?", d.issuer)),
        "{url}"
    );
    assert_eq!(page.status, 200);
    assert_eq!(page.h1(), "Fournisseur d'identité de test — démonstration");
    assert!(
        page.text()
            .contains("Ce n'est pas un vrai fournisseur d'identité."),
        "{}",
        page.text()
    );
    assert_eq!(
        page.texts("button[name=compte]"),
        [
            "Se connecter en tant qu'Agnès Agent",
            "Se connecter en tant que Régis Référent",
            "Annuler et revenir au portail"
        ]
    );
    let r = choose(&d, &b, &page, "qu'Agnès Agent");
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with(&t.url("auth.test", "/login/fournisseur/test/retour?code=")),
        "{back}"
    );
    let (r, url) = b.visit(&back);
    let home = Page::of(r);
    assert_eq!(url, t.url("auth.test", "/"));
    assert_eq!(home.status, 200);
    assert!(home.text().contains("Agnès"), "{}", home.text());
    assert_eq!(
        home.texts(".tile-name"),
        ["BIP", "Annuaire des identités et des accès"]
    );
    // Linked by e-mail the first time (trust_email in the demo), recorded with the provider.
    assert_eq!(
        links(t, AGENT),
        [(
            "test".to_string(),
            "pc-agnes-0001".to_string(),
            d.issuer.clone()
        )]
    );
    let rec = b.session_record().expect("a session");
    assert_eq!(rec.provider.as_ref().map(|p| p.slug.as_str()), Some("test"));
    assert_eq!(rec.assurance.acr, "eidas1");

    // Logout goes through the provider and comes back to the portal's login page.
    let logout = b.open("/logout");
    let r = b
        .client
        .post(t.url("auth.test", "/logout"))
        .form(&[("csrf", logout.csrf().as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with(&format!("{}/session/end?", d.issuer)),
        "{to}"
    );
    let (r, url) = b.visit(&to);
    assert_eq!(r.status(), 200);
    assert_eq!(url, t.url("auth.test", "/login?logged_out=1"));
    let (_, url) = b.visit(&t.url("auth.test", "/"));
    assert!(url.contains("/login"), "signed out: {url}");

    // A second sign-in finds the account by its `sub`: no new link.
    let again = t.browser();
    let (url, home) = sign_in_as(&d, &again, "qu'Agnès Agent");
    assert_eq!(url, t.url("auth.test", "/"), "{}", home.text());
    assert_eq!(links(t, AGENT).len(), 1);
    assert_eq!(
        t.block_on(t.gw.dir.count_audit("provider_linked")).unwrap(),
        1
    );

    // The référent too, with his own tiles.
    let other = t.browser();
    let (url, home) = sign_in_as(&d, &other, "que Régis Référent");
    assert_eq!(url, t.url("auth.test", "/"), "{}", home.text());
    assert_eq!(
        home.texts(".tile-name"),
        [
            "BIP",
            "Net-Cotisations",
            "Annuaire des identités et des accès"
        ]
    );

    // « Annuler » comes back to the portal, which says the sign-in did not happen.
    let cancel = t.browser();
    let (_, page) = provider_page(&d, &cancel);
    let request = page.attrs("input[name=demande]", "value").remove(0);
    let r = pick(&d, &cancel.client, &request, "annuler");
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(back.contains("error=access_denied"), "{back}");
    let (r, _) = cancel.visit(&back);
    let page = Page::of(r);
    assert_eq!(page.status, 401);
    assert!(page.text().contains("n'a pas abouti"), "{}", page.text());
    // The same request cannot be used twice.
    let r = pick(&d, &cancel.client, &request, "0");
    assert_eq!(r.status(), 400);
}

fn b64url_sha256(s: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(s.as_bytes()))
}

/// An authorization request of the demo's client, made by hand; returns the code the provider
/// sends back for the agent.
fn code_for_agent(d: &Demo, http: &reqwest::blocking::Client, verifier: &str) -> String {
    let redirect = d.t.url("auth.test", "/login/fournisseur/test/retour");
    let mut url = reqwest::Url::parse(&format!("{}/authorize", d.issuer)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid email given_name usual_name uid siret")
        .append_pair("state", "etat-1")
        .append_pair("nonce", "nonce-1")
        .append_pair("code_challenge", &b64url_sha256(verifier))
        .append_pair("code_challenge_method", "S256");
    let page = Page::of(http.get(url).send().unwrap());
    assert_eq!(page.status, 200, "{}", page.text());
    let request = page.attrs("input[name=demande]", "value").remove(0);
    let r = pick(d, http, &request, "0");
    assert_eq!(r.status(), 303);
    let to = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "etat-1");
    assert_eq!(q["iss"], d.issuer);
    q["code"].clone()
}

fn redeem(
    d: &Demo,
    http: &reqwest::blocking::Client,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let redirect = d.t.url("auth.test", "/login/fournisseur/test/retour");
    let r = http
        .post(format!("{}/token", d.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn the_provider_issues_proconnect_shaped_tokens_and_refuses_replays_wrong_verifiers_and_foreign_addresses(
) {
    let d = start();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = convergences::auth::random_token();

    // A wrong verifier is refused, and the code is spent all the same.
    let code = code_for_agent(&d, &http, &verifier);
    let (status, body) = redeem(&d, &http, &code, &convergences::auth::random_token());
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(redeem(&d, &http, &code, &verifier).0, 400);

    // The right one gets an RS256 ID token; the same code a second time gets nothing.
    let code = code_for_agent(&d, &http, &verifier);
    let (status, body) = redeem(&d, &http, &code, &verifier);
    assert_eq!(status, 200, "{body}");
    let id_token = body["id_token"].as_str().unwrap().to_string();
    let header = jsonwebtoken::decode_header(&id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let c = claims_of(&id_token);
    assert_eq!(c["iss"], d.issuer);
    assert_eq!(c["aud"], CLIENT_ID);
    assert_eq!(c["nonce"], "nonce-1");
    assert_eq!(c["acr"], "eidas1");
    assert_eq!(c["sub"], "pc-agnes-0001");
    assert_eq!(c["email"], AGENT);
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    let (status, body) = redeem(&d, &http, &code, &verifier);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A wrong secret is another client.
    let r = http
        .post(format!("{}/token", d.issuer))
        .form(&[
            ("code", "x"),
            ("client_id", CLIENT_ID),
            ("client_secret", "devine"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // Userinfo: a signed JWT with ProConnect's claims.
    let code = code_for_agent(&d, &http, &verifier);
    let (_, body) = redeem(&d, &http, &code, &verifier);
    let r = http
        .get(format!("{}/userinfo", d.issuer))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/jwt"));
    let info = claims_of(&r.text().unwrap());
    for (k, v) in [
        ("sub", "pc-agnes-0001"),
        ("email", AGENT),
        ("given_name", "Agnès"),
        ("usual_name", "Agent"),
        ("uid", "agnes-0001"),
        ("siret", "21750001600019"),
    ] {
        assert_eq!(info[k], v, "{k}: {info}");
    }
    assert_eq!(info["email_verified"], true);
    let r = http
        .get(format!("{}/userinfo", d.issuer))
        .bearer_auth("inconnu")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // An authorization request for another return address, or without PKCE: a French
    // refusal, never a redirect.
    let refused = |query: &str| {
        let page = Page::of(
            http.get(format!("{}/authorize?{query}", d.issuer))
                .send()
                .unwrap(),
        );
        assert_eq!(page.status, 400, "{query}");
        assert!(page.location.is_empty());
        page.text()
    };
    let foreign = format!(
        "response_type=code&client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid&state=s&nonce=n&code_challenge={}&code_challenge_method=S256",
        b64url_sha256(&verifier)
    );
    assert!(refused(&foreign).contains("Adresse de retour non enregistrée"));
    let redirect: String = form_urlencoded::byte_serialize(
        d.t.url("auth.test", "/login/fournisseur/test/retour")
            .as_bytes(),
    )
    .collect();
    let plain = format!(
        "response_type=code&client_id={CLIENT_ID}&redirect_uri={redirect}&scope=openid&state=s&nonce=n"
    );
    assert!(refused(&plain).contains("PKCE"));
    assert!(refused("client_id=a&client_id=b").contains("répété"));

    // Logout: back to the registered address with `state`; a foreign address is not followed.
    let registered = d.t.url("auth.test", "/login/fournisseur/deconnexion");
    let mut end = reqwest::Url::parse(&format!("{}/session/end", d.issuer)).unwrap();
    end.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &registered)
        .append_pair("state", "etat-2");
    let r = http.get(end).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{registered}?state=etat-2")
    );
    let mut end = reqwest::Url::parse(&format!("{}/session/end", d.issuer)).unwrap();
    end.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .append_pair("state", "etat-2");
    let page = Page::of(http.get(end).send().unwrap());
    assert_eq!(page.status, 400);
    assert!(page.location.is_empty());
    assert!(page.text().contains("non enregistrée"), "{}", page.text());
}

#[test]
fn the_demo_command_accepts_with_test_provider_but_not_with_an_external_one() {
    let bin = env!("CARGO_BIN_EXE_convergences");
    let out = std::process::Command::new(bin)
        .args(["demo", "--with-test-provider", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--with-test-provider"));
    let out = std::process::Command::new(bin)
        .args([
            "demo",
            "--with-test-provider",
            "--test-provider",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
}
