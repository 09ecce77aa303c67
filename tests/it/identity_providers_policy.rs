//! What surrounds sign-in through an identity provider (docs/identity-providers.md): the limit
//! on sign-ins started per client address, structures that turn password sign-in off (and
//! every password path that must then refuse, without telling outsiders who exists), and the
//! mail an account's owner gets when the account is linked to a provider.

use crate::fake_idp::FakeIdp;
use crate::harness::{within, Browser, Options, Page, TestGateway, PASSWORD};
use convergences::directory::tokens::Purpose;
use std::time::Duration;

const AGENT: &str = "agent@mairie-exemple.fr";
const CCAS_AGENT: &str = "agent.ccas@mairie-exemple.fr";
const REFERENT: &str = "referent@mairie-exemple.fr";
const ADMIN: &str = "admin@cig-exemple.fr";
const LINKED_MAIL: &str = "associé à votre identité ProConnect";

fn gateway(idp: &FakeIdp, security: &str) -> TestGateway {
    TestGateway::start_with(Options {
        extra_config: idp.config(""),
        security: security.into(),
        trusted_proxies: Some("127.0.0.1/32".into()),
        ..Default::default()
    })
}

/// GET of the provider button's URL from client address `ip`: the status and the response.
fn start_from(b: &Browser, ip: &str) -> reqwest::blocking::Response {
    b.client
        .get(b.t.url("auth.test", "/login/fournisseur/proconnect"))
        .header("x-forwarded-for", ip)
        .header("accept", "text/html")
        .send()
        .expect("start")
}

#[test]
fn sign_ins_started_at_a_provider_are_limited_per_address() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "identity_provider_starts_per_ip_per_minute = 3\n");
    let b = t.browser();
    for _ in 0..3 {
        assert_eq!(start_from(&b, "203.0.113.7").status(), 303);
    }
    // The fourth is refused before anything is stored: a French page and when to come back.
    let r = start_from(&b, "203.0.113.7");
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let html = r.text().unwrap();
    assert!(html.contains("Trop de demandes de connexion"), "{html}");
    assert!(html.contains("lang=\"fr\""));
    // Another address is not held back; the addresses of one IPv6 /64 count together.
    assert_eq!(start_from(&b, "198.51.100.9").status(), 303);
    for i in 0..3 {
        let ip = format!("2001:db8:5:6::{i}");
        assert_eq!(start_from(&b, &ip).status(), 303);
    }
    assert_eq!(start_from(&b, "2001:db8:5:6:ffff::1").status(), 429);
    assert_eq!(start_from(&b, "2001:db8:5:7::1").status(), 303);
}

/// A structure's edit form sent back as the page fills it, plus `extra` fields (a checkbox
/// left out is unticked).
fn edit_structure(b: &Browser, id: i64, extra: &[(&str, &str)]) -> reqwest::blocking::Response {
    let path = format!("/aia/structures/{id}/editer");
    let page = b.open(&path);
    let field = |name: &str| page.field_value(name).unwrap_or_default();
    let (short, long_name, address) = (
        field("short_name"),
        field("long_name"),
        field("postal_address"),
    );
    let (domains, parent, csrf) = (field("domains"), field("parent_id"), page.csrf());
    let mut form: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("short_name", &short),
        ("long_name", &long_name),
        ("postal_address", &address),
        ("domains", &domains),
        ("parent_id", &parent),
    ];
    form.extend_from_slice(extra);
    b.post(&path, &form)
}

/// Messages to `to` that carry a password link.
fn password_links_to(t: &TestGateway, to: &str) -> usize {
    crate::aia::outbox(t)
        .iter()
        .filter(|(rcpt, text)| rcpt == to && text.contains("/mot-de-passe/"))
        .count()
}

fn off(t: &TestGateway, id: i64) -> bool {
    t.block_on(t.gw.dir.structure_disables_password(id))
        .unwrap()
}

