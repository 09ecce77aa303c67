//! Strong authentication beyond the TOTP code (docs/security.md): passkeys as a second factor,
//! the confirmation of identity before sensitive actions and applications that require a
//! second factor (step-up), the policy that makes a second factor compulsory, and the reset of
//! a lost factor by the right référent.

use crate::harness::{echo_upstream, Browser, Options, TestGateway, PASSWORD};
use crate::page::Page;
use convergences::auth::totp;
use convergences::demo::{DEMO_TOTP_ACCOUNT, DEMO_TOTP_SECRET};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const AGENT: &str = "agent@mairie-exemple.fr";
const REFERENT: &str = "referent@mairie-exemple.fr";

fn now() -> i64 {
    convergences::directory::now()
}

fn totp_code(secret: &[u8], offset: i64) -> String {
    totp::code_at_step(secret, now() / 30 + offset)
}

fn origin(t: &TestGateway) -> Url {
    Url::parse(&t.gw.config.public_url).unwrap()
}

/// The password step of a login; 303 to the second step for an account with a factor.
fn password_step(b: &Browser, email: &str) -> reqwest::blocking::Response {
    let csrf = b.csrf("/login");
    b.post(
        "/login",
        &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
    )
}

/// Enrols a passkey held by `key` on the signed-in account; returns the answer to the form.
fn enrol_passkey(b: &Browser, key: &mut SoftPasskey, name: &str) -> reqwest::blocking::Response {
    let csrf = b.csrf("/aia/profil/securite");
    let j: serde_json::Value = b
        .post("/aia/profil/securite/cles/options", &[("csrf", &csrf)])
        .json()
        .unwrap();
    assert!(
        j.get("confirm").is_none(),
        "a fresh session registers at once: {j}"
    );
    let options: CreationChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    // The test host is not a secure context for the library's client checks (a browser treats
    // it as one); the authenticator itself is driven as a browser would.
    let answer = key
        .perform_register(origin(b.t), options.public_key, 60_000)
        .unwrap();
    b.post(
        "/aia/profil/securite/cles",
        &[
            ("csrf", &csrf),
            ("name", name),
            ("ceremony", j["ceremony"].as_str().unwrap()),
            ("response", &serde_json::to_string(&answer).unwrap()),
        ],
    )
}

/// Options and a signed answer for the pending login (or, with `path`, another ceremony).
fn passkey_answer(
    b: &Browser,
    key: &mut SoftPasskey,
    options_path: &str,
    page: &str,
) -> (String, String, String) {
    let csrf = b.csrf(page);
    let r = b.post(options_path, &[("csrf", &csrf)]);
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let answer = key
        .perform_auth(origin(b.t), options.public_key, 60_000)
        .unwrap();
    (
        csrf,
        j["ceremony"].as_str().unwrap().to_string(),
        serde_json::to_string(&answer).unwrap(),
    )
}

fn recovery_codes(html: &str) -> Vec<String> {
    html.match_indices("<li><code>")
        .map(|(i, _)| html[i + 10..i + 21].to_string())
        .collect()
}

