//! Signing in through an external OpenID Connect provider (docs/identity-providers.md), against
//! the ProConnect-shaped provider of fake_idp.rs: the flow as a browser does it, account linking
//! (by e-mail once, by `sub` after), logout at the provider, and every class of forged or
//! replayed return refused with a French page and nothing stored.

use crate::fake_idp::{agent, FakeIdp, Tamper};
use crate::harness::{csrf_of, Browser, Options, Page, TestGateway};
use serde_json::json;

fn gateway(idp: &FakeIdp, extra: &str) -> TestGateway {
    TestGateway::start_with(Options {
        extra_config: idp.config(extra),
        ..Default::default()
    })
}

/// Clicks "S'identifier avec ProConnect" on the login page and follows every redirect;
/// returns the final status, URL and page.
fn sign_in(b: &Browser) -> (u16, String, String) {
    let login = b.open("/login");
    let href = button_href(&login);
    let (r, url) = b.visit(&href);
    let status = r.status().as_u16();
    let text = r
        .text()
        .unwrap()
        .replace("&#39;", "'")
        .replace("&#x27;", "'");
    (status, url, text)
}

/// The address of the login page's "S'identifier avec ProConnect" button.
fn button_href(login: &Page) -> String {
    login
        .link("S'identifier avec ProConnect")
        .unwrap_or_else(|| panic!("a ProConnect button: {login:?}"))
}

/// Follows the provider button `href` to the provider and stops at its redirect back to the
/// gateway: returns that return address (code and state), not yet visited.
fn provider_return(b: &Browser, href: &str) -> String {
    let r = b.client.get(href).send().unwrap();
    assert_eq!(r.status(), 303);
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let r = b.client.get(&authorize).send().unwrap();
    r.headers()["location"].to_str().unwrap().to_string()
}

fn links(
    t: &TestGateway,
    email: &str,
) -> Vec<convergences::directory::identity_links::IdentityLink> {
    let id = t.user_id(email);
    t.block_on(t.gw.dir.identity_links(id)).unwrap()
}

fn signed_in(b: &Browser) -> bool {
    let (r, url) = b.visit(&b.t.url("auth.test", "/"));
    r.status() == 200 && !url.contains("/login")
}

