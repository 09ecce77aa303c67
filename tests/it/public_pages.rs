//! The pages a French public service publishes ("Mentions légales", "Accessibilité", with
//! "Données personnelles"), linked from every footer with the accessibility status, and the
//! help contacts at the end of every message the product sends.

use crate::aia::outbox;
use crate::guides::{login, AGENT, REFERENT, SUPPORT};
use crate::harness::{within, Options, Page, TestGateway};
use std::time::Duration;

const LEGAL: &str = r#"
[legal]
publisher = "CIG d'Essai"
publisher_address = "1 rue de l'Essai, 93000 Essai"
publication_director = "Camille Essai, directrice générale"
host = "Hébergeur d'Essai"
host_address = "2 avenue des Serveurs, 75012 Paris"
host_phone = "01 00 00 00 00"
accessibility_status = "partiellement_conforme"
accessibility_rate = 72
accessibility_audit_date = "2026-06-15"
accessibility_audit_by = "Audits d'Essai"
accessibility_audit_method = "Audit RGAA 4.1 sur 12 pages"
accessibility_statement_date = "2026-06-30"
accessibility_contact_email = "accessibilite@cig.test"
"#;

/// The footer's three links (relative on the portal, absolute on the proxy's pages) and the
/// accessibility status.
#[track_caller]
fn assert_footer(p: &Page, status: &str, what: &str) {
    assert_eq!(
        p.texts(".footer-links a"),
        [
            "Mentions légales".to_string(),
            "Données personnelles".to_string(),
            format!("Accessibilité : {status}"),
        ],
        "{what}: {p:?}"
    );
    let hrefs = p.attrs(".footer-links a", "href");
    for (href, path) in hrefs.iter().zip([
        "/mentions-legales",
        "/donnees-personnelles",
        "/accessibilite",
    ]) {
        assert!(href.ends_with(path), "{what}: {href} for {path}");
    }
}

#[test]
fn the_legal_pages_are_public_read_the_configuration_and_are_in_every_footer() {
    let t = TestGateway::start_with(Options {
        extra_config: format!("{SUPPORT}{LEGAL}"),
        ..Default::default()
    });
    let anon = t.browser();
    let p = anon.open("/mentions-legales");
    assert_eq!(p.status, 200);
    assert_eq!(p.h1(), "Mentions légales");
    let text = p.text();
    for expected in [
        "CIG d'Essai",
        "1 rue de l'Essai, 93000 Essai",
        "Camille Essai, directrice générale",
        "Hébergeur d'Essai",
        "01 00 00 00 00",
    ] {
        assert!(text.contains(expected), "{expected} missing\n{p:?}");
    }
    assert!(p.hrefs().contains(&"/donnees-personnelles".to_string()));
    assert!(p.mailtos().contains(&"dpo@cig.test".to_string()));
    let p = anon.open("/accessibilite");
    assert_eq!(p.status, 200);
    assert_eq!(p.h1(), "Déclaration d'accessibilité");
    let strong = p.texts("strong");
    for expected in ["partiellement conforme", "72 %"] {
        assert!(
            strong.contains(&expected.to_string()),
            "{expected}: {strong:?}"
        );
    }
    let text = p.text();
    for expected in [
        "RGAA), version 4.1",
        "15/06/2026 par Audits d'Essai",
        "Méthode : Audit RGAA 4.1 sur 12 pages",
        "établie le 30/06/2026",
        "Défenseur des droits",
        "Libre réponse 71120, 75342 Paris CEDEX 07",
        "ne remplacent pas un audit",
    ] {
        assert!(text.contains(expected), "{expected} missing\n{p:?}");
    }
    assert!(p.mailtos().contains(&"accessibilite@cig.test".to_string()));
    assert!(p
        .hrefs()
        .iter()
        .any(|h| h.starts_with("https://formulaire.defenseurdesdroits.fr/")));
    // Every footer: public pages, errors (portal and proxy), signed-in pages.
    for path in ["/login", "/accessibilite", "/nulle-part"] {
        assert_footer(&anon.open(path), "partiellement conforme", path);
    }
    let b = login(&t, AGENT);
    for path in ["/", "/aia/profil", "/aia/structures"] {
        assert_footer(&b.open(path), "partiellement conforme", path);
    }
    let p = b.open_url(&t.url("nc.test", "/"));
    p.assert_error(403);
    assert_footer(&p, "partiellement conforme", "proxy 403");
}

#[test]
fn without_a_legal_section_the_pages_say_what_is_missing_and_claim_nothing() {
    let t = TestGateway::start();
    let anon = t.browser();
    let p = anon.open("/accessibilite");
    assert_eq!(p.status, 200);
    assert!(
        p.texts("strong").contains(&"non conforme".to_string()),
        "{p:?}"
    );
    let text = p.text();
    for expected in [
        "faute d'audit",
        "Aucun audit de conformité",
        "par l'intermédiaire de votre référent",
    ] {
        assert!(text.contains(expected), "{expected}: {p:?}");
    }
    let p = anon.open("/mentions-legales");
    assert_eq!(p.status, 200);
    assert!(p.text().contains("pas encore renseigné l'éditeur"), "{p:?}");
    assert_footer(&p, "non conforme", "default");
}

#[test]
fn every_message_ends_with_the_help_contacts() {
    let t = crate::guides::with_support();
    let gw = &t.gw;
    // A reset link asked for on the portal (sent in the background).
    let b = t.browser();
    let tok = b.csrf("/mot-de-passe-oublie");
    let r = b.post("/mot-de-passe-oublie", &[("csrf", &tok), ("email", AGENT)]);
    assert!(r.status().is_success() || r.status().is_redirection());
    within(Duration::from_secs(10), || !outbox(&t).is_empty());
    // The e-mail change notice, a security notice and the référents' reminder.
    t.block_on(convergences::lifecycle::notify_email_changed(
        gw,
        "Agnès",
        AGENT,
        "agnes.nouvelle@mairie-exemple.fr",
        "Régis Référent",
    ))
    .unwrap();
    t.block_on(convergences::second_factor::notify(
        gw,
        AGENT,
        "Agnès",
        "Une clé d'accès a été ajoutée.",
    ));
    let today = convergences::directory::today();
    let ccas = t.user_id(crate::guides::CCAS_AGENT);
    t.block_on(gw.dir.set_validity(ccas, None, Some(today.as_str())))
        .unwrap();
    let sent = t
        .block_on(convergences::lifecycle::send_reminders(gw, 30, 3650))
        .unwrap();
    assert!(sent >= 1, "the référent has an account that expires today");
    let mails = outbox(&t);
    assert!(mails.len() >= 4, "{mails:?}");
    assert!(mails.iter().any(|(to, _)| to.contains(REFERENT)));
    for (to, text) in &mails {
        for expected in [
            "Besoin d'aide ?",
            "Correspondant CIG : correspondant@cig.test",
            "assistance@cig.test",
            "dpo@cig.test",
            "Guide utilisateur : https://cig.test/guide",
        ] {
            assert!(text.contains(expected), "{to}: {expected} missing\n{text}");
        }
    }
}