#[test]
fn a_structure_turns_password_sign_in_off_without_telling_outsiders_who_exists() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "");
    let mairie = t.structure_id("mairie-exemple");
    // Before: one generic answer, with no hint.
    let probe = t.browser();
    let (status, before) = probe.login_message("inconnu@mairie-exemple.fr", "x");
    assert_eq!(
        (status, before.as_str()),
        (401, "Adresse e-mail ou mot de passe incorrect.")
    );

    // The platform administrator ticks the box on the Mairie's form (shown: a provider exists).
    let admin = t.browser();
    admin.login(ADMIN, PASSWORD);
    let form = admin.open(&format!("/aia/structures/{mairie}/editer"));
    assert!(
        form.text()
            .contains("Désactiver la connexion par mot de passe"),
        "{form:?}"
    );
    assert!(
        form.text().contains("« S'identifier avec ProConnect »"),
        "{form:?}"
    );
    let r = edit_structure(&admin, mairie, &[("password_sign_in_disabled", "1")]);
    assert_eq!(r.status(), 303, "{:?}", r.text());
    assert!(off(&t, mairie));
    assert_eq!(
        t.block_on(t.gw.dir.own_domains(mairie)).unwrap(),
        ["mairie-exemple.fr"]
    );

    // The right password of an account of the Mairie, of the CCAS below it (inherited), of its
    // référent, a wrong one and an unknown e-mail: one and the same answer, which names the
    // button.
    let answers: Vec<(u16, String)> = [
        (AGENT, PASSWORD),
        (CCAS_AGENT, PASSWORD),
        (REFERENT, PASSWORD),
        (AGENT, "mauvais mot de passe"),
        ("inconnu@mairie-exemple.fr", PASSWORD),
        ("inconnu@ailleurs.example", "x"),
    ]
    .iter()
    .map(|(e, p)| t.browser().login_message(e, p))
    .collect();
    for a in &answers {
        assert_eq!(a, &answers[0], "{answers:?}");
    }
    assert_eq!(answers[0].0, 401);
    assert!(answers[0]
        .1
        .starts_with("Adresse e-mail ou mot de passe incorrect."));
    assert!(
        answers[0].1.contains("« S'identifier avec ProConnect »"),
        "{answers:?}"
    );
    // The platform administrator keeps the password, even in a structure that turned it off.
    let cig = t.structure_id("cig-exemple");
    t.block_on(t.gw.dir.set_structure_disables_password(cig, true))
        .unwrap();
    assert_eq!(t.browser().login(ADMIN, PASSWORD), (303, "/".to_string()));
    // The provider still signs the agent in.
    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", "/login/fournisseur/proconnect"));
    assert_eq!(page.status(), 200);
    let (r, url) = b.visit(&t.url("auth.test", "/"));
    assert_eq!((r.status().as_u16(), url), (200, t.url("auth.test", "/")));
    // Confirming one's identity with the password during that session: refused, with the way
    // out (a new sign-in at the provider).
    let csrf = b.csrf("/login/confirmer?return_to=%2F");
    let r = b.post(
        "/login/confirmer",
        &[("csrf", &csrf), ("password", PASSWORD), ("return_to", "/")],
    );
    assert_eq!(r.status(), 403);
    let p = Page::of(r);
    assert!(
        p.text().contains("Déconnectez-vous, puis reconnectez-vous"),
        "{p:?}"
    );
}

/// A gateway with a provider whose Mairie (and so its CCAS) turned password sign-in off.
fn mairie_without_password(idp: &FakeIdp) -> (TestGateway, i64, i64) {
    let t = gateway(idp, "");
    let (mairie, ccas) = (t.structure_id("mairie-exemple"), t.structure_id("ccas"));
    t.block_on(t.gw.dir.set_structure_disables_password(mairie, true))
        .unwrap();
    (t, mairie, ccas)
}

#[test]
fn with_password_sign_in_off_no_password_link_works_and_the_referent_is_told_why() {
    let idp = FakeIdp::start();
    let (t, _, _) = mairie_without_password(&idp);
    let admin = t.browser();
    admin.login(ADMIN, PASSWORD);
    // "Mot de passe oublié ?": the same neutral page, and no link for the agent; a control
    // request for the administrator shows the requests were handled.
    let agent_id = t.user_id(AGENT);
    for email in [AGENT, ADMIN] {
        let f = t.browser();
        let csrf = f.csrf("/mot-de-passe-oublie");
        let r = f.post("/mot-de-passe-oublie", &[("csrf", &csrf), ("email", email)]);
        assert_eq!(r.status(), 200);
        assert!(r.text().unwrap().contains("Si cette adresse correspond"));
    }
    within(Duration::from_secs(10), || {
        password_links_to(&t, ADMIN) == 1
    });
    assert_eq!(password_links_to(&t, AGENT), 0);
    // A link made before (or by the command line): refused, the token stays, no password set.
    let token = t
        .block_on(t.gw.dir.create_token(agent_id, Purpose::Reset, 3600))
        .unwrap();
    let l = t.browser();
    let (r, _) = l.visit(&t.url("auth.test", &format!("/mot-de-passe/{token}")));
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("Ce lien ne peut pas servir"));
    let hash_before = t
        .block_on(t.gw.dir.find_login(AGENT))
        .unwrap()
        .unwrap()
        .password_hash;
    let r = l.post(
        &format!("/mot-de-passe/{token}"),
        &[
            ("csrf", "x"),
            ("password", "Un nouveau mot de passe 2027!"),
            ("confirmation", "Un nouveau mot de passe 2027!"),
        ],
    );
    assert_eq!(r.status(), 403);
    assert_eq!(
        t.block_on(t.gw.dir.peek_token(&token, Purpose::Reset))
            .unwrap(),
        Some(agent_id)
    );
    assert_eq!(
        t.block_on(t.gw.dir.find_login(AGENT))
            .unwrap()
            .unwrap()
            .password_hash,
        hash_before
    );
    // The référent's "Réinitialisation mot de passe" says why and sends nothing.
    let csrf = admin.csrf("/aia/profil/securite");
    let r = admin.post(
        &format!("/aia/utilisateurs/{agent_id}/reinitialisation"),
        &[("csrf", &csrf)],
    );
    let p = Page::of(r);
    assert!(p.text().contains("Aucun lien n'a été envoyé"), "{p:?}");
    assert_eq!(password_links_to(&t, AGENT), 0);
}

