//! The pages a French public service publishes ("Mentions légales", "Accessibilité", with
//! "Données personnelles"), linked from every footer with the accessibility status, and the
//! help contacts at the end of every message the product sends.

use crate::aia::outbox;
use crate::guides::{login, page, AGENT, REFERENT, SUPPORT};
use crate::harness::{within, Options, TestGateway};
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
fn assert_footer(html: &str, status: &str, what: &str) {
    for expected in [
        "/mentions-legales\">Mentions légales</a>".to_string(),
        "/donnees-personnelles\">Données personnelles</a>".to_string(),
        format!("/accessibilite\">Accessibilité : {status}</a>"),
    ] {
        assert!(
            html.contains(&expected),
            "{what}: {expected} missing\n{html}"
        );
    }
}

#[test]
fn the_legal_pages_are_public_read_the_configuration_and_are_in_every_footer() {
    let t = TestGateway::start_with(Options {
        extra_config: format!("{SUPPORT}{LEGAL}"),
        ..Default::default()
    });
    let anon = t.browser();
    let (s, html) = page(&anon, "/mentions-legales");
    assert_eq!(s, 200);
    for expected in [
        "<h1>Mentions légales</h1>",
        "CIG d&#39;Essai",
        "1 rue de l&#39;Essai, 93000 Essai",
        "Camille Essai, directrice générale",
        "Hébergeur d&#39;Essai",
        "01 00 00 00 00",
        "href=\"/donnees-personnelles\"",
        "mailto:dpo@cig.test",
    ] {
        assert!(html.contains(expected), "{expected} missing\n{html}");
    }
    let (s, html) = page(&anon, "/accessibilite");
    assert_eq!(s, 200);
    for expected in [
        "<h1>Déclaration d'accessibilité</h1>",
        "<strong>partiellement conforme</strong>",
        "RGAA), version 4.1",
        "15/06/2026 par Audits d&#39;Essai",
        "<strong>72 %</strong>",
        "Méthode : Audit RGAA 4.1 sur 12 pages",
        "établie le 30/06/2026",
        "mailto:accessibilite@cig.test",
        "Défenseur des droits",
        "https://formulaire.defenseurdesdroits.fr/",
        "Libre réponse 71120, 75342 Paris CEDEX 07",
        "ne remplacent pas un audit",
    ] {
        assert!(html.contains(expected), "{expected} missing\n{html}");
    }
    // Every footer: public pages, errors (portal and proxy), signed-in pages.
    for path in ["/login", "/accessibilite", "/nulle-part"] {
        let (_, html) = page(&anon, path);
        assert_footer(&html, "partiellement conforme", path);
    }
    let b = login(&t, AGENT);
    for path in ["/", "/aia/profil", "/aia/structures"] {
        let (_, html) = page(&b, path);
        assert_footer(&html, "partiellement conforme", path);
    }
    let (r, _) = b.visit(&t.url("nc.test", "/"));
    assert_eq!(r.status(), 403);
    assert_footer(&r.text().unwrap(), "partiellement conforme", "proxy 403");
}

#[test]
fn without_a_legal_section_the_pages_say_what_is_missing_and_claim_nothing() {
    let t = TestGateway::start();
    let anon = t.browser();
    let (s, html) = page(&anon, "/accessibilite");
    assert_eq!(s, 200);
    assert!(html.contains("<strong>non conforme</strong>"), "{html}");
    assert!(html.contains("faute d'audit"), "{html}");
    assert!(html.contains("Aucun audit de conformité"), "{html}");
    assert!(
        html.contains("par l'intermédiaire de votre référent"),
        "{html}"
    );
    let (s, html) = page(&anon, "/mentions-legales");
    assert_eq!(s, 200);
    assert!(html.contains("pas encore renseigné l'éditeur"), "{html}");
    assert_footer(&html, "non conforme", "default");
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
