//! What the guides promise about the directory's screens, second part: times in Paris time
//! (summer and winter), the state of accounts not yet or no longer valid, AFFECTER on accounts
//! that already hold the role, and the rough edges of Désaffecter and the photo (the structure
//! search's flat results are in guides.rs). Every action is also tried across a structure
//! boundary with forged ids.

use crate::guides::{login, page, token, AGENT, CCAS_AGENT, REFERENT};
use crate::harness::{Page, TestGateway};

/// 2026-07-01 10:00 UTC: 12:00 in Paris (summer time, UTC+2).
const SUMMER: i64 = 1_782_900_000;
/// 2026-11-24 10:05 UTC: 11:05 in Paris (winter time, UTC+1).
const WINTER: i64 = 1_795_514_700;
/// 2026-11-24 23:30 UTC: already 25/11 00:30 in Paris.
const LATE: i64 = 1_795_563_000;

fn set_last_login(t: &TestGateway, user: i64, at: i64) {
    t.block_on(async {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user)
            .execute(&t.gw.dir.pool)
            .await
            .unwrap();
    });
}

/// A journal line for the Mairie with `details`, dated `at`.
fn journal_line(t: &TestGateway, details: &str, at: i64) {
    t.block_on(async {
        let mairie =
            t.gw.dir
                .structure_by_name("mairie-exemple")
                .await
                .unwrap()
                .unwrap();
        t.gw.dir
            .audit(convergences::directory::audit::AuditEvent {
                actor: REFERENT,
                target: AGENT,
                structure_id: Some(mairie.id),
                details,
                ..convergences::directory::audit::AuditEvent::of(
                    convergences::directory::audit_action::AuditAction::UserUpdated,
                )
            })
            .await
            .unwrap();
        sqlx::query("UPDATE audit_events SET at = $1 WHERE details = $2")
            .bind(at)
            .bind(details)
            .execute(&t.gw.dir.pool)
            .await
            .unwrap();
    });
}

/// The `<tr>` of a table that mentions `needle`.
fn row_of<'a>(html: &'a str, needle: &str) -> &'a str {
    html.split("<tr")
        .map(|r| r.split("</tr>").next().unwrap_or(r))
        .find(|r| r.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle}:\n{html}"))
}

#[test]
fn times_are_shown_in_paris_time_with_summer_and_winter_time() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    let r = login(&t, REFERENT);
    set_last_login(&t, agent, SUMMER);
    let (_, card) = page(&r, &format!("/aia/utilisateurs/{agent}"));
    assert!(
        card.contains("01/07/2026 12:00 (heure de Paris)"),
        "summer time: {card}"
    );
    set_last_login(&t, agent, WINTER);
    let (_, card) = page(&r, &format!("/aia/utilisateurs/{agent}"));
    assert!(
        card.contains("24/11/2026 11:05 (heure de Paris)"),
        "winter time: {card}"
    );
    let (_, list) = page(&r, "/aia/utilisateurs?q=agnes");
    assert!(row_of(&list, AGENT).contains("24/11/2026 11:05"), "{list}");
    // The export, too.
    let (resp, _) = r.visit(&t.url("auth.test", "/aia/utilisateurs/export.csv"));
    let csv = resp.text().unwrap();
    assert!(csv.contains("24/11/2026 11:05"), "{csv}");
    assert!(!csv.contains("24/11/2026 10:05"), "{csv}");

    // The journal: dates in Paris time, named in the column, and its "du"/"au" days are Paris
    // days (23:30 UTC on the 24th is the 25th in Paris).
    journal_line(&t, "marqueur-hiver", WINTER);
    journal_line(&t, "marqueur-minuit", LATE);
    let (_, journal) = page(&r, "/aia/journal");
    assert!(journal.contains("Date (heure de Paris)"), "{journal}");
    assert!(
        row_of(&journal, "marqueur-hiver").contains("24/11/2026 11:05"),
        "{journal}"
    );
    assert!(
        row_of(&journal, "marqueur-minuit").contains("25/11/2026 00:30"),
        "{journal}"
    );
    let (_, day) = page(&r, "/aia/journal?du=2026-11-24&au=2026-11-24");
    assert!(day.contains("marqueur-hiver"), "{day}");
    assert!(!day.contains("marqueur-minuit"), "{day}");
    let (_, next) = page(&r, "/aia/journal?du=2026-11-25&au=2026-11-25");
    assert!(next.contains("marqueur-minuit"), "{next}");
    let (resp, _) = r.visit(&t.url("auth.test", "/aia/journal/export.csv"));
    let csv = resp.text().unwrap();
    assert!(csv.contains("Date (heure de Paris)"), "{csv}");
    assert!(csv.contains("25/11/2026 00:30"), "{csv}");

    // The sessions page names the zone instead of UTC.
    let a = login(&t, AGENT);
    let (_, sessions) = page(&a, "/aia/profil/sessions");
    assert!(
        sessions.contains("Heures affichées : heure de Paris"),
        "{sessions}"
    );
    assert!(!sessions.contains("UTC"), "{sessions}");
}