#[test]
fn first_sign_in_links_by_email_then_by_sub_and_logout_reaches_the_provider() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "trust_email = false");
    let b = t.browser();
    let (status, url, html) = sign_in(&b);
    assert_eq!(status, 200, "{html}");
    assert_eq!(url, t.url("auth.test", "/"));
    assert!(html.contains("Agnès"), "{html}");
    // The request carried only documented parameters, with long random state and nonce.
    let req = idp.get(|s| s.authorize_requests[0].clone());
    let mut names: Vec<&str> = req.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "client_id",
            "code_challenge",
            "code_challenge_method",
            "nonce",
            "redirect_uri",
            "response_type",
            "scope",
            "state"
        ]
    );
    let param = |n: &str| req.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert!(param("state").len() >= 32 && param("nonce").len() >= 32);
    assert_ne!(param("state"), param("nonce"));
    assert_eq!(param("code_challenge_method"), "S256");
    assert_eq!(
        param("redirect_uri"),
        t.url("auth.test", "/login/fournisseur/proconnect/retour")
    );
    assert_eq!(param("scope"), "openid email given_name usual_name siret");
    // Linked by e-mail, recorded, audited with the provider's slug.
    let l = links(&t, "agent@mairie-exemple.fr");
    assert_eq!(l.len(), 1);
    assert_eq!(
        (l[0].provider.as_str(), l[0].subject.as_str()),
        ("proconnect", "pc-agnes-0001")
    );
    assert_eq!(l[0].issuer, idp.issuer);
    let rec = b.session_record().expect("a session");
    assert_eq!(
        rec.provider.as_ref().map(|p| p.slug.as_str()),
        Some("proconnect")
    );
    assert_eq!(rec.assurance.acr, "eidas1");
    assert_eq!(rec.assurance.amr, ["pwd"]);
    assert_eq!(
        t.block_on(t.gw.dir.count_audit("provider_linked")).unwrap(),
        1
    );

    // Logout ends the provider's session too.
    let (page, _) = b.visit(&t.url("auth.test", "/logout"));
    let csrf = csrf_of(&page.text().unwrap());
    let r = b
        .client
        .post(t.url("auth.test", "/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&format!("{}/logout?", idp.issuer)), "{to}");
    let (r, url) = b.visit(&to);
    assert_eq!(r.status(), 200);
    assert_eq!(url, t.url("auth.test", "/login?logged_out=1"));
    let lo = idp.get(|s| s.logouts[0].clone());
    assert_eq!(lo["id_token_hint"], rec.provider.as_ref().unwrap().id_token);
    assert!(lo["state"].len() >= 32);
    assert_eq!(
        lo["post_logout_redirect_uri"],
        t.url("auth.test", "/login/fournisseur/deconnexion")
    );
    assert!(!signed_in(&b));

    // The e-mail changes at the provider: the `sub` still finds the same account.
    idp.set(|s| {
        s.user["email"] = json!("agnes.agent@ailleurs.fr");
        s.userinfo_jwt = false;
    });
    let b2 = t.browser();
    let (status, url, html) = sign_in(&b2);
    assert_eq!(
        (status, url.as_str()),
        (200, t.url("auth.test", "/").as_str()),
        "{html}"
    );
    assert!(html.contains("Agnès"));
    assert_eq!(links(&t, "agent@mairie-exemple.fr").len(), 1);
    assert_eq!(
        t.block_on(t.gw.dir.user_id_by_email("agnes.agent@ailleurs.fr"))
            .unwrap(),
        None
    );
}

/// Refusals of a first sign-in: a French page, nothing linked, no session.
#[test]
fn identities_that_match_no_usable_account_are_refused_and_nothing_is_stored() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "");
    let refused = |expect: &str, status: u16| {
        let b = t.browser();
        let (s, _, html) = sign_in(&b);
        assert_eq!(s, status, "{html}");
        assert!(html.contains(expect), "expected {expect:?} in {html}");
        assert!(!signed_in(&b));
    };
    // Unverified e-mail.
    idp.set(|s| s.user["email_verified"] = json!(false));
    refused("n'a pas confirmé votre adresse e-mail", 403);
    // No account has this e-mail.
    idp.set(|s| {
        s.user = agent();
        s.user["email"] = json!("inconnu@mairie-exemple.fr");
    });
    refused(
        "Demandez à votre référent administrateur de vous inscrire",
        403,
    );
    // An account whose address is outside its structure's domains.
    let mairie = t.structure_id("mairie-exemple");
    let outsider = t.block_on(
        t.gw.dir
            .provision_user(convergences::directory::users::NewUser {
                email: "agent@gmail.example",
                first_name: "Hors",
                last_name: "Domaine",
                structure_id: mairie,
                job_title: "",
                service: "",
                app_identifier: "",
                platform_admin: false,
                created_by: None,
            }),
    );
    let outsider = outsider.unwrap();
    idp.set(|s| s.user["email"] = json!("agent@gmail.example"));
    refused("n'appartient pas aux domaines de votre structure", 403);
    assert!(t
        .block_on(t.gw.dir.identity_links(outsider))
        .unwrap()
        .is_empty());
    // A locked account.
    let agent_id = t.user_id("agent@mairie-exemple.fr");
    t.block_on(t.gw.dir.set_locked(agent_id, true)).unwrap();
    t.gw.user_changed(agent_id);
    idp.set(|s| s.user = agent());
    refused("verrouillé", 403);
    assert!(links(&t, "agent@mairie-exemple.fr").is_empty());
    t.block_on(t.gw.dir.set_locked(agent_id, false)).unwrap();
    t.gw.user_changed(agent_id);
    // The account is linked to another identity at this provider: an identity asserting the
    // same e-mail with another `sub` does not take it over.
    let b = t.browser();
    assert_eq!(sign_in(&b).0, 200);
    idp.set(|s| s.user["sub"] = json!("pc-impostor"));
    refused("déjà associé à une autre identité ProConnect", 403);
    let l = links(&t, "agent@mairie-exemple.fr");
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].subject, "pc-agnes-0001");
    assert!(t
        .block_on(t.gw.dir.linked_user(&idp.issuer, "pc-impostor"))
        .unwrap()
        .is_none());
}