#[test]
fn password_sign_in_is_turned_off_and_on_within_one_s_own_tree_only() {
    let idp = FakeIdp::start();
    let (t, mairie, ccas) = mairie_without_password(&idp);
    let admin = t.browser();
    admin.login(ADMIN, PASSWORD);
    // Another mairie's référent cannot flip the CCAS or the Mairie with a forged id.
    let w = t.world();
    let other = w.establishment("mairie-b", "Mairie B", "mairie-b.fr");
    let o = w.login(&w.referent(&other, "referent"));
    let csrf = o.csrf("/aia/profil/securite");
    let r = o.post(
        &format!("/aia/structures/{ccas}/editer"),
        &[
            ("csrf", &csrf),
            ("short_name", "ccas"),
            ("password_sign_in_disabled", "1"),
        ],
    );
    assert_eq!(r.status(), 404);
    assert!(!off(&t, ccas));
    let r = o.post(
        &format!("/aia/structures/{mairie}/editer"),
        &[("csrf", &csrf), ("short_name", "mairie-exemple")],
    );
    assert_eq!(r.status(), 404);
    assert!(off(&t, mairie));

    // Turned back on: the password works again.
    let r = edit_structure(&admin, mairie, &[]);
    assert_eq!(r.status(), 303);
    assert!(!off(&t, mairie));
    assert_eq!(t.browser().login(AGENT, PASSWORD), (303, "/".to_string()));
    // The Mairie's référent sets it for the CCAS, below his structure: its agent is concerned,
    // the Mairie's are not.
    let referent = t.browser();
    assert_eq!(referent.login(REFERENT, PASSWORD), (303, "/".to_string()));
    let r = edit_structure(&referent, ccas, &[("password_sign_in_disabled", "1")]);
    assert_eq!(r.status(), 303, "{:?}", r.text());
    assert!(off(&t, ccas));
    assert_eq!(t.browser().login_message(CCAS_AGENT, PASSWORD).0, 401);
    assert_eq!(t.browser().login(AGENT, PASSWORD), (303, "/".to_string()));
    // (the set-up turned the Mairie's off through the directory, not the form)
    assert_eq!(
        t.block_on(t.gw.dir.count_audit("structure_updated"))
            .unwrap(),
        2
    );
}

#[test]
fn without_a_provider_the_setting_is_not_offered_and_changes_nothing() {
    let t = TestGateway::start();
    let mairie = t.structure_id("mairie-exemple");
    t.block_on(t.gw.dir.set_structure_disables_password(mairie, true))
        .unwrap();
    // Nobody is locked out while no provider could take the password's place.
    assert_eq!(t.browser().login(AGENT, PASSWORD), (303, "/".to_string()));
    let admin = t.browser();
    admin.login(ADMIN, PASSWORD);
    let (page, _) = admin.visit(&t.url("auth.test", &format!("/aia/structures/{mairie}/editer")));
    assert!(!page
        .text()
        .unwrap()
        .contains("Désactiver la connexion par mot de passe"));
    // The form sent without the box keeps the setting.
    let r = edit_structure(&admin, mairie, &[]);
    assert_eq!(r.status(), 303);
    assert!(off(&t, mairie));
}

#[test]
fn the_owner_is_mailed_when_the_account_is_linked_the_first_time_only() {
    let idp = FakeIdp::start();
    let t = gateway(&idp, "");
    let mails = |t: &TestGateway| -> Vec<String> {
        crate::aia::outbox(t)
            .into_iter()
            .filter(|(to, text)| to == AGENT && text.contains(LINKED_MAIL))
            .map(|(_, text)| text)
            .collect()
    };
    let b = t.browser();
    let (r, url) = b.visit(&t.url("auth.test", "/login/fournisseur/proconnect"));
    assert_eq!((r.status().as_u16(), url), (200, t.url("auth.test", "/")));
    let sent = mails(&t);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Si ce n'est pas vous"), "{}", sent[0]);
    assert!(
        sent[0].contains("S'identifier avec ProConnect"),
        "{}",
        sent[0]
    );
    assert!(sent[0].contains("Identité externe"), "{}", sent[0]);
    // Signing in again by the link: no new mail.
    let b = t.browser();
    let (r, _) = b.visit(&t.url("auth.test", "/login/fournisseur/proconnect"));
    assert_eq!(r.status(), 200);
    assert_eq!(mails(&t).len(), 1);
}