#[test]
fn a_passkey_is_enrolled_named_and_used_as_the_second_factor() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login(AGENT, PASSWORD);
    let mut key = SoftPasskey::new(true);
    let r = enrol_passkey(&b, &mut key, "Clé bleue");
    assert_eq!(r.status(), 200);
    assert_eq!(
        recovery_codes(&r.text().unwrap()).len(),
        10,
        "the first factor comes with recovery codes"
    );
    let keys = b
        .open("/aia/profil/securite")
        .table_rows("Clés enregistrées");
    assert!(keys.iter().any(|k| k[0] == "Clé bleue"), "{keys:?}");

    // From now on the password alone does not sign in; the key does.
    let b2 = t.browser();
    let r = password_step(&b2, AGENT);
    assert_eq!(r.headers()["location"], "/login/verification");
    let p = b2.open("/login/verification");
    assert!(
        p.texts("button[data-passkey-start]")
            .contains(&"Utiliser ma clé de sécurité".to_string()),
        "{p:?}"
    );
    let (csrf, ceremony, answer) = passkey_answer(
        &b2,
        &mut key,
        "/login/verification/cle",
        "/login/verification",
    );
    let signed = [
        ("csrf", csrf.as_str()),
        ("ceremony", &ceremony),
        ("response", &answer),
    ];
    let r = b2.post("/login/verification", &signed);
    assert_eq!(r.status(), 303, "{:?}", r.text());
    assert_eq!(r.headers()["location"], "/");
    let claims = b2.assertion_claims("bip.test");
    assert_eq!(claims["acr"], "eidas2");
    let amr = claims["amr"].as_array().unwrap();
    assert!(amr.contains(&"mfa".into()), "{amr:?}");
    assert!(
        amr.contains(&"hwk".into()) || amr.contains(&"swk".into()),
        "{amr:?}"
    );

    // The same answer again, in another login: the ceremony was used, it is refused.
    let b3 = t.browser();
    password_step(&b3, AGENT);
    let csrf3 = b3.csrf("/login/verification");
    let replay = [
        ("csrf", csrf3.as_str()),
        ("ceremony", &ceremony),
        ("response", &answer),
    ];
    let r = b3.post("/login/verification", &replay);
    let p = Page::of(r);
    assert_eq!(p.status, 422);
    assert!(
        p.text_at("#code-error")
            .is_some_and(|e| e.contains("a expiré")),
        "{p:?}"
    );
    // An answer signed for one ceremony does not fit another one (the challenge differs).
    let (csrf3, other_ceremony, _) = passkey_answer(
        &b3,
        &mut key,
        "/login/verification/cle",
        "/login/verification",
    );
    let mixed = [
        ("csrf", csrf3.as_str()),
        ("ceremony", &other_ceremony),
        ("response", &answer),
    ];
    let r = b3.post("/login/verification", &mixed);
    let p = Page::of(r);
    assert_eq!(p.status, 401);
    assert!(
        p.text_at("#code-error")
            .is_some_and(|e| e.contains("pas été reconnue")),
        "{p:?}"
    );
    // Garbage in the answer: a French refusal, never a 500.
    let (csrf3, ceremony3, _) = passkey_answer(
        &b3,
        &mut key,
        "/login/verification/cle",
        "/login/verification",
    );
    for junk in ["", "{}", "null", "{\"id\":1}", &"x".repeat(20_000)] {
        let r = b3.post(
            "/login/verification",
            &[
                ("csrf", csrf3.as_str()),
                ("ceremony", &ceremony3),
                ("response", junk),
            ],
        );
        assert!(
            matches!(r.status().as_u16(), 401 | 422 | 429),
            "{junk:.20}: {}",
            r.status()
        );
    }
}