/// Every class of forged provider response is refused with a French page; nothing is linked
/// and no session starts.
#[test]
fn forged_tokens_are_refused() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "acr_values = [\"eidas1\", \"eidas2\"]");
    for (tamper, page) in [
        (Tamper::WrongIssuer, "n'a pas pu être vérifiée"),
        (Tamper::WrongAudience, "n'a pas pu être vérifiée"),
        (Tamper::Expired, "n'a pas pu être vérifiée"),
        (Tamper::BadSignature, "n'a pas pu être vérifiée"),
        (Tamper::AlgNone, "n'a pas pu être vérifiée"),
        (Tamper::Hs256WithPublicKey, "n'a pas pu être vérifiée"),
        (Tamper::OtherNonce, "n'a pas pu être vérifiée"),
        (Tamper::UserinfoOtherSub, "n'a pas pu être vérifiée"),
    ] {
        idp.set(|s| s.tamper = tamper);
        let b = t.browser();
        let (status, _, html) = sign_in(&b);
        assert_eq!(status, 400, "{tamper:?}: {html}");
        assert!(html.contains(page), "{tamper:?}: {html}");
        assert!(!signed_in(&b), "{tamper:?}");
    }
    // An `acr` below the configured levels, or none.
    idp.set(|s| {
        s.tamper = Tamper::None;
        s.user["acr"] = json!("eidas0");
    });
    let b = t.browser();
    let (status, _, html) = sign_in(&b);
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("niveau d'authentification demandé"), "{html}");
    idp.set(|s| s.user["acr"] = serde_json::Value::Null);
    assert_eq!(sign_in(&t.browser()).0, 403);
    assert!(links(&t, "agent@mairie-exemple.fr").is_empty());
    assert!(idp.get(|s| s.authorize_requests.iter().all(|r| r
        .iter()
        .any(|(k, v)| k == "acr_values" && v == "eidas1 eidas2"))));
    // The same provider's honest answer goes through.
    idp.set(|s| s.user["acr"] = json!("eidas1"));
    assert_eq!(sign_in(&t.browser()).0, 200);
}

/// `state`: unknown, replayed, or brought back by another browser.
#[test]
fn state_is_single_use_and_bound_to_the_browser() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "");
    let b = t.browser();
    let href = button_href(&b.open("/login"));
    // Start, and stop at the provider's redirect back to the gateway.
    let callback = provider_return(&b, &href);
    assert!(callback.contains("/login/fournisseur/proconnect/retour?code="));
    // Another browser presenting this return gets nothing, and burns nothing it could reuse.
    let thief = t.browser();
    let (r, _) = thief.visit(&callback);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("a expiré ou a déjà servi"));
    assert!(!signed_in(&thief));
    // A made-up state.
    let forged = callback.replace("state=", "state=x");
    let (r, _) = b.visit(&forged);
    assert_eq!(r.status(), 400);
    // A fresh attempt succeeds once; its return replayed is refused.
    let callback = provider_return(&b, &href);
    let (r, url) = b.visit(&callback);
    assert_eq!((r.status().as_u16(), url), (200, t.url("auth.test", "/")));
    let (r, _) = b.visit(&callback);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("a expiré ou a déjà servi"));
    // The stolen return never reached the token endpoint: its code is still unredeemed.
    assert_eq!(idp.get(|s| s.codes.len()), 1);
}