#[test]
fn accounts_not_yet_or_no_longer_valid_are_not_shown_active() {
    let t = TestGateway::start();
    let (agent, ccas) = (t.user_id(AGENT), t.user_id(CCAS_AGENT));
    t.block_on(t.gw.dir.set_validity(ccas, Some("2999-01-01"), None))
        .unwrap();
    t.block_on(t.gw.dir.set_validity(agent, None, Some("2001-02-03")))
        .unwrap();
    let r = login(&t, REFERENT);
    let (_, list) = page(&r, "/aia/utilisateurs");
    let upcoming = row_of(&list, CCAS_AGENT);
    assert!(upcoming.contains("À venir"), "{upcoming}");
    assert!(upcoming.contains("dès le 01/01/2999"), "{upcoming}");
    assert!(!upcoming.contains("Actif"), "{upcoming}");
    let expired = row_of(&list, AGENT);
    assert!(expired.contains("Expiré"), "{expired}");
    assert!(!expired.contains("Actif"), "{expired}");
    assert!(row_of(&list, REFERENT).contains("Actif"), "{list}");
    let (_, card) = page(&r, &format!("/aia/utilisateurs/{ccas}"));
    assert!(
        card.contains("À venir : valide dès le 01/01/2999"),
        "{card}"
    );
    let (_, card) = page(&r, &format!("/aia/utilisateurs/{agent}"));
    assert!(
        card.contains("Expiré : validité terminée le 03/02/2001"),
        "{card}"
    );
    // Indeed neither can sign in.
    assert_ne!(
        t.browser().login(CCAS_AGENT, crate::harness::PASSWORD).0,
        303
    );
}

/// The row of the AFFECTER search results for `email`: [tick, Nom, Prénom, E-mail, Structure,
/// Rôle].
fn found_row(page: &Page, email: &str) -> Vec<String> {
    page.table_rows("Détails de la liste des utilisateurs trouvés")
        .into_iter()
        .find(|row| row[3] == email)
        .unwrap_or_else(|| panic!("no row for {email}: {page:?}"))
}

#[test]
fn affecter_marks_who_already_holds_the_role_and_never_assigns_twice() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let (agent, ccas) = (x.agent.id, x.ccas_agent.id);
    let r = w.login(&x.referent);
    let path = "/aia/applications/bip/utilisateur/affecter";
    let p = r.open(&format!("{path}?q=agent"));
    assert_eq!(
        found_row(&p, &x.agent.email)[5],
        format!("Déjà membre pour le compte de {}", x.mairie.long_name)
    );
    assert_eq!(found_row(&p, &x.ccas_agent.email)[5], "Non");

    let assignments = |user: i64| -> i64 {
        t.block_on(async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM role_assignments WHERE user_id = $1")
                .bind(user)
                .fetch_one(&t.gw.dir.pool)
                .await
                .unwrap()
        })
    };
    let audited = || -> i64 { t.block_on(t.gw.dir.count_audit("role_assigned")).unwrap() };
    let tok = p.csrf();
    let (aid, cid) = (agent.to_string(), ccas.to_string());
    // Only someone who already holds it: the page again, naming them, nothing written.
    let p = r.submit(path, &[("csrf", &tok), ("q", "agent"), ("user_ids", &aid)]);
    assert_eq!(p.status, 422, "{p:?}");
    let why = p.alerts().join(" ");
    assert!(why.contains("Déjà membre du rôle « utilisateur »"), "{why}");
    assert!(why.contains(&x.agent.name()), "{why}");
    assert_eq!(assignments(agent), 1);
    assert_eq!(audited(), 0);
    // With someone new: the new one is assigned, the other left as is, and the message says so.
    let p = r.submit(
        path,
        &[("csrf", &tok), ("user_ids", &aid), ("user_ids", &cid)],
    );
    assert_eq!(p.status, 303);
    assert!(p.location.contains("ok=affecte-en-partie"), "{p:?}");
    let flash = r.open(&p.location).flash().unwrap_or_default();
    assert!(flash.contains("restés inchangés"), "{flash}");
    assert_eq!(assignments(agent), 1);
    assert_eq!(assignments(ccas), 1);
    assert_eq!(audited(), 1);
    // Across a structure boundary: an account of another establishment, forged, is refused
    // and nothing changes.
    let other = x.intruder.id;
    let oid = other.to_string();
    r.submit(
        path,
        &[("csrf", &tok), ("user_ids", &oid), ("user_ids", &cid)],
    )
    .assert_error(404);
    assert_eq!(assignments(other), 1, "only its own administrateur role");
    let o = w.login(&x.intruder);
    let p = o.open(&format!("{path}?q=agent"));
    assert_eq!(p.status, 200);
    let otok = p.csrf();
    o.submit(path, &[("csrf", &otok), ("user_ids", &aid)])
        .assert_error(404);
}