#[test]
fn a_key_belongs_to_one_account_and_only_its_owner_removes_it() {
    let t = TestGateway::start();
    let agent = t.browser();
    agent.login(AGENT, PASSWORD);
    let mut key = SoftPasskey::new(true);
    assert_eq!(
        enrol_passkey(&agent, &mut key, "Clé de l'agent").status(),
        200
    );
    let uid = t.user_id(AGENT);
    let key_id = t.block_on(t.gw.dir.passkeys(uid)).unwrap()[0].id;

    // The référent signs in with the agent's key: no ceremony exists for his account (he has
    // no key), and the agent's answer does not open his login.
    let referent = t.browser();
    referent.login(REFERENT, PASSWORD);
    let (csrf, _, _) = (referent.csrf("/aia/profil/securite"), (), ());
    let path = format!("/aia/profil/securite/cles/{key_id}/supprimer");
    let r = referent.post(&path, &[("csrf", &csrf)]);
    assert_eq!(r.status(), 404, "another account's key id removes nothing");
    assert_eq!(t.block_on(t.gw.dir.passkey_count(uid)).unwrap(), 1);
    // A second registration excludes the key already registered (its authenticator refuses).
    let csrf = agent.csrf("/aia/profil/securite");
    let j: serde_json::Value = agent
        .post("/aia/profil/securite/cles/options", &[("csrf", &csrf)])
        .json()
        .unwrap();
    let cred = t.block_on(t.gw.dir.passkeys(uid)).unwrap()[0]
        .credential_id
        .clone();
    let excluded = &j["options"]["publicKey"]["excludeCredentials"];
    assert_eq!(excluded[0]["id"], cred.as_str(), "{excluded}");
    // Its owner removes it; with no factor left, the recovery codes go too.
    let csrf = agent.csrf("/aia/profil/securite");
    let r = agent.post(&path, &[("csrf", &csrf)]);
    assert_eq!(r.status(), 303);
    assert_eq!(t.block_on(t.gw.dir.passkey_count(uid)).unwrap(), 0);
    assert_eq!(t.block_on(t.gw.dir.recovery_codes_left(uid)).unwrap(), 0);
}

#[test]
fn sensitive_actions_ask_to_confirm_identity_then_carry_on() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login(REFERENT, PASSWORD);
    // Just signed in: the export goes through.
    let (r, _) = b.visit(&t.url("auth.test", "/aia/utilisateurs/export.csv"));
    assert_eq!(r.status(), 200);
    // Twenty minutes later (the test configuration keeps the default 15): confirm first.
    b.age_authentication(20 * 60);
    let r = b
        .client
        .get(t.url("auth.test", "/aia/utilisateurs/export.csv"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/login/confirmer?return_to=%2Faia%2Futilisateurs%2Fexport.csv"),
        "{location}"
    );
    let p = b.open(&location);
    assert_eq!(p.h1(), "Confirmez votre identité", "{p:?}");
    assert!(
        p.texts("label").contains(&"Mot de passe".to_string()),
        "{p:?}"
    );
    let csrf = crate::harness::csrf_of(&p.body);
    let confirm = |password: &str| {
        b.post(
            "/login/confirmer",
            &[
                ("csrf", &csrf),
                ("password", password),
                ("return_to", "/aia/utilisateurs/export.csv"),
            ],
        )
    };
    assert_eq!(confirm("wrong password").status(), 401);
    let r = confirm(PASSWORD);
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/aia/utilisateurs/export.csv");
    let (r, _) = b.visit(&t.url("auth.test", "/aia/utilisateurs/export.csv"));
    assert_eq!(r.status(), 200);

    // A deletion with an old authentication: the form is kept, confirmed, then sent again.
    let victim = t.user_id("agent.ccas@mairie-exemple.fr");
    b.age_authentication(20 * 60);
    let csrf = b.csrf(&format!("/aia/utilisateurs/{victim}/supprimer"));
    let r = b.post(
        &format!("/aia/utilisateurs/{victim}/supprimer"),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("reprise="), "{location}");
    assert!(
        t.block_on(t.gw.dir.user_record(victim)).unwrap().is_some(),
        "nothing done yet"
    );
    let reprise = location.split("reprise=").nth(1).unwrap().to_string();
    // Another session cannot pick up this kept form.
    let other = t.browser();
    other.login(REFERENT, PASSWORD);
    let other_csrf = other.csrf("/aia/profil/securite");
    let r = other.post(
        "/login/confirmer",
        &[
            ("csrf", &other_csrf),
            ("password", PASSWORD),
            ("reprise", &reprise),
        ],
    );
    assert_eq!(
        r.status(),
        303,
        "no kept form for that session: plain redirect"
    );
    // Its owner confirms and gets the form back, with nothing lost.
    let r = b.post(
        "/login/confirmer",
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("reprise", &reprise),
        ],
    );
    let p = Page::of(r);
    assert_eq!(p.status, 200);
    assert!(
        p.attrs("form", "action")
            .contains(&format!("/aia/utilisateurs/{victim}/supprimer")),
        "{p:?}"
    );
    assert_eq!(crate::harness::csrf_of(&p.body), csrf);
    let r = b.post(
        &format!("/aia/utilisateurs/{victim}/supprimer"),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("supprime"));
    assert!(t.block_on(t.gw.dir.user_record(victim)).unwrap().is_none());
}