/// The provider rotates its keys: a token under a new key id reads the keys again. A
/// provider that cannot be reached leaves the instance ready and its button says so.
#[test]
fn key_rotation_and_an_unreachable_provider() {
    let idp = FakeIdp::start();
    let dead = crate::harness::free_port();
    let t = gateway(
        &idp,
        &format!(
            r#"
[[identity_providers]]
slug = "mairie"
name = "Mairie d'Exemple"
issuer = "http://127.0.0.1:{dead}"
client_id = "c"
client_secret = "s"
timeout_seconds = 1
"#
        ),
    );
    // First sign-in caches key 1.
    assert_eq!(sign_in(&t.browser()).0, 200);
    let fetches = idp.get(|s| s.jwks_fetches);
    idp.set(|s| {
        s.published = vec![0, 1];
        s.signing = 1;
    });
    assert_eq!(sign_in(&t.browser()).0, 200);
    assert_eq!(idp.get(|s| s.jwks_fetches), fetches + 1);
    // A made-up key id right after reads the keys no more (at most once per ten seconds).
    idp.set(|s| s.tamper = Tamper::UnknownKid);
    assert_eq!(sign_in(&t.browser()).0, 400);
    assert_eq!(idp.get(|s| s.jwks_fetches), fetches + 1);

    // The dead provider: ready anyway, reported, its button disabled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = t.readyz();
        assert_eq!(status, 200);
        if body.contains("identity provider mairie: unavailable") {
            assert!(body.contains("identity provider proconnect: ok"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (page, _) = t.browser().visit(&t.url("auth.test", "/login"));
    let html = page.text().unwrap();
    assert!(
        html.replace("&#39;", "'")
            .contains("S'identifier avec Mairie d'Exemple : service momentanément indisponible"),
        "{html}"
    );
    let (r, _) = t
        .browser()
        .visit(&t.url("auth.test", "/login/fournisseur/mairie"));
    assert_eq!(r.status(), 503);
    assert!(r.text().unwrap().contains("momentanément indisponible"));
    // Unknown provider slug.
    let (r, _) = t
        .browser()
        .visit(&t.url("auth.test", "/login/fournisseur/inconnu"));
    assert_eq!(r.status(), 404);
}

/// The provider's `acr` counts as a second factor when it reaches `second_factor_acr`; below
/// it, an account with its own second factor is asked for its code.
#[test]
fn provider_level_and_the_local_second_factor() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "second_factor_acr = [\"eidas2\", \"eidas3\"]");
    t.block_on(convergences::demo::seed_second_factor_account(&t.gw))
        .unwrap();
    let email = convergences::demo::DEMO_TOTP_ACCOUNT;
    idp.set(|s| {
        s.user["sub"] = json!("pc-sandrine");
        s.user["email"] = json!(email);
        s.user["acr"] = json!("eidas1");
    });
    let b = t.browser();
    let (status, url, _) = sign_in(&b);
    assert_eq!(status, 200);
    assert_eq!(url, t.url("auth.test", "/login/verification"));
    assert!(b.session_record().is_none());
    idp.set(|s| {
        s.user["acr"] = json!("eidas2");
        s.user["amr"] = json!(["pwd", "otp"]);
    });
    let b = t.browser();
    let (status, url, _) = sign_in(&b);
    assert_eq!((status, url), (200, t.url("auth.test", "/")));
    let rec = b.session_record().unwrap();
    assert_eq!(rec.assurance.acr, "eidas2");
    assert_eq!(rec.assurance.amr, ["pwd", "otp", "mfa"]);
}

/// `create_accounts`: an unknown agent gets an account without any role in the structure the
/// SIRET maps to, or the one structure owning the e-mail's domain.
#[test]
fn accounts_are_created_only_when_configured_and_unambiguous() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "create_accounts = true");
    idp.set(|s| {
        s.user["sub"] = json!("pc-new");
        s.user["email"] = json!("nouvel.agent@mairie-exemple.fr");
        s.user["given_name"] = json!("Nouvel");
        s.user["usual_name"] = json!("Agent");
    });
    let b = t.browser();
    let (status, _, html) = sign_in(&b);
    assert_eq!(status, 200, "{html}");
    let id = t.user_id("nouvel.agent@mairie-exemple.fr");
    let ident = t.block_on(t.gw.dir.identity(id)).unwrap().unwrap();
    assert_eq!(ident.structure_names, ["mairie-exemple"]);
    assert!(ident.grants.is_empty());
    assert!(!ident.has_password);
    assert_eq!(
        t.block_on(t.gw.dir.count_audit("provider_account_created"))
            .unwrap(),
        1
    );
    // A domain no structure owns: nothing created.
    idp.set(|s| {
        s.user["sub"] = json!("pc-other");
        s.user["email"] = json!("x@nulle-part.example");
    });
    let (status, _, html) = sign_in(&t.browser());
    assert_eq!(status, 403);
    assert!(html.contains("de vous inscrire"), "{html}");
    assert_eq!(
        t.block_on(t.gw.dir.user_id_by_email("x@nulle-part.example"))
            .unwrap(),
        None
    );
}