#[test]
fn desaffecter_without_a_tick_or_a_button_shows_the_page_again() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let members = "/aia/applications/bip/utilisateur/membres";
    let tok = token(&r, "/aia/applications?app=bip&role=utilisateur");
    let p = r.submit(members, &[("csrf", &tok), ("action", "desaffecter")]);
    assert_eq!(p.status, 422);
    assert!(
        p.alerts()
            .iter()
            .any(|a| a.contains("Sélectionnez au moins un membre")),
        "{p:?}"
    );
    assert!(
        p.h2s().iter().any(|h| h.starts_with("Membres (")),
        "the page, not a bare error: {p:?}"
    );
    // Sent without either button (Enter in a field, a script): the page again, not a 400.
    let p = r.submit(members, &[("csrf", &tok)]);
    assert_eq!(p.status, 422);
    assert!(
        p.alerts()
            .iter()
            .any(|a| a.contains("Choisissez « Désaffecter")),
        "{p:?}"
    );
    assert!(p.h2s().iter().any(|h| h.starts_with("Membres (")), "{p:?}");
    // Where nothing can be ticked, nothing is offered.
    let p = r.open("/aia/applications?app=bip&role=administrateur");
    assert!(!p.has("input[type=\"checkbox\"][name=\"ids\"]"), "{p:?}");
    assert!(
        !p.has(".js-select-all"),
        "no \"Tout sélectionner\" either: {p:?}"
    );
    assert!(
        !p.body.contains("Désaffecter les membres sélectionnés"),
        "{p:?}"
    );
}

#[test]
fn a_refused_photo_and_a_refused_form_say_so_at_the_top_naming_each_field() {
    let t = TestGateway::start();
    let a = login(&t, AGENT);
    let tok = token(&a, "/aia/profil");
    let p = a.submit_multipart(
        "/aia/profil/photo",
        &[("csrf", &tok)],
        Some(b"pas une image"),
    );
    assert_eq!(p.status, 422);
    let summary = p.body.find("id=\"erreurs\"").expect("summary at the top");
    let field = p
        .body
        .find("id=\"photo-error\"")
        .expect("message at the field");
    assert!(summary < field, "{p:?}");
    assert_eq!(p.error_summary_fields(), ["photo"], "{p:?}");
    assert!(
        p.error_summary()[0].starts_with("Photo : "),
        "{:?}",
        p.error_summary()
    );
    assert!(p.has("#f-photo"), "the link's target: {p:?}");

    let r = login(&t, REFERENT);
    let tok = token(&r, "/aia/utilisateurs/nouveau");
    let p = r.submit_multipart("/aia/utilisateurs/nouveau", &[("csrf", &tok)], None);
    assert_eq!(p.status, 422);
    let summary = p.error_summary();
    for field in ["Nom", "Prénom", "Adresse e-mail"] {
        assert!(
            summary.contains(&format!("{field} : Ce champ est obligatoire.")),
            "{field}: {summary:?}"
        );
    }
}