#[test]
fn an_account_with_a_second_factor_confirms_with_it() {
    let t = TestGateway::start();
    t.block_on(convergences::demo::seed_second_factor_account(&t.gw))
        .unwrap();
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap();
    let b = t.browser();
    password_step(&b, DEMO_TOTP_ACCOUNT);
    let csrf = b.csrf("/login/verification");
    let code = totp_code(&secret, -1);
    assert_eq!(
        b.post("/login/verification", &[("csrf", &csrf), ("code", &code)])
            .status(),
        303
    );
    b.age_authentication(3600);
    let p = b.open("/login/confirmer?return_to=%2F");
    assert!(
        p.texts("label")
            .contains(&"Code de vérification".to_string()),
        "{p:?}"
    );
    assert!(
        !p.has("#password") && !p.body.contains("id=\"password\""),
        "{p:?}"
    );
    let csrf = crate::harness::csrf_of(&p.body);
    // The password does not confirm an account that has a second factor.
    let r = b.post(
        "/login/confirmer",
        &[("csrf", &csrf), ("password", PASSWORD)],
    );
    assert_eq!(r.status(), 401);
    let r = b.post(
        "/login/confirmer",
        &[("csrf", &csrf), ("code", &totp_code(&secret, 0))],
    );
    assert_eq!(r.status(), 303);
    let claims = b.assertion_claims("bip.test");
    assert!((now() - claims["auth_time"].as_i64().unwrap()).abs() < 60);
    assert_eq!(claims["acr"], "eidas2");
}

/// A gateway with an application that requires a second factor, at /coffre on the portal host.
fn with_vault(security: &str) -> TestGateway {
    let vault = echo_upstream("coffre");
    let t = TestGateway::start_with(Options {
        extra_apps: format!(
            "[[apps]]\nslug = \"coffre\"\nname = \"Coffre\"\npath_prefix = \"/coffre\"\nupstreams = [\"{}\"]\nrequire_mfa = true\n",
            vault.addr
        ),
        security: security.to_string(),
        ..Default::default()
    });
    t.block_on(convergences::demo::seed_second_factor_account(&t.gw))
        .unwrap();
    for email in [AGENT, DEMO_TOTP_ACCOUNT] {
        let uid = t.user_id(email);
        let structure = t
            .block_on(t.gw.dir.identity(uid))
            .unwrap()
            .unwrap()
            .structure_id;
        t.block_on(
            t.gw.dir
                .assign_role(uid, "coffre", "utilisateur", structure, None),
        )
        .unwrap();
    }
    t
}