/// The référent sees the link on the agent's card and removes it (audited, sessions closed);
/// a référent of another structure cannot, even with the agent's id and a valid token.
#[test]
fn the_referent_sees_and_removes_the_link_and_no_one_else_can() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "");
    let agent_browser = t.browser();
    assert_eq!(sign_in(&agent_browser).0, 200);
    let agent = t.user_id("agent@mairie-exemple.fr");
    let card = format!("/aia/utilisateurs/{agent}");
    let unlink = format!("/aia/utilisateurs/{agent}/fournisseur/dissocier");

    // A référent of another structure.
    let w = t.world();
    let other = w.establishment("autre-mairie", "Autre mairie", "autre-mairie.fr");
    let o = w.login(&w.referent(&other, "referent"));
    let token = o.open("/aia/profil").csrf();
    o.submit(&unlink, &[("csrf", &token), ("fournisseur", "proconnect")])
        .assert_error(404);
    // Anonymous: sent to the login page, nothing done.
    let p = t
        .browser()
        .submit(&unlink, &[("csrf", "x"), ("fournisseur", "proconnect")]);
    assert_eq!(p.status, 303);
    assert_eq!(links(&t, "agent@mairie-exemple.fr").len(), 1);

    // The agent's référent.
    let b = t.browser();
    assert_eq!(
        b.login("referent@mairie-exemple.fr", crate::harness::PASSWORD)
            .0,
        303
    );
    let page = b.open(&card);
    assert!(
        page.h2s().contains(&"Identité externe".to_string()),
        "{page:?}"
    );
    assert!(
        page.text().contains("Associé à une identité ProConnect"),
        "{page:?}"
    );
    let token = page.csrf();
    // Without a valid token: refused, nothing done.
    let p = b.submit(
        &unlink,
        &[("csrf", "forged"), ("fournisseur", "proconnect")],
    );
    assert_ne!(p.status, 303);
    assert_eq!(links(&t, "agent@mairie-exemple.fr").len(), 1);
    let p = b.submit(&unlink, &[("csrf", &token), ("fournisseur", "proconnect")]);
    assert_eq!(p.status, 303);
    assert!(links(&t, "agent@mairie-exemple.fr").is_empty());
    assert_eq!(
        t.block_on(t.gw.dir.count_audit("provider_unlinked"))
            .unwrap(),
        1
    );
    assert!(
        !signed_in(&agent_browser),
        "the agent's sessions are closed"
    );
    // Unlinking again: nothing to remove.
    b.submit(&unlink, &[("csrf", &token), ("fournisseur", "proconnect")])
        .assert_error(404);
}