#[test]
fn an_application_that_requires_a_second_factor_refuses_a_password_session() {
    let t = with_vault("");
    let b = t.browser();
    b.login(AGENT, PASSWORD);
    let r = b
        .client
        .get(t.url("auth.test", "/coffre/"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.contains("/login/confirmer?mfa=1&return_to="),
        "{location}"
    );
    let p = b.open_url(&location);
    assert_eq!(p.h1(), "Confirmez votre identité", "{p:?}");
    assert!(
        p.has_link("Activer la vérification en deux étapes"),
        "{p:?}"
    );
    // An API client gets a plain refusal.
    let r = b
        .client
        .get(t.url("auth.test", "/coffre/"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // Another application does not care.
    assert_eq!(b.get_json(&t.url("bip.test", "/"))["app"], "bip");

    // With the second factor, the application opens, and says how the user signed in.
    let s = t.browser();
    password_step(&s, DEMO_TOTP_ACCOUNT);
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap();
    let csrf = s.csrf("/login/verification");
    s.post(
        "/login/verification",
        &[("csrf", &csrf), ("code", &totp_code(&secret, 0))],
    );
    let echo = s.get_json(&t.url("auth.test", "/coffre/"));
    assert_eq!(echo["app"], "coffre");
}

#[test]
fn a_session_gains_the_second_factor_by_confirming_and_comes_back() {
    let t = with_vault("");
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap();
    let s = t.browser();
    password_step(&s, DEMO_TOTP_ACCOUNT);
    let csrf = s.csrf("/login/verification");
    s.post(
        "/login/verification",
        &[("csrf", &csrf), ("code", &totp_code(&secret, -1))],
    );
    // A session that stands for a password only (made before, say): sent to confirm.
    let key = s.session_key();
    t.block_on(t.gw.sessions.modify(&key, |r| {
        r.assurance = convergences::session::Assurance::password(r.created_at)
    }))
    .unwrap();
    let r = s
        .client
        .get(t.url("auth.test", "/coffre/page?x=1"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (page, _) = s.visit(&location);
    let csrf = crate::harness::csrf_of(&page.text().unwrap());
    let back = location.split("return_to=").nth(1).unwrap();
    let back: String = form_urlencoded::parse(format!("b={back}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let r = s.post(
        "/login/confirmer",
        &[
            ("csrf", &csrf),
            ("code", &totp_code(&secret, 0)),
            ("return_to", &back),
        ],
    );
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("/coffre/page?x=1"));
    let echo = s.get_json(&t.url("auth.test", "/coffre/page?x=1"));
    assert_eq!(echo["path"], "/coffre/page?x=1");
}

#[test]
fn the_policy_sends_administrators_to_enrol_and_keeps_them_there() {
    let t = TestGateway::start_with(Options {
        security: "second_factor_for_administrators = true\nsecond_factor_grace_days = 0\n".into(),
        ..Default::default()
    });
    let b = t.browser();
    let (status, location) = b.login(REFERENT, PASSWORD);
    assert_eq!(
        (status, location.as_str()),
        (303, "/aia/profil/securite?obligatoire=1")
    );
    // Nothing else is reachable: not the portal, not the directory, not an application.
    for path in ["/", "/aia/utilisateurs", "/aia/profil"] {
        let r = b.client.get(t.url("auth.test", path)).send().unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(
            r.headers()["location"],
            "/aia/profil/securite?obligatoire=1",
            "{path}"
        );
    }
    let r = b
        .client
        .get(t.url("bip.test", "/"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    // Through the handshake or directly: the application is not reached.
    assert!(r.status().is_redirection(), "{}", r.status());
    let (page, url) = b.visit(&t.url("bip.test", "/"));
    assert!(
        url.contains("/aia/profil/securite"),
        "{location} then {url}"
    );
    let p = Page::of(page);
    assert!(
        p.texts(".alert-warning")
            .iter()
            .any(|a| a.contains("doit être protégé")),
        "{p:?}"
    );
    // An agent is not concerned.
    let agent = t.browser();
    assert_eq!(agent.login(AGENT, PASSWORD).1, "/");

    // Enrolling with a passkey frees the référent at once.
    let mut key = SoftPasskey::new(true);
    assert_eq!(enrol_passkey(&b, &mut key, "Clé").status(), 200);
    let (r, url) = b.visit(&t.url("auth.test", "/aia/utilisateurs"));
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(b.get_json(&t.url("bip.test", "/"))["app"], "bip");
}

#[test]
fn a_grace_period_lets_people_postpone_with_a_banner() {
    let t = TestGateway::start_with(Options {
        security: "second_factor_for_administrators = true\nsecond_factor_grace_days = 14\n".into(),
        ..Default::default()
    });
    let b = t.browser();
    assert_eq!(b.login(REFERENT, PASSWORD).1, "/");
    let p = b.open("/");
    assert!(
        p.texts(".alert-warning")
            .iter()
            .any(|a| a.contains("activez-la avant le")),
        "{p:?}"
    );
    // The deadline is the one recorded at the first sign-in, not renewed by the next.
    let uid = t.user_id(REFERENT);
    let due = t
        .block_on(t.gw.dir.second_factor_facts(uid))
        .unwrap()
        .due
        .unwrap();
    assert!((due - (now() + 14 * 86_400)).abs() < 120);
    t.block_on(t.gw.dir.set_second_factor_due(uid, Some(now() - 1)))
        .unwrap();
    let again = t.browser();
    assert_eq!(
        again.login(REFERENT, PASSWORD).1,
        "/aia/profil/securite?obligatoire=1"
    );
}

#[test]
fn a_structure_rule_reaches_every_account_below_it_and_no_other() {
    let t = TestGateway::start_with(Options {
        security: "second_factor_grace_days = 0\n".into(),
        without_demo_seed: true,
        ..Default::default()
    });
    let w = t.world();
    let bd = w.boundary();
    let mairie = &bd.mairie;
    let platform_admin = w.platform_admin(&bd.other_mairie, "admin");
    // The platform administrator ticks the box on the structure's form.
    let admin = w.login(&platform_admin);
    let path = format!("/aia/structures/{}/editer", mairie.id);
    let p = admin.open(&path);
    assert!(
        p.text_at("label[for=f-second_factor_required]")
            .is_some_and(|l| l.starts_with("Exiger la vérification en deux étapes")),
        "{p:?}"
    );
    let field = |name: &str| p.field_value(name).unwrap_or_default();
    let csrf = p.csrf();
    let r = admin.post(
        &path,
        &[
            ("csrf", csrf.as_str()),
            ("short_name", mairie.short_name.as_str()),
            ("long_name", &field("long_name")),
            ("domains", &field("domains")),
            ("parent_id", ""),
            ("second_factor_required", "1"),
        ],
    );
    assert_eq!(r.status(), 303, "{:?}", r.text());
    assert!(t
        .block_on(t.gw.dir.structure_requires_second_factor(mairie.id))
        .unwrap());
    // An agent of the Mairie, and one of the CCAS below it: must enrol.
    for p in [&bd.agent, &bd.ccas_agent] {
        assert_eq!(
            t.browser().login(&p.email, PASSWORD).1,
            "/aia/profil/securite?obligatoire=1",
            "{}",
            p.email
        );
    }
    // The platform administrator and the other mairie's référent, elsewhere in the tree (and
    // the setting for administrators is off): free.
    for p in [&platform_admin, &bd.intruder] {
        assert_eq!(t.browser().login(&p.email, PASSWORD).1, "/", "{}", p.email);
    }
}

#[test]
fn a_lost_factor_is_reset_by_a_referent_of_the_account_only() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let bd = w.boundary();
    // An agent of the référent's mairie, protected by a TOTP code.
    let account = w
        .agent(&bd.mairie, "securisee")
        .with_role(&w, "bip", "utilisateur", &bd.mairie);
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap();
    t.block_on(convergences::second_factor::enrol_totp(
        &t.gw, account.id, &secret, true,
    ))
    .unwrap();
    let target = account.id;
    // A référent of another structure, with a forged id: the account is out of his sight.
    let o = w.login(&bd.intruder);
    let csrf = o.csrf("/aia/profil/securite");
    let path = format!("/aia/utilisateurs/{target}/facteurs/reinitialiser");
    let r = o.post(&path, &[("csrf", &csrf)]);
    assert_eq!(r.status(), 404);
    assert!(t.block_on(t.gw.dir.totp(target)).unwrap().is_some());

    // The account's référent, with a recent authentication: done, the user's sessions end.
    let victim = t.browser();
    assert_eq!(
        password_step(&victim, &account.email).headers()["location"],
        "/login/verification"
    );
    let b = w.login(&bd.referent);
    let card = b.open(&format!("/aia/utilisateurs/{target}"));
    assert!(
        card.texts("button")
            .contains(&"Réinitialiser la vérification en deux étapes".to_string()),
        "{card:?}"
    );
    let csrf = crate::harness::csrf_of(&card.body);
    b.age_authentication(3600);
    let r = b.post(&path, &[("csrf", &csrf)]);
    assert_eq!(r.status(), 303, "an old authentication confirms first");
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login/confirmer"));
    assert!(t.block_on(t.gw.dir.totp(target)).unwrap().is_some());
    let confirm_csrf = b.csrf("/login/confirmer");
    b.post(
        "/login/confirmer",
        &[("csrf", &confirm_csrf), ("password", PASSWORD)],
    );
    let r = b.post(&path, &[("csrf", &csrf)]);
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("facteurs"));
    assert!(t.block_on(t.gw.dir.totp(target)).unwrap().is_none());
    assert_eq!(t.block_on(t.gw.dir.recovery_codes_left(target)).unwrap(), 0);
    // The next login is with the password alone.
    let again = t.browser();
    assert_eq!(again.login(&account.email, PASSWORD).1, "/");
    let journal = t
        .block_on(
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'factors_reset'",
            )
            .fetch_one(&t.gw.dir.pool),
        )
        .unwrap();
    assert_eq!(journal, 1);
}

#[test]
fn every_sensitive_action_asks_for_a_recent_authentication_first() {
    let t = TestGateway::start();
    let admin = t.browser();
    admin.login("admin@cig-exemple.fr", PASSWORD);
    let mairie = t
        .block_on(t.gw.dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap();
    let agent = t.user_id(AGENT);
    let csrf = admin.csrf("/aia/profil/securite");
    admin.age_authentication(20 * 60);
    let confirm_first = |r: reqwest::blocking::Response, what: &str| {
        assert_eq!(r.status(), 303, "{what}");
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with("/login/confirmer?"),
            "{what}: {location}"
        );
    };
    // Every export.
    for path in [
        "/aia/utilisateurs/export.csv".to_string(),
        format!("/aia/structures/{}/export.csv", mairie.id),
        "/aia/applications/bip/utilisateur/export.csv".to_string(),
        "/aia/journal/export.csv".to_string(),
    ] {
        let r = admin.client.get(t.url("auth.test", &path)).send().unwrap();
        confirm_first(r, &path);
    }
    // Granting administrateur, designating a référent: nothing is done before the confirmation.
    let agent_id = agent.to_string();
    let r = admin.post(
        "/aia/applications/bip/administrateur/affecter",
        &[("csrf", &csrf), ("user_ids", &agent_id)],
    );
    confirm_first(r, "grant administrateur");
    let r = admin.post(
        &format!("/aia/structures/{}/referents", mairie.id),
        &[("csrf", &csrf), ("email", AGENT)],
    );
    confirm_first(r, "designate a référent");
    let ident = t.block_on(t.gw.dir.identity(agent)).unwrap().unwrap();
    assert!(
        !ident.grants.iter().any(|g| g.role == "administrateur"),
        "no grant before the confirmation"
    );
    let (_, referents) = t.block_on(t.gw.dir.viewer_paths(agent)).unwrap();
    assert!(referents.is_empty(), "no référent before the confirmation");
}

#[test]
fn passkey_ceremonies_count_in_the_per_address_quota() {
    let t = TestGateway::start_with(Options {
        security: "attempts_per_ip_per_minute = 3\n".into(),
        ..Default::default()
    });
    let b = t.browser();
    b.login(AGENT, PASSWORD);
    let mut key = SoftPasskey::new(true);
    assert_eq!(enrol_passkey(&b, &mut key, "Clé").status(), 200);
    let csrf = b.csrf("/aia/profil/securite");
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 10 {
        let r = b.post("/aia/profil/securite/cles/options", &[("csrf", &csrf)]);
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.len() <= 4, "{statuses:?}");
}
