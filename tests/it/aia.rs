//! The directory screens (docs/aia.md, docs/product.md#permissions) from the outside: each
//! action by the allowed actor, and the same action refused to a référent of another
//! structure, an agent and an anonymous client, whatever ids they forge.

use crate::harness::{
    add_other_mairie, csrf_of, png_bytes, Browser, Page, TestGateway, OTHER_REFERENT,
};
use convergences::directory::structures::NewStructure;
use sqlx::Row;

const AGENT: &str = "agent@mairie-exemple.fr";
const CCAS_AGENT: &str = "agent.ccas@mairie-exemple.fr";
const REFERENT: &str = "referent@mairie-exemple.fr";
const ADMIN: &str = "admin@cig-exemple.fr";

fn login<'a>(t: &'a TestGateway, email: &str) -> Browser<'a> {
    t.signed_in(email)
}

fn get(b: &Browser, path: &str) -> (u16, String) {
    let r = b
        .client
        .get(b.t.url("auth.test", path))
        .header("accept", "text/html")
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn get_bytes(b: &Browser, path: &str) -> (u16, String, Vec<u8>) {
    let r = b.client.get(b.t.url("auth.test", path)).send().unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    (r.status().as_u16(), ct, r.bytes().unwrap().to_vec())
}

/// The e-mails of the users listed on a UTILISATEURS page, in order (none when the list is
/// empty).
fn listed_emails(page: &Page) -> Vec<String> {
    page.table("Détails de la liste des utilisateurs")
        .unwrap_or_default()
        .into_iter()
        .map(|row| row[2].clone())
        .collect()
}

/// The CSRF token of this browser's session (any AIA page carries it).
fn csrf(b: &Browser) -> String {
    let (s, html) = get(b, "/aia/profil");
    assert_eq!(s, 200, "{html}");
    csrf_of(&html)
}

/// POSTs a form; returns status, Location and body.
fn post(b: &Browser, path: &str, pairs: &[(&str, &str)]) -> (u16, String, String) {
    let r = b
        .client
        .post(b.t.url("auth.test", path))
        .form(pairs)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    (status, loc, r.text().unwrap_or_default())
}

fn count(t: &TestGateway, sql: &'static str, id: i64) -> i64 {
    t.block_on(async {
        sqlx::query(sql)
            .bind(id)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    })
}

fn audit_count(t: &TestGateway, action: &str) -> i64 {
    t.block_on(t.gw.dir.count_audit(action)).unwrap()
}

fn user_form<'a>(csrf: &'a str, email: &'a str, structure: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("last_name", "Nouveau"),
        ("first_name", "Nina"),
        ("email", email),
        ("structure_id", structure),
        ("job_title", "Gestionnaire paie"),
        ("service", "Finances"),
        ("phone", "01 23 45 67 89"),
        ("valid_from", "2026-01-01"),
        ("valid_until", "2027-12-31"),
    ]
}

fn with<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    key: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    form.retain(|(k, _)| *k != key);
    form.push((key, value));
    form
}

#[test]
fn the_account_form_refuses_each_field_in_french_and_stores_nothing() {
    let t = TestGateway::start();
    let b = login(&t, REFERENT);
    let home = b.get_page("/aia");
    assert_eq!(home.status, 200);
    let tabs = home.texts("nav.tabs a");
    for tab in ["Utilisateurs", "Structures", "Applications", "Profil"] {
        assert!(tabs.contains(&tab.to_string()), "{tab}: {tabs:?}");
    }
    let list = b.get_page("/aia/utilisateurs");
    assert_eq!(list.status, 200);
    assert_eq!(list.h1(), "Utilisateurs (3)", "{list:?}");
    let token = csrf(&b);

    // Field checks: French messages under the fields and in the summary, nothing stored.
    // (the form sent, the field refused, what the user reads about it)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            with(
                user_form(&token, "nina@mairie-exemple.fr", "2"),
                "last_name",
                " ",
            ),
            "last_name",
            "Ce champ est obligatoire.",
        ),
        (
            user_form(&token, "nina@ailleurs.fr", "2"),
            "email",
            "domaine autorisé de la structure : mairie-exemple.fr",
        ),
        (
            user_form(&token, "pas-une-adresse", "2"),
            "email",
            "Saisissez une adresse e-mail valide",
        ),
        (
            user_form(&token, "AGENT@Mairie-Exemple.fr", "2"),
            "email",
            "Un compte existe déjà avec cette adresse e-mail.",
        ),
        (
            with(
                user_form(&token, "nina@mairie-exemple.fr", "2"),
                "phone",
                "12 34",
            ),
            "phone",
            "numéro de téléphone valide",
        ),
        (
            with(
                user_form(&token, "nina@mairie-exemple.fr", "2"),
                "valid_until",
                "2025-01-01",
            ),
            "valid_until",
            "postérieure à la date de début",
        ),
        (
            with(
                user_form(&token, "nina@mairie-exemple.fr", "2"),
                "valid_from",
                "2026-13-45",
            ),
            "valid_from",
            "date valide",
        ),
        (
            user_form(&token, "nina@mairie-exemple.fr", "1"),
            "structure_id",
            "Choisissez la structure d'appartenance",
        ),
    ];
    for (form, field, message) in cases {
        let page = b.submit("/aia/utilisateurs/nouveau", &form);
        assert_eq!(page.status, 422, "{message}");
        let under = page
            .field_error(field)
            .unwrap_or_else(|| panic!("no error under {field}: {page:?}"));
        assert!(under.contains(message), "{field}: {under}");
        assert_eq!(page.error_summary_fields(), [field], "{page:?}");
        assert!(
            page.error_summary()[0].contains(message),
            "{:?}",
            page.error_summary()
        );
    }
    assert_eq!(audit_count(&t, "user_created"), 0);
}

#[test]
fn referent_creates_and_edits_a_user_of_its_tree() {
    let t = TestGateway::start();
    let b = login(&t, REFERENT);
    let token = csrf(&b);
    // A user of the attached CCAS (structure 3), managed by the mairie's référent.
    let (s, loc, _) = post(
        &b,
        "/aia/utilisateurs/nouveau",
        &user_form(&token, "Nina.Nouveau@Mairie-Exemple.fr", "3"),
    );
    assert_eq!(s, 303);
    let id = t.user_id("nina.nouveau@mairie-exemple.fr");
    assert_eq!(loc, format!("/aia/utilisateurs/{id}?ok=cree"));
    let card = b.get_page(&loc);
    assert_eq!(card.h1(), "Nina Nouveau", "{card:?}");
    assert!(card.text().contains("Première visite ?"), "{card:?}");
    // The structure by its name, not its short code (docs/aia.md#structure-names).
    assert!(card.text().contains("CCAS d'Exemple"), "{card:?}");
    assert!(!card.body.contains("mairie-exemple / ccas"), "{card:?}");
    assert!(card.text().contains("Gestionnaire paie"), "{card:?}");
    assert_eq!(audit_count(&t, "user_created"), 1);

    // Edit form, then a change of service.
    let edit = b.get_page(&format!("/aia/utilisateurs/{id}/editer"));
    assert_eq!(edit.status, 200);
    assert!(
        edit.h2s()
            .contains(&"Réinitialisation mot de passe".to_string()),
        "{edit:?}"
    );
    let form = with(
        user_form(&token, "nina.nouveau@mairie-exemple.fr", "3"),
        "service",
        "Action sociale",
    );
    let (s, _, _) = post(&b, &format!("/aia/utilisateurs/{id}/editer"), &form);
    assert_eq!(s, 303);
    let rec = t.block_on(t.gw.dir.user_record(id)).unwrap().unwrap();
    assert_eq!(rec.service, "Action sociale");
    assert_eq!(rec.valid_until.as_deref(), Some("2027-12-31"));
    // Taking another account's e-mail is refused on edit too.
    let page = b.submit(
        &format!("/aia/utilisateurs/{id}/editer"),
        &user_form(&token, CCAS_AGENT, "3"),
    );
    assert_eq!(page.status, 422);
    assert_eq!(
        page.field_error("email").as_deref(),
        Some("Un compte existe déjà avec cette adresse e-mail."),
        "{page:?}"
    );
}

#[test]
fn referent_locks_an_account_which_ends_its_session_and_sends_a_reset_link() {
    let t = TestGateway::start();
    let b = login(&t, REFERENT);
    let token = csrf(&b);
    // Lock: the agent's session ends at once.
    let agent_browser = login(&t, AGENT);
    assert_eq!(get(&agent_browser, "/aia/profil").0, 200);
    let agent = t.user_id(AGENT);
    let (s, _, _) = post(
        &b,
        &format!("/aia/utilisateurs/{agent}/verrouillage"),
        &[("csrf", &token), ("verrouiller", "1")],
    );
    assert_eq!(s, 303);
    assert_eq!(get(&agent_browser, "/aia/profil").0, 303, "session revoked");
    let locked = b.get_page("/aia/utilisateurs?verrouille=1");
    assert_eq!(locked.h1(), "Utilisateurs (1)", "{locked:?}");
    assert_eq!(listed_emails(&locked), [AGENT]);
    let (s, _, _) = post(
        &b,
        &format!("/aia/utilisateurs/{agent}/verrouillage"),
        &[("csrf", &token), ("verrouiller", "0")],
    );
    assert_eq!(s, 303);
    assert!(
        !t.block_on(t.gw.dir.user_record(agent))
            .unwrap()
            .unwrap()
            .locked
    );
    assert_eq!(audit_count(&t, "user_locked"), 1);

    // Password reset from the edit form.
    let (s, loc, _) = post(
        &b,
        &format!("/aia/utilisateurs/{agent}/reinitialisation"),
        &[("csrf", &token)],
    );
    assert_eq!(
        (s, loc.as_str()),
        (
            303,
            format!("/aia/utilisateurs/{agent}/editer?ok=lien").as_str()
        )
    );
    let flash = b.get_page(&loc).flash().unwrap_or_default();
    assert!(
        flash.contains("Un lien de réinitialisation du mot de passe a été envoyé"),
        "{flash}"
    );
    assert_eq!(audit_count(&t, "password_reset_sent"), 1);
}

#[test]
fn search_and_filters_return_the_right_rows() {
    let t = TestGateway::start();
    let b = login(&t, REFERENT);
    // The heading's count and the e-mails listed, for a query of the UTILISATEURS list.
    let list = |query: &str| {
        let page = b.get_page(&format!("/aia/utilisateurs{query}"));
        assert_eq!(page.status, 200, "{query}: {page:?}");
        (page.h1(), listed_emails(&page))
    };
    assert_eq!(
        list("?q=ccas"),
        ("Utilisateurs (1)".into(), vec![CCAS_AGENT.to_string()])
    );
    // Fonction and service are searched too; case does not matter.
    assert_eq!(
        list("?q=CARRI"),
        ("Utilisateurs (1)".into(), vec![AGENT.to_string()])
    );
    // Under 3 characters the search is not applied and the user is told why.
    let page = b.get_page("/aia/utilisateurs?q=ag");
    assert_eq!(page.h1(), "Utilisateurs (3)");
    assert_eq!(
        page.field_errors(),
        ["Veuillez saisir au moins 3 caractères pour effectuer une recherche."]
    );
    // LIKE wildcards are literal.
    assert_eq!(list("?q=%25%25%25"), ("Utilisateurs (0)".into(), vec![]));
    assert_eq!(
        list("?app=bip%2Futilisateur"),
        ("Utilisateurs (1)".into(), vec![AGENT.to_string()])
    );
    assert_eq!(
        list("?app=netcotisations"),
        ("Utilisateurs (1)".into(), vec![REFERENT.to_string()])
    );
    assert_eq!(
        list("?structure=3"),
        ("Utilisateurs (1)".into(), vec![CCAS_AGENT.to_string()])
    );
    assert_eq!(
        list("?jamais=1").0,
        "Utilisateurs (2)",
        "referent logged in"
    );
    // Expired validity.
    let agent = t.user_id(AGENT);
    t.block_on(t.gw.dir.set_validity(agent, None, Some("2020-01-01")))
        .unwrap();
    assert_eq!(
        list("?expire=1"),
        ("Utilisateurs (1)".into(), vec![AGENT.to_string()])
    );
    // Pagination.
    let pager = |query: &str| b.get_page(&format!("/aia/utilisateurs{query}"));
    let page = pager("?par_page=10&page=1");
    assert!(page.text().contains("1–3 sur 3"), "{page:?}");
    // A page past the end shows the last page.
    let page = pager("?page=99");
    assert!(
        listed_emails(&page).contains(&AGENT.to_string()),
        "{page:?}"
    );
    assert!(page.text().contains("1–3 sur 3"), "{page:?}");
    // A structure outside the viewer's reach is a 404, not an empty list.
    assert_eq!(get(&b, "/aia/utilisateurs?structure=1").0, 404);
    // The platform admin sees everyone.
    let a = login(&t, ADMIN);
    assert_eq!(a.get_page("/aia/utilisateurs").h1(), "Utilisateurs (4)");
}

#[test]
fn another_structure_s_referent_is_refused_on_users_whatever_ids_it_forges() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let agent = x.agent.id;
    let ccas = x.ccas_agent.id;
    let before = t.block_on(t.gw.dir.user_record(ccas)).unwrap().unwrap();
    let ccas_id = x.ccas.id.to_string();
    let pirate = format!("pirate@{}", x.mairie.domain);
    // Another mairie's référent (BIP administrateur there) sees only its own mairie.
    let other = w.login(&x.intruder);
    let tok = csrf(&other);
    let list = other.get_page("/aia/utilisateurs");
    assert_eq!(list.h1(), "Utilisateurs (1)", "{list:?}");
    assert_eq!(listed_emails(&list), [x.intruder.email.as_str()]);
    for path in [
        format!("/aia/utilisateurs/{ccas}"),
        format!("/aia/utilisateurs/{ccas}/editer"),
    ] {
        let page = other.get_page(&path);
        assert_eq!(page.assert_error(404).heading, "Page introuvable", "{path}");
    }
    assert_eq!(get(&other, &format!("/aia/photo/{ccas}")).0, 404);
    let forged = user_form(&tok, &pirate, &ccas_id);
    for path in [
        format!("/aia/utilisateurs/{ccas}/editer"),
        format!("/aia/utilisateurs/{ccas}/verrouillage"),
        format!("/aia/utilisateurs/{ccas}/reinitialisation"),
        format!("/aia/utilisateurs/{ccas}/supprimer"),
    ] {
        let mut form = forged.clone();
        form.push(("verrouiller", "1"));
        other.submit(&path, &form).assert_error(404);
    }
    // Creating in a foreign structure: a field error, nothing stored.
    let page = other.submit("/aia/utilisateurs/nouveau", &forged);
    assert_eq!(page.status, 422);
    assert!(page.field_error("structure_id").is_some(), "{page:?}");
    assert!(page
        .error_summary_fields()
        .contains(&"structure_id".to_string()));

    nothing_changed(&t, ccas, agent, &before);
}

#[test]
fn an_agent_sees_the_cards_of_its_establishment_but_changes_nothing() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let agent = x.agent.id;
    let ccas = x.ccas_agent.id;
    let before = t.block_on(t.gw.dir.user_record(ccas)).unwrap().unwrap();
    let ccas_id = x.ccas.id.to_string();
    let pirate = format!("pirate@{}", x.mairie.domain);
    // The agent sees cards of its establishment but changes nothing.
    let a = w.login(&x.agent);
    let atok = csrf(&a);
    let card = a.get_page(&format!("/aia/utilisateurs/{ccas}"));
    assert_eq!(card.status, 200);
    assert_eq!(card.h1(), x.ccas_agent.name());
    assert!(!card.has_link("Éditer"), "{card:?}");
    assert!(!card.body.contains("Éditer"), "{card:?}");
    let refused = a.get_page("/aia/utilisateurs/nouveau").assert_error(403);
    assert_eq!(refused.heading, "Accès refusé");
    assert_eq!(get(&a, "/aia/utilisateurs/export.csv").0, 403);
    for path in [
        format!("/aia/utilisateurs/{ccas}/editer"),
        format!("/aia/utilisateurs/{ccas}/verrouillage"),
        format!("/aia/utilisateurs/{ccas}/supprimer"),
    ] {
        let form = user_form(&atok, &pirate, &ccas_id);
        a.submit(&path, &form).assert_error(403);
    }
    let mairie_id = x.mairie.id.to_string();
    let p = format!("p@{}", x.mairie.domain);
    a.submit(
        "/aia/utilisateurs/nouveau",
        &user_form(&atok, &p, &mairie_id),
    )
    .assert_error(403);

    nothing_changed(&t, ccas, agent, &before);
}

#[test]
fn anonymous_clients_and_forged_csrf_tokens_are_refused_on_users() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let agent = x.agent.id;
    let ccas = x.ccas_agent.id;
    let before = t.block_on(t.gw.dir.user_record(ccas)).unwrap().unwrap();
    // Anonymous clients and missing CSRF tokens.
    let anon = t.browser();
    assert_eq!(get(&anon, "/aia/utilisateurs").0, 303);
    // Logging in comes back to the very page asked for, query included.
    let page = anon.get_page("/aia/utilisateurs?q=agent&par_page=50");
    assert_eq!(
        page.location,
        "/login?return_to=%2Faia%2Futilisateurs%3Fq%3Dagent%26par_page%3D50"
    );
    assert_eq!(get_bytes(&anon, "/aia/utilisateurs/export.csv").0, 403);
    assert_eq!(
        post(
            &anon,
            &format!("/aia/utilisateurs/{agent}/supprimer"),
            &[("csrf", "x")]
        )
        .0,
        303,
        "sent to the login form, nothing done"
    );
    let r = w.login(&x.referent);
    let page = r.submit(
        &format!("/aia/utilisateurs/{agent}/supprimer"),
        &[("csrf", "forged")],
    );
    page.assert_error(400);
    assert!(page.text().contains("Le formulaire a expiré"), "{page:?}");

    nothing_changed(&t, ccas, agent, &before);
}

/// The CCAS agent's account is as it was, the agent's still exists, and no directory change
/// was audited.
fn nothing_changed(
    t: &TestGateway,
    ccas: i64,
    agent: i64,
    before: &convergences::directory::admin_users::UserRecord,
) {
    let after = t.block_on(t.gw.dir.user_record(ccas)).unwrap().unwrap();
    assert_eq!(
        (after.email, after.locked, after.updated_at),
        (before.email.clone(), before.locked, before.updated_at)
    );
    assert!(t.block_on(t.gw.dir.user_record(agent)).unwrap().is_some());
    for action in [
        "user_created",
        "user_updated",
        "user_locked",
        "user_deleted",
        "password_reset_sent",
        "users_exported",
    ] {
        assert_eq!(audit_count(t, action), 0, "{action}");
    }
}

#[test]
fn deletion_removes_personal_data_everywhere_and_pseudonymises_the_audit_log() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    // Earlier events naming the agent.
    let a = login(&t, AGENT);
    let png = png_bytes(40, 40);
    assert_eq!(upload(&a, &png).status, 303);
    t.block_on(
        t.gw.dir
            .create_token(agent, convergences::directory::tokens::Purpose::Reset, 3600),
    )
    .unwrap();

    let b = login(&t, REFERENT);
    let confirm = b.get_page(&format!("/aia/utilisateurs/{agent}/supprimer"));
    assert_eq!(confirm.status, 200);
    assert_eq!(confirm.h1(), "Supprimer l'utilisateur");
    assert!(
        confirm
            .texts("strong")
            .contains(&"Supprimer définitivement l'utilisateur ?".to_string()),
        "{confirm:?}"
    );
    let (s, loc, _) = post(
        &b,
        &format!("/aia/utilisateurs/{agent}/supprimer"),
        &[("csrf", &confirm.csrf())],
    );
    assert_eq!((s, loc.as_str()), (303, "/aia/utilisateurs?ok=supprime"));
    // The agent's session is gone.
    assert_eq!(get(&a, "/aia/profil").0, 303);
    for sql in [
        "SELECT COUNT(*) FROM users WHERE id = $1",
        "SELECT COUNT(*) FROM user_photos WHERE user_id = $1",
        "SELECT COUNT(*) FROM role_assignments WHERE user_id = $1",
        "SELECT COUNT(*) FROM one_time_tokens WHERE user_id = $1",
        "SELECT COUNT(*) FROM referents WHERE user_id = $1",
        "SELECT COUNT(*) FROM sign_ins WHERE user_id = $1",
        "SELECT COUNT(*) FROM audit_events WHERE actor_id = $1",
    ] {
        assert_eq!(count(&t, sql, agent), 0, "{sql}");
    }
    let leftover: i64 = t.block_on(async {
        sqlx::query(
            "SELECT COUNT(*) FROM audit_events WHERE LOWER(actor) LIKE $1 OR LOWER(target) LIKE $1 OR LOWER(details) LIKE $1",
        )
        .bind("%agent@mairie-exemple.fr%")
        .fetch_one(&t.gw.dir.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
    });
    assert_eq!(leftover, 0, "the e-mail is gone from the audit log");
    let reference = convergences::directory::audit_log::pseudonym(&t.gw.secret, AGENT);
    let (events, targets): (i64, i64) = t.block_on(async {
        let e = sqlx::query("SELECT COUNT(*) FROM audit_events WHERE actor = $1")
            .bind(&reference)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        let d = sqlx::query(
            "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND action = 'user_deleted'",
        )
        .bind(&reference)
        .fetch_one(&t.gw.dir.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
        (e, d)
    });
    assert!(
        events >= 2,
        "login and photo events kept under the reference"
    );
    assert_eq!(targets, 1);
}

#[test]
fn a_referent_edits_the_attached_structures_of_its_tree_only() {
    let t = TestGateway::start_deep();
    let (autre, _) = add_other_mairie(&t);
    let r = login(&t, REFERENT);
    let tok = csrf(&r);
    let p = r.get_page("/aia/structures?id=2");
    assert_eq!(p.status, 200);
    assert!(p.h2s().contains(&"Membres (2)".to_string()), "{p:?}");
    assert_eq!(
        p.definition("Domaine autorisé").as_deref(),
        Some("mairie-exemple.fr")
    );
    assert!(
        p.texts("section[aria-labelledby=\"s-title\"] ul.plain-list li")
            .iter()
            .any(|li| li.starts_with("Régis Référent (referent@mairie-exemple.fr)")),
        "{p:?}"
    );
    // The principal structure's data is read-only for its référent.
    assert_eq!(get(&r, "/aia/structures/2/editer").0, 403);
    assert_eq!(
        post(
            &r,
            "/aia/structures/2/editer",
            &[("csrf", &tok), ("short_name", "pirate")]
        )
        .0,
        403
    );
    // Attached structures are editable; domains and parent stay as they were.
    let (s, _, _) = post(
        &r,
        "/aia/structures/3/editer",
        &[
            ("csrf", &tok),
            ("short_name", "ccas"),
            ("long_name", "Centre communal d'action sociale"),
            ("domains", "pirate.fr"),
            ("parent_id", "1"),
        ],
    );
    assert_eq!(s, 303);
    let ccas = t.block_on(t.gw.dir.structure_info(3)).unwrap().unwrap();
    assert_eq!(ccas.long_name, "Centre communal d'action sociale");
    assert_eq!((ccas.parent_id, ccas.path.as_str()), (Some(2), "/2/3/"));
    assert!(t.block_on(t.gw.dir.own_domains(3)).unwrap().is_empty());
    // Sub-structures below their tree, not elsewhere; no domains.
    let (s, loc, _) = post(
        &r,
        "/aia/structures/nouvelle",
        &[
            ("csrf", &tok),
            ("parent_id", "3"),
            ("short_name", "service-social"),
        ],
    );
    assert_eq!(s, 303, "{loc}");
    let sub = t
        .block_on(t.gw.dir.structure_by_name("service-social"))
        .unwrap()
        .unwrap();
    assert_eq!(sub.path, format!("/2/3/{}/", sub.id));
    let autre_s = autre.to_string();
    assert_eq!(
        post(
            &r,
            "/aia/structures/nouvelle",
            &[("csrf", &tok), ("parent_id", &autre_s), ("short_name", "x")]
        )
        .0,
        404
    );
    assert_eq!(
        post(
            &r,
            "/aia/structures/nouvelle",
            &[("csrf", &tok), ("parent_id", ""), ("short_name", "x")]
        )
        .0,
        403
    );
    assert_eq!(
        post(
            &r,
            "/aia/structures/nouvelle",
            &[
                ("csrf", &tok),
                ("parent_id", "3"),
                ("short_name", "x"),
                ("domains", "x.fr")
            ]
        )
        .0,
        403
    );
    assert_eq!(
        post(
            &r,
            "/aia/structures/2/referents",
            &[("csrf", &tok), ("email", AGENT)]
        )
        .0,
        403
    );
    // The other référent sees nothing of mairie-exemple.
    let o = login(&t, OTHER_REFERENT);
    let otok = csrf(&o);
    assert_eq!(get(&o, "/aia/structures?id=3").0, 404);
    assert_eq!(get_bytes(&o, "/aia/structures/3/export.csv").0, 404);
    assert_eq!(
        post(
            &o,
            "/aia/structures/3/editer",
            &[("csrf", &otok), ("short_name", "pirate")]
        )
        .0,
        404
    );
    // Agents have no structures tab.
    let a = login(&t, AGENT);
    a.get_page("/aia/structures").assert_error(403);
    assert!(!a.get_page("/aia").has_link("Structures"));
    assert_eq!(audit_count(&t, "structure_updated"), 1);
}

#[test]
fn a_platform_administrator_moves_subtrees_sets_domains_and_names_referents() {
    let t = TestGateway::start_deep();
    let (autre, other_ref) = add_other_mairie(&t);
    let autre_s = autre.to_string();
    let r = login(&t, REFERENT);
    let o = login(&t, OTHER_REFERENT);
    // A service below the CCAS, moved with it.
    let sub_id = t
        .block_on(t.gw.dir.create_structure(NewStructure {
            parent_id: Some(3),
            short_name: "service-social",
            long_name: "",
            domains: &[],
        }))
        .unwrap();
    let sub = t
        .block_on(t.gw.dir.structure_info(sub_id))
        .unwrap()
        .unwrap();
    assert_eq!(sub.path, format!("/2/3/{}/", sub.id));
    // Platform admin: domains, moves (whole subtree, cycles refused), référents.
    let adm = login(&t, ADMIN);
    let atok = csrf(&adm);
    let p = adm.submit(
        "/aia/structures/2/editer",
        &[
            ("csrf", &atok),
            ("short_name", "mairie-exemple"),
            ("parent_id", &sub.id.to_string()),
        ],
    );
    assert_eq!(p.status, 422, "cycle refused");
    assert_eq!(p.error_summary_fields(), ["parent_id"], "{p:?}");
    assert!(
        p.error_summary()[0].contains(
            "Une structure ne peut pas être rattachée à elle-même ni à l'une de ses sous-structures."
        ),
        "{p:?}"
    );
    let (s, _, _) = post(
        &adm,
        "/aia/structures/3/editer",
        &[
            ("csrf", &atok),
            ("short_name", "ccas"),
            ("parent_id", &autre_s),
            ("domains", "ccas.fr, mairie-exemple.fr"),
        ],
    );
    assert_eq!(s, 303);
    let moved = t
        .block_on(t.gw.dir.structure_info(sub.id))
        .unwrap()
        .unwrap();
    assert_eq!(moved.path, format!("/{autre}/3/{}/", sub.id));
    assert_eq!(
        t.block_on(t.gw.dir.allowed_domains(sub.id)).unwrap(),
        vec!["ccas.fr".to_string(), "mairie-exemple.fr".to_string()]
    );
    // Now the CCAS agent belongs to the other référent's tree.
    let ccas_agent = t.user_id(CCAS_AGENT);
    assert_eq!(get(&o, &format!("/aia/utilisateurs/{ccas_agent}")).0, 200);
    assert_eq!(get(&r, &format!("/aia/utilisateurs/{ccas_agent}")).0, 404);
    let (s, _, _) = post(
        &adm,
        &format!("/aia/structures/{autre}/referents"),
        &[("csrf", &atok), ("email", CCAS_AGENT)],
    );
    assert_eq!(s, 303);
    let (s, _, _) = post(
        &adm,
        &format!("/aia/structures/{autre}/referents/retirer"),
        &[("csrf", &atok), ("user_id", &other_ref.to_string())],
    );
    assert_eq!(s, 303);
    assert_eq!(get(&o, "/aia/structures").0, 403, "no longer référent");
    let (s, loc, _) = post(
        &adm,
        &format!("/aia/structures/{autre}/referents"),
        &[("csrf", &atok), ("email", "personne@mairie-autre.fr")],
    );
    assert_eq!(s, 303);
    assert_eq!(
        adm.get_page(&loc).alerts(),
        ["Aucun compte ne correspond à cette adresse e-mail."]
    );
    let (_, loc, _) = post(
        &adm,
        &format!("/aia/structures/{autre}/referents"),
        &[("csrf", &atok), ("email", AGENT)],
    );
    assert_eq!(
        adm.get_page(&loc).alerts(),
        ["Le référent doit appartenir à cette structure ou à une structure de son arborescence."]
    );
    assert_eq!(audit_count(&t, "referent_added"), 1);
    assert_eq!(audit_count(&t, "referent_removed"), 1);
}

#[test]
fn applications_assign_with_subtree_rules() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let bd = w.boundary();
    let ccas = bd.ccas_agent.id;
    let mairie_s = bd.mairie.id.to_string();
    let r = w.login(&bd.referent);
    let tok = csrf(&r);
    let p = r.get_page("/aia/applications?app=bip&role=utilisateur");
    assert_eq!(p.status, 200);
    assert!(p.h2s().contains(&"Membres (1)".to_string()), "{p:?}");
    assert_eq!(
        p.texts("button[value=\"desaffecter\"]"),
        ["Désaffecter les membres sélectionnés"]
    );
    let p = r.get_page("/aia/applications/bip/utilisateur/affecter?q=ccas");
    assert_eq!(p.status, 200);
    let found: Vec<String> = p
        .table_rows("Détails de la liste des utilisateurs trouvés")
        .into_iter()
        .map(|row| row[3].clone())
        .collect();
    assert_eq!(found, [bd.ccas_agent.email.as_str()]);

    // The CCAS agent has no BIP access yet.
    let c = w.login(&bd.ccas_agent);
    assert_eq!(c.visit(&t.url("bip.test", "/")).0.status(), 403);
    let ccas_s = ccas.to_string();
    let (s, loc, _) = post(
        &r,
        "/aia/applications/bip/utilisateur/affecter",
        &[("csrf", &tok), ("user_ids", &ccas_s), ("structure", "")],
    );
    assert_eq!(
        (s, loc.as_str()),
        (303, "/aia/applications?app=bip&role=utilisateur&ok=affecte")
    );
    assert_eq!(c.get_json(&t.url("bip.test", "/"))["app"], "bip");
    // Multi-establishment: the same user on behalf of the mairie too.
    let (s, _, _) = post(
        &r,
        "/aia/applications/bip/utilisateur/affecter",
        &[
            ("csrf", &tok),
            ("user_ids", &ccas_s),
            ("structure", &mairie_s),
        ],
    );
    assert_eq!(s, 303);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM role_assignments WHERE user_id = $1",
            ccas
        ),
        2
    );
    // Only platform admins grant administrateur.
    assert_eq!(
        get(&r, "/aia/applications/bip/administrateur/affecter").0,
        403
    );
    assert_eq!(
        post(
            &r,
            "/aia/applications/bip/administrateur/affecter",
            &[("csrf", &tok), ("user_ids", &ccas_s)]
        )
        .0,
        403
    );
}

#[test]
fn an_agent_without_an_administrateur_role_assigns_nothing() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let bd = w.boundary();
    let ccas_s = bd.ccas_agent.id.to_string();
    // Not an administrator of this application: 404.
    let a = w.login(&bd.agent);
    assert_eq!(get(&a, "/aia/applications").0, 403);
    assert_eq!(
        post(
            &a,
            "/aia/applications/bip/utilisateur/affecter",
            &[("csrf", &csrf(&a)), ("user_ids", &ccas_s)]
        )
        .0,
        404
    );
}

#[test]
fn a_referent_of_another_structure_neither_sees_nor_changes_the_mairie_s_members() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let bd = w.boundary();
    let ccas = bd.ccas_agent.id;
    let agent = bd.agent.id;
    w.grant(&bd.ccas_agent, "bip", "utilisateur", &bd.ccas);
    // The other référent (administrateur of BIP) cannot touch the mairie's people.
    let o = w.login(&bd.intruder);
    let otok = csrf(&o);
    let p = o.get_page("/aia/applications?app=bip&role=utilisateur");
    assert!(p.h2s().contains(&"Membres (0)".to_string()), "{p:?}");
    assert_eq!(
        post(
            &o,
            "/aia/applications/bip/utilisateur/affecter",
            &[("csrf", &otok), ("user_ids", &agent.to_string())]
        )
        .0,
        404
    );
    let assignment: i64 = t.block_on(async {
        sqlx::query("SELECT id FROM role_assignments WHERE user_id = $1 AND structure_id = $2")
            .bind(ccas)
            .bind(bd.ccas.id)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    });
    let aid = assignment.to_string();
    assert_eq!(
        post(
            &o,
            "/aia/applications/bip/utilisateur/membres",
            &[("csrf", &otok), ("action", "desaffecter"), ("ids", &aid)]
        )
        .0,
        404
    );
    assert_eq!(audit_count(&t, "role_unassigned"), 0);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM role_assignments WHERE user_id = $1",
            ccas
        ),
        1,
        "the assignment is still there"
    );
}

/// The CCAS agent holding BIP `utilisateur` on behalf of the CCAS and of the mairie; the id of
/// the first assignment.
fn ccas_agent_on_bip_twice(t: &TestGateway) -> i64 {
    let ccas = t.user_id(CCAS_AGENT);
    for structure in [3, 2] {
        t.block_on(
            t.gw.dir
                .assign_role(ccas, "bip", "utilisateur", structure, None),
        )
        .unwrap();
    }
    t.block_on(async {
        sqlx::query("SELECT id FROM role_assignments WHERE user_id = $1 AND structure_id = 3")
            .bind(ccas)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    })
}

#[test]
fn applications_unassign_with_subtree_rules() {
    let t = TestGateway::start();
    let ccas = t.user_id(CCAS_AGENT);
    let aid = ccas_agent_on_bip_twice(&t).to_string();
    let r = login(&t, REFERENT);
    let tok = csrf(&r);
    let c = login(&t, CCAS_AGENT);
    assert_eq!(c.get_json(&t.url("bip.test", "/"))["app"], "bip");
    // Removing an administrateur is for platform admins only, even one's own role.
    let referent_id = t.user_id(REFERENT);
    let own: i64 = t.block_on(async {
        sqlx::query(
            "SELECT ra.id FROM role_assignments ra JOIN app_roles r ON r.id = ra.role_id \
             JOIN applications a ON a.id = r.app_id WHERE ra.user_id = $1 AND a.slug = 'bip'",
        )
        .bind(referent_id)
        .fetch_one(&t.gw.dir.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
    });
    assert_eq!(
        post(
            &r,
            "/aia/applications/bip/administrateur/membres",
            &[
                ("csrf", &tok),
                ("action", "desaffecter"),
                ("ids", &own.to_string())
            ]
        )
        .0,
        403
    );
    // Reassign one to "administrateur": refused to the référent; then unassign both.
    assert_eq!(
        post(
            &r,
            "/aia/applications/bip/utilisateur/membres",
            &[
                ("csrf", &tok),
                ("action", "reaffecter"),
                ("to_role", "administrateur"),
                ("ids", &aid)
            ]
        )
        .0,
        403,
        "administrateur is not granted by référents"
    );
    let all: Vec<String> = t.block_on(async {
        sqlx::query("SELECT id FROM role_assignments WHERE user_id = $1")
            .bind(ccas)
            .fetch_all(&t.gw.dir.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<i64, _>(0).unwrap().to_string())
            .collect()
    });
    let mut form: Vec<(&str, &str)> = vec![("csrf", &tok), ("action", "desaffecter")];
    for id in &all {
        form.push(("ids", id));
    }
    let (s, _, _) = post(&r, "/aia/applications/bip/utilisateur/membres", &form);
    assert_eq!(s, 303);
    assert_eq!(
        c.client
            .get(t.url("bip.test", "/"))
            .send()
            .unwrap()
            .status(),
        403,
        "role removal denies the next proxied request"
    );
    assert_eq!(audit_count(&t, "role_unassigned"), 2);
}

#[test]
fn a_platform_administrator_reassigns_a_member_to_administrateur() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    // The platform admin reassigns the agent from utilisateur to administrateur.
    let adm = login(&t, ADMIN);
    let atok = csrf(&adm);
    let agent_assignment: i64 = t.block_on(async {
        sqlx::query("SELECT id FROM role_assignments WHERE user_id = $1")
            .bind(agent)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    });
    let (s, _, _) = post(
        &adm,
        "/aia/applications/bip/utilisateur/membres",
        &[
            ("csrf", &atok),
            ("action", "reaffecter"),
            ("to_role", "administrateur"),
            ("ids", &agent_assignment.to_string()),
        ],
    );
    assert_eq!(s, 303);
    let ident = t.block_on(t.gw.dir.identity(agent)).unwrap().unwrap();
    assert_eq!(ident.grants.len(), 1);
    assert_eq!(ident.grants[0].role, "administrateur");
}

/// Reads an export: BOM, ';' separator, CRLF.
fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "BOM");
    assert!(bytes.windows(2).any(|w| w == b"\r\n"), "CRLF");
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&bytes[3..]);
    let header = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn exports_parse_back_and_neutralise_formulas() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let tok = csrf(&r);
    let form = with(
        user_form(&tok, "formule@mairie-exemple.fr", "2"),
        "last_name",
        "=cmd()",
    );
    assert_eq!(post(&r, "/aia/utilisateurs/nouveau", &form).0, 303);
    let (s, ct, bytes) = get_bytes(&r, "/aia/utilisateurs/export.csv");
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"));
    let (header, rows) = parse_csv(&bytes);
    assert_eq!(header.len(), 16);
    assert_eq!(header[0], "Nom");
    assert_eq!(header[4], "Chemin de la structure");
    assert_eq!(header[5], "Nom de la structure");
    assert_eq!(header[15], "Applications et rôles");
    assert_eq!(rows.len(), 4, "the mairie's tree only");
    let f = rows
        .iter()
        .find(|r| r[2] == "formule@mairie-exemple.fr")
        .unwrap();
    assert_eq!(f[0], "'=cmd()");
    assert_eq!(f[4], "mairie-exemple");
    let agent = rows.iter().find(|r| r[2] == AGENT).unwrap();
    assert_eq!(agent[5], "Mairie d'Exemple");
    assert_eq!(agent[15], "BIP : utilisateur (mairie-exemple)");
    let referent = rows.iter().find(|r| r[2] == REFERENT).unwrap();
    assert_eq!(
        referent[15],
        "BIP : administrateur (mairie-exemple) | Net-Cotisations : administrateur (mairie-exemple)"
    );
    let none = rows.iter().find(|r| r[2] == CCAS_AGENT).unwrap();
    assert_eq!(none[15], "");
    // Filters apply to the export too.
    let (_, _, bytes) = get_bytes(&r, "/aia/utilisateurs/export.csv?q=ccas");
    assert_eq!(parse_csv(&bytes).1.len(), 1);
    // Members of a structure, members of a role.
    let (s, _, bytes) = get_bytes(&r, "/aia/structures/3/export.csv");
    assert_eq!(s, 200);
    let (_, rows) = parse_csv(&bytes);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][2], CCAS_AGENT);
    let (s, _, bytes) = get_bytes(&r, "/aia/applications/bip/utilisateur/export.csv");
    assert_eq!(s, 200);
    let (_, rows) = parse_csv(&bytes);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][2], AGENT);
    assert_eq!(audit_count(&t, "users_exported"), 2);
    assert_eq!(audit_count(&t, "structure_members_exported"), 1);
    assert_eq!(audit_count(&t, "role_members_exported"), 1);
    // The journal, and its export, for the référent's tree.
    let p = r.get_page("/aia/journal?action=user_created");
    assert_eq!(p.status, 200);
    assert_eq!(p.h1(), "Journal (1)", "{p:?}");
    let (s, _, bytes) = get_bytes(&r, "/aia/journal/export.csv");
    assert_eq!(s, 200);
    let (header, rows) = parse_csv(&bytes);
    assert_eq!(header[0], "Date (heure de Paris)");
    assert!(rows.iter().any(|r| r[3] == "formule@mairie-exemple.fr"));
    let a = login(&t, AGENT);
    assert_eq!(get(&a, "/aia/journal").0, 403);
    assert_eq!(get_bytes(&a, "/aia/journal/export.csv").0, 403);
    assert_eq!(
        get_bytes(&a, "/aia/applications/bip/utilisateur/export.csv").0,
        404
    );
}

/// Sends the profile photo form as multipart/form-data.
fn upload(b: &Browser, data: &[u8]) -> Page {
    upload_to(b, "/aia/profil/photo", data)
}

/// Sends a photo form (its CSRF token and the file) as multipart/form-data to `path`.
fn upload_to(b: &Browser, path: &str, data: &[u8]) -> Page {
    let token = csrf(b);
    b.submit_multipart(path, &[("csrf", &token)], Some(data))
}

/// What a refused photo says: under the profile's photo field (`photo-error`), or at the top of
/// the account's edit form (the photo alone is sent there).
fn photo_error(p: &Page) -> String {
    p.text_at("#photo-error")
        .or_else(|| p.alerts().into_iter().next())
        .unwrap_or_else(|| panic!("no photo error: {p:?}"))
}

#[test]
fn profile_photo_is_reencoded_bounded_and_served_to_authorised_viewers_only() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let agent = x.agent.id;
    let a = w.login(&x.agent);
    let p = a.get_page("/aia/profil");
    assert_eq!(p.status, 200);
    assert_eq!(
        p.text_at("#photo-title").as_deref(),
        Some("Ajouter une photo")
    );
    let rights = p.table_rows("Rôles par application");
    assert!(
        rights
            .iter()
            .any(|row| row.contains(&"utilisateur".to_string())),
        "own rights: {rights:?}"
    );
    let p = upload(&a, b"%PDF-1.4 this is not an image");
    assert_eq!(p.status, 422);
    assert!(photo_error(&p).contains("pas une image valide"), "{p:?}");
    let p = upload(&a, &vec![0u8; 2 * 1024 * 1024 + 10]);
    assert_eq!(p.status, 422);
    assert!(photo_error(&p).contains("trop volumineux"), "{p:?}");
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM user_photos WHERE user_id = $1",
            agent
        ),
        0
    );
    assert_eq!(upload(&a, &png_bytes(1500, 750)).status, 303);
    let (s, ct, bytes) = get_bytes(&a, &format!("/aia/photo/{agent}"));
    assert_eq!((s, ct.as_str()), (200, "image/jpeg"));
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (512, 256));
    assert_eq!(
        a.get_page("/aia/profil").text_at("#photo-title").as_deref(),
        Some("Changer la photo")
    );
    // Same establishment: visible; other establishment: 404; anonymous: 404.
    let c = w.login(&x.ccas_agent);
    assert_eq!(get_bytes(&c, &format!("/aia/photo/{agent}")).0, 200);
    let o = w.login(&x.intruder);
    assert_eq!(get_bytes(&o, &format!("/aia/photo/{agent}")).0, 404);
    assert_eq!(
        get_bytes(&t.browser(), &format!("/aia/photo/{agent}")).0,
        404
    );
    // A référent sets the photo of an agent of its tree from the edit form; another cannot.
    let ccas = x.ccas_agent.id;
    let photo_path = format!("/aia/utilisateurs/{ccas}/photo");
    let r = w.login(&x.referent);
    // A 10 × 10 GIF cut after its header (`GIF89a but truncated` now reads as a
    // 25 120-pixel-wide image, refused as too large before anything else).
    let p = upload_to(&r, &photo_path, b"GIF89a\x0a\x00\x0a\x00 truncated");
    assert_eq!(p.status, 422);
    assert!(photo_error(&p).contains("pas une image valide"), "{p:?}");
    upload_to(&o, &photo_path, &png_bytes(10, 10)).assert_error(404);
    upload_to(&c, &photo_path, &png_bytes(10, 10)).assert_error(403);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM user_photos WHERE user_id = $1",
            ccas
        ),
        0
    );
    assert_eq!(upload_to(&r, &photo_path, &png_bytes(10, 10)).status, 303);
    let edit = r.get_page(&format!("/aia/utilisateurs/{ccas}/editer?ok=photo-agent"));
    assert_eq!(
        edit.text_at("label[for=\"f-photo\"]").as_deref(),
        Some("Changer la photo"),
        "{edit:?}"
    );
    assert!(
        edit.flash()
            .is_some_and(|f| f.contains("a été enregistrée")),
        "{edit:?}"
    );
    // Upload without a CSRF token is refused.
    let r = a
        .client
        .post(t.url("auth.test", "/aia/profil/photo"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"photo\"\r\n\r\nabc\r\n--x--\r\n")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// A black 1-bit greyscale PNG of `w` × `h`, built by hand: a few kilobytes whatever the
/// dimensions, but `w` × `h` bytes once decoded.
fn bilevel_png(w: u32, h: u32) -> Vec<u8> {
    use std::io::Write;
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    let row = vec![0u8; 1 + (w as usize).div_ceil(8)];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..h {
        z.write_all(&row).unwrap();
    }
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", b"");
    out
}

#[test]
fn a_photo_of_huge_dimensions_is_refused_before_decoding_and_normal_ones_still_work() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    let ccas = t.user_id(CCAS_AGENT);
    let photos = |id| {
        count(
            &t,
            "SELECT COUNT(*) FROM user_photos WHERE user_id = $1",
            id,
        )
    };
    // 9000 × 9000 pixels in 10 KB: 81 MB (and, in RGB, 240 MB) once decoded.
    let bomb = bilevel_png(9000, 9000);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let a = login(&t, AGENT);
    let r = login(&t, REFERENT);
    let ccas_path = format!("/aia/utilisateurs/{ccas}/photo");
    // Several at once, on both forms: each gets the French refusal, none a 500.
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..6 {
            let (b, path) = if i % 2 == 0 {
                (&a, "/aia/profil/photo")
            } else {
                (&r, ccas_path.as_str())
            };
            let bomb = &bomb;
            handles.push(s.spawn(move || upload_to(b, path, bomb)));
        }
        for h in handles {
            let p = h.join().unwrap();
            assert_eq!(p.status, 422, "{p:?}");
            let e = photo_error(&p);
            assert!(e.contains("L'image est trop grande"), "{e}");
            assert!(e.contains("16 millions de pixels"), "{e}");
        }
    });
    assert_eq!(photos(agent), 0);
    assert_eq!(photos(ccas), 0);
    // Just over the pixel bound, and a side over 8192: refused too.
    for (w, h) in [(4200, 4200), (8193, 16)] {
        let p = upload(&a, &bilevel_png(w, h));
        assert_eq!(p.status, 422, "{w}×{h}");
        assert!(photo_error(&p).contains("16 millions de pixels"), "{p:?}");
    }
    assert_eq!(photos(agent), 0);
    // Normal photos still go through, on both forms.
    assert_eq!(upload(&a, &png_bytes(800, 600)).status, 303);
    assert_eq!(photos(agent), 1);
    assert_eq!(
        upload_to(&r, &ccas_path, &bilevel_png(1000, 700)).status,
        303
    );
    assert_eq!(photos(ccas), 1);
    let (s, ct, bytes) = get_bytes(&r, &format!("/aia/photo/{ccas}"));
    assert_eq!((s, ct.as_str()), (200, "image/jpeg"));
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (512, 358));
}

#[test]
fn malformed_ids_and_forms_get_french_answers_and_agents_see_their_establishment_only() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let cig = w.establishment("cig", "CIG", "cig.test");
    let admin = w.platform_admin(&cig, "admin");
    let r = w.login(&x.referent);
    r.get_page("/aia/utilisateurs/abc").assert_error(404);
    r.get_page("/aia/utilisateurs/99999999").assert_error(404);
    let resp = r
        .client
        .post(t.url("auth.test", "/aia/utilisateurs/nouveau"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let p = Page::of(resp);
    assert_eq!(p.assert_error(415).message, "Le formulaire n'a pas été envoyé dans le format attendu. Rechargez la page et recommencez.", "not a form");
    let p = r.get_page("/aia/utilisateurs?page=-5&par_page=abc");
    assert_eq!(p.status, 200, "lenient paging: {p:?}");
    // An agent sees the cards of its establishment tree and nothing else.
    let a = w.login(&x.ccas_agent);
    let list = a.get_page("/aia/utilisateurs");
    assert_eq!(list.h1(), "Utilisateurs (3)", "{list:?}");
    let mut seen = listed_emails(&list);
    seen.sort();
    let mut tree = vec![
        x.referent.email.clone(),
        x.agent.email.clone(),
        x.ccas_agent.email.clone(),
    ];
    tree.sort();
    assert_eq!(seen, tree);
    assert!(!list.body.contains(&x.intruder.email));
    assert!(
        !list.body.contains("Dernière connexion") && !list.body.contains("Comptes verrouillés")
    );
    let locked = a.get_page("/aia/utilisateurs?verrouille=1");
    assert_eq!(
        locked.h1(),
        "Utilisateurs (3)",
        "state filters ignored for agents"
    );
    a.get_page(&format!("/aia/utilisateurs/{}", x.intruder.id))
        .assert_error(404);
    a.get_page(&format!("/aia/utilisateurs/{}", admin.id))
        .assert_error(404);
    assert_eq!(
        a.get_page(&format!("/aia/utilisateurs/{}", x.agent.id))
            .status,
        200
    );
    // The référent's journal shows its tree only.
    let o = w.login(&x.intruder);
    let journal = o.get_page("/aia/journal?action=login");
    assert_eq!(journal.h1(), "Journal (1)", "{journal:?}");
    assert!(journal.text().contains(&x.intruder.email), "{journal:?}");
    assert!(
        !journal.body.contains(&x.referent.email) && !journal.body.contains(&x.ccas_agent.email),
        "{journal:?}"
    );
}

#[test]
fn every_action_refuses_anonymous_clients_and_missing_csrf_tokens() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    let actions = [
        "/aia/utilisateurs/nouveau".to_string(),
        format!("/aia/utilisateurs/{agent}/editer"),
        format!("/aia/utilisateurs/{agent}/verrouillage"),
        format!("/aia/utilisateurs/{agent}/reinitialisation"),
        format!("/aia/utilisateurs/{agent}/supprimer"),
        "/aia/structures/nouvelle".to_string(),
        "/aia/structures/3/editer".to_string(),
        "/aia/structures/2/referents".to_string(),
        "/aia/structures/2/referents/retirer".to_string(),
        "/aia/applications/bip/utilisateur/affecter".to_string(),
        "/aia/applications/bip/utilisateur/membres".to_string(),
        "/aia/profil/photo/supprimer".to_string(),
    ];
    let before: i64 = count(&t, "SELECT COUNT(*) FROM audit_events WHERE id > $1", 0);
    let form = [
        ("last_name", "X"),
        ("first_name", "Y"),
        ("email", "x@mairie-exemple.fr"),
        ("structure_id", "2"),
        ("short_name", "x"),
        ("parent_id", "2"),
        ("user_id", "2"),
        ("user_ids", "4"),
        ("ids", "1"),
        ("action", "desaffecter"),
        ("verrouiller", "1"),
    ];
    let anon = t.browser();
    let admin = login(&t, ADMIN);
    let after_login = count(&t, "SELECT COUNT(*) FROM audit_events WHERE id > $1", 0);
    for path in &actions {
        let r = anon
            .client
            .post(t.url("auth.test", path))
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 303, "anonymous {path}");
        assert_eq!(
            r.headers()["location"],
            "/login?expired=1",
            "anonymous {path}"
        );
        let p = admin.submit(path, &form);
        assert_eq!(p.status, 400, "no CSRF token {path}");
        p.assert_error(400);
        assert!(p.text().contains("Le formulaire a expiré"), "{p:?}");
    }
    assert_eq!(after_login, before + 1, "only the admin's login");
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM audit_events WHERE id > $1", 0),
        after_login,
        "nothing was written"
    );
    assert!(
        !t.block_on(t.gw.dir.user_record(agent))
            .unwrap()
            .unwrap()
            .locked
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM role_assignments WHERE user_id = $1",
            agent
        ),
        1
    );
    // Journal filters: action, dates and text.
    let journal = |query: &str| admin.get_page(&format!("/aia/journal{query}")).h1();
    assert_eq!(journal("?action=login&q=cig-exemple"), "Journal (1)");
    assert_eq!(journal("?du=2000-01-01&au=2000-01-02"), "Journal (0)");
    assert_eq!(journal("?du=2000-01-01"), "Journal (1)");
}

#[test]
fn a_structure_rename_reaches_the_proxied_identity_at_once() {
    let t = TestGateway::start();
    let a = login(&t, AGENT);
    let echo = a.get_json(&t.url("bip.test", "/"));
    assert_eq!(
        echo["headers"]["x-convergences-structure"][0],
        "mairie-exemple"
    );
    let adm = login(&t, ADMIN);
    let tok = csrf(&adm);
    let (s, _, _) = post(
        &adm,
        "/aia/structures/2/editer",
        &[
            ("csrf", &tok),
            ("short_name", "mairie-renommee"),
            ("domains", "mairie-exemple.fr"),
        ],
    );
    assert_eq!(s, 303);
    let echo = a.get_json(&t.url("bip.test", "/"));
    assert_eq!(
        echo["headers"]["x-convergences-structure"][0],
        "mairie-renommee"
    );
}

/// The heading's count and the e-mails listed on the UTILISATEURS page at `query`.
fn users_listed(b: &Browser, query: &str) -> (String, Vec<String>) {
    let page = b.get_page(&format!("/aia/utilisateurs{query}"));
    assert_eq!(page.status, 200, "{query}: {page:?}");
    (page.h1(), listed_emails(&page))
}

#[test]
fn search_ignores_accents_and_case_and_finds_both_name_orders() {
    let t = TestGateway::start();
    let b = login(&t, ADMIN);
    for (q, who) in [
        ("regis", REFERENT),
        ("RÉGIS", REFERENT),
        ("agnes agent", AGENT),
        ("agent agn", AGENT),
        ("celine", CCAS_AGENT),
        ("humaines", REFERENT),
    ] {
        let query = format!(
            "?q={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let (_, found) = users_listed(&b, &query);
        assert!(
            found.contains(&who.to_string()),
            "{q} should find {who}: {found:?}"
        );
    }
    assert_eq!(users_listed(&b, "?q=agnes+agent").0, "Utilisateurs (1)");
    // Punctuation is literal, including what a full-text query language would interpret.
    assert_eq!(
        users_listed(&b, "?q=agent%40mairie-exem"),
        ("Utilisateurs (1)".into(), vec![AGENT.to_string()])
    );
    for q in [
        "%22ag%22",
        "ag*%28%29",
        "a%22b%5E-c",
        "NOT+agent+OR",
        "%25%25%25",
        "___",
    ] {
        assert_eq!(
            users_listed(&b, &format!("?q={q}")),
            ("Utilisateurs (0)".into(), vec![]),
            "{q}"
        );
    }
    // A match never spans two fields: "agent" ends the last name, "agnès" follows on the
    // "last first" line, but the e-mail line does not run into the service line.
    assert_eq!(
        users_listed(&b, "?q=fr+ress"),
        ("Utilisateurs (0)".into(), vec![])
    );
    // An edit is searchable at once (the search text is rewritten with the row).
    let agent = t.user_id(AGENT);
    t.block_on(async {
        sqlx::query("UPDATE users SET search_text = NULL WHERE id = $1")
            .bind(agent)
            .execute(&t.gw.dir.pool)
            .await
            .unwrap();
        // What a start-up after migration 0004 does for rows that predate it.
        assert_eq!(t.gw.dir.backfill_search_text().await.unwrap(), 1);
    });
    assert_eq!(
        users_listed(&b, "?q=agnes"),
        ("Utilisateurs (1)".into(), vec![AGENT.to_string()])
    );
}

/// A gateway whose platform administrator sees more than 200 structures (201 services at the
/// root, beside the demo's): every structure choice becomes a typed search. Returns the
/// administrator's browser, signed in.
fn large_scope(t: &TestGateway) -> Browser<'_> {
    t.block_on(async {
        for i in 0..201 {
            let name = format!("service-{i:03}");
            t.gw.dir
                .create_structure(NewStructure {
                    parent_id: None,
                    short_name: &name,
                    long_name: "Service de test",
                    domains: &[],
                })
                .await
                .unwrap();
        }
    });
    login(t, ADMIN)
}

#[test]
fn structure_filter_becomes_a_search_field_for_large_scopes() {
    let t = TestGateway::start_deep();
    // The référent's scope (2 structures) keeps the select.
    let r = login(&t, REFERENT);
    let p = r.get_page("/aia/utilisateurs");
    assert!(p.has("select#structure"), "{p:?}");
    let a = large_scope(&t);
    let p = a.get_page("/aia/utilisateurs");
    assert!(
        !p.has("select#structure") && p.has("input[name=\"structure_q\"]"),
        "{p:?}"
    );
    // A name selects that structure and its subtree.
    let p = a.get_page("/aia/utilisateurs?structure_q=mairie-exem");
    assert_eq!(p.h1(), "Utilisateurs (3)", "{p:?}");
    assert!(listed_emails(&p).contains(&CCAS_AGENT.to_string()));
    assert!(
        p.texts("p.field-hint")
            .contains(&"Structures retenues (1) : Mairie d'Exemple.".to_string()),
        "{p:?}"
    );
    assert_eq!(
        users_listed(&a, "?structure_q=CCAS"),
        ("Utilisateurs (1)".into(), vec![CCAS_AGENT.to_string()])
    );
    // Nothing found, or too much: said, and no account listed.
    let p = a.get_page("/aia/utilisateurs?structure_q=zzz");
    assert_eq!(
        p.field_errors(),
        ["Aucune structure ne correspond à « zzz »."]
    );
    assert_eq!(p.h1(), "Utilisateurs (0)");
    let p = a.get_page("/aia/utilisateurs?structure_q=service-");
    assert!(
        p.field_errors()[0].starts_with("Plus de 50 structures"),
        "{p:?}"
    );
    assert_eq!(p.h1(), "Utilisateurs (0)");
    // A structure given by id (a link) is shown with a way to remove it.
    let p = a.get_page("/aia/utilisateurs?structure=3");
    assert_eq!(p.h1(), "Utilisateurs (1)");
    assert!(p.text().contains("retirer ce filtre"), "{p:?}");
    // The référent cannot reach another establishment by typing its name.
    assert_eq!(
        users_listed(&r, "?structure_q=cig"),
        ("Utilisateurs (0)".into(), vec![])
    );
}

#[test]
fn with_a_large_scope_an_account_s_structure_is_typed_by_name_or_path() {
    let t = TestGateway::start_deep();
    let a = large_scope(&t);
    // The account form: the structure is typed too, by name or by path.
    let p = a.get_page("/aia/utilisateurs/nouveau");
    assert!(
        !p.has("select#f-structure_id") && p.has("input#f-structure_id[name=\"structure_q\"]"),
        "{p:?}"
    );
    let tok = csrf(&a);
    let form = |email: &'static str, structure: &'static str| {
        let mut f = user_form(&tok, email, "");
        f.push(("structure_q", structure));
        f
    };
    // Several structures contain "service-": refused with examples, nothing created.
    let p = a.submit(
        "/aia/utilisateurs/nouveau",
        &form("x1@mairie-exemple.fr", "service-"),
    );
    assert_eq!(p.status, 422);
    assert!(
        p.field_error("structure_id")
            .is_some_and(|e| e.contains("Plusieurs structures correspondent")),
        "{p:?}"
    );
    let p = a.submit(
        "/aia/utilisateurs/nouveau",
        &form("x1@mairie-exemple.fr", "zzz"),
    );
    assert_eq!(p.status, 422);
    assert!(
        p.field_error("structure_id")
            .is_some_and(|e| e.contains("Aucune structure ne correspond")),
        "{p:?}"
    );
    assert!(t
        .block_on(t.gw.dir.user_id_by_email("x1@mairie-exemple.fr"))
        .unwrap()
        .is_none());
    // A unique name, then the full path as the edit form shows it.
    let (status, loc, _) = post(
        &a,
        "/aia/utilisateurs/nouveau",
        &form("x1@mairie-exemple.fr", "CCAS"),
    );
    assert_eq!(status, 303, "{loc}");
    let id = t.user_id("x1@mairie-exemple.fr");
    let rec = t.block_on(t.gw.dir.user_record(id)).unwrap().unwrap();
    assert_eq!(rec.structure_id, 3);
    let edit = a.get_page(&format!("/aia/utilisateurs/{id}/editer"));
    assert_eq!(
        edit.field_value("structure_q").as_deref(),
        Some("mairie-exemple / ccas"),
        "{edit:?}"
    );
    let (status, loc, _) = post(
        &a,
        &format!("/aia/utilisateurs/{id}/editer"),
        &form("x1@mairie-exemple.fr", "mairie-exemple"),
    );
    assert_eq!(status, 303, "{loc}");
    let rec = t.block_on(t.gw.dir.user_record(id)).unwrap().unwrap();
    assert_eq!(rec.structure_id, 2);
}

#[test]
fn with_a_large_scope_affecter_takes_a_typed_structure() {
    let t = TestGateway::start_deep();
    let a = large_scope(&t);
    // AFFECTER: "Pour le compte de" is typed too.
    let p = a.get_page("/aia/applications/bip/utilisateur/affecter?q=ccas");
    assert!(
        !p.has("select#structure") && p.has("input#structure[name=\"structure_q\"]"),
        "{p:?}"
    );
    let ccas = t.user_id(CCAS_AGENT).to_string();
    let grants = |sid: i64| {
        count(
            &t,
            "SELECT COUNT(*) FROM role_assignments WHERE structure_id = $1",
            sid,
        )
    };
    let before = grants(2);
    let tok = csrf(&a);
    let p = a.submit(
        "/aia/applications/bip/utilisateur/affecter",
        &[
            ("csrf", &tok),
            ("user_ids", &ccas),
            ("structure_q", "service-"),
        ],
    );
    assert_eq!(p.status, 422);
    assert!(p.shows_error("Plusieurs structures correspondent"), "{p:?}");
    assert_eq!(grants(2), before);
    let (status, loc, _) = post(
        &a,
        "/aia/applications/bip/utilisateur/affecter",
        &[
            ("csrf", &tok),
            ("user_ids", &ccas),
            ("structure_q", "mairie-exemple"),
        ],
    );
    assert_eq!(status, 303, "{loc}");
    assert_eq!(grants(2), before + 1);
}

#[test]
fn with_a_large_scope_a_structure_s_parent_is_typed() {
    let t = TestGateway::start_deep();
    let a = large_scope(&t);
    // The structure form: the platform administrator types the parent.
    let p = a.get_page("/aia/structures/nouvelle");
    assert!(
        !p.has("select#f-parent_id") && p.has("input[name=\"parent_q\"]"),
        "{p:?}"
    );
    let tok = csrf(&a);
    let p = a.submit(
        "/aia/structures/nouvelle",
        &[
            ("csrf", &tok),
            ("parent_q", "service-"),
            ("short_name", "annexe"),
        ],
    );
    assert_eq!(p.status, 422);
    assert!(p.shows_error("Plusieurs structures correspondent"), "{p:?}");
    let (status, loc, _) = post(
        &a,
        "/aia/structures/nouvelle",
        &[
            ("csrf", &tok),
            ("parent_q", "mairie-exemple / ccas"),
            ("short_name", "annexe"),
        ],
    );
    assert_eq!(status, 303, "{loc}");
    let annexe: i64 = loc
        .trim_start_matches("/aia/structures?id=")
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let info = t
        .block_on(t.gw.dir.structure_info(annexe))
        .unwrap()
        .unwrap();
    assert_eq!(info.parent_id, Some(3));
    // Its edit form shows the parent's path; sending it back unchanged keeps it.
    let edit = a.get_page(&format!("/aia/structures/{annexe}/editer"));
    assert_eq!(
        edit.field_value("parent_q").as_deref(),
        Some("mairie-exemple / ccas"),
        "{edit:?}"
    );
    let (status, loc, _) = post(
        &a,
        &format!("/aia/structures/{annexe}/editer"),
        &[
            ("csrf", &tok),
            ("parent_q", "mairie-exemple / ccas"),
            ("short_name", "annexe-2"),
        ],
    );
    assert_eq!(status, 303, "{loc}");
    let info = t
        .block_on(t.gw.dir.structure_info(annexe))
        .unwrap()
        .unwrap();
    assert_eq!(
        (info.parent_id, info.short_name.as_str()),
        (Some(3), "annexe-2")
    );
}

#[test]
fn a_typed_path_is_resolved_level_by_level_however_many_share_its_last_name() {
    let t = TestGateway::start_deep();
    let a = large_scope(&t);
    let tok = csrf(&a);
    let form = |email: &'static str, structure: &'static str| {
        let mut f = user_form(&tok, email, "");
        f.push(("structure_q", structure));
        f
    };
    let bureau_200 = t.block_on(async {
        let all = convergences::directory::access::Scope::All;
        let mut last = 0;
        for i in 0..201 {
            let name = format!("service-{i:03}");
            let parent = t.gw.dir.structures_by_label(&all, &[&name]).await.unwrap()[0].id;
            last =
                t.gw.dir
                    .create_structure(NewStructure {
                        parent_id: Some(parent),
                        short_name: "bureau",
                        long_name: "Bureau",
                        domains: &["bureau.fr"],
                    })
                    .await
                    .unwrap();
        }
        last
    });
    let (status, loc, _) = post(
        &a,
        "/aia/utilisateurs/nouveau",
        &form("x2@bureau.fr", "SERVICE-200 / Bureau"),
    );
    assert_eq!(status, 303, "{loc}");
    let id = t.user_id("x2@bureau.fr");
    let rec = t.block_on(t.gw.dir.user_record(id)).unwrap().unwrap();
    assert_eq!(rec.structure_id, bureau_200);
}

/// The per-(role, structure) counts kept by triggers, against a recount of the assignments.
fn role_counts_match(t: &TestGateway) {
    t.block_on(async {
        let pool = &t.gw.dir.pool;
        let kept: Vec<(i64, i64, i64)> = sqlx::query(
            "SELECT role_id, structure_id, members FROM role_member_counts WHERE members <> 0 \
             ORDER BY role_id, structure_id",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        let recount: Vec<(i64, i64, i64)> = sqlx::query(
            "SELECT ra.role_id, u.structure_id, COUNT(*) FROM role_assignments ra \
             JOIN users u ON u.id = ra.user_id GROUP BY ra.role_id, u.structure_id \
             ORDER BY ra.role_id, u.structure_id",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        assert_eq!(kept, recount);
        assert!(!kept.is_empty());
    });
}

#[test]
fn role_member_counts_follow_every_change_of_assignments_and_accounts() {
    let t = TestGateway::start();
    role_counts_match(&t);
    let dir = &t.gw.dir;
    let (agent, ccas_agent, referent) =
        (t.user_id(AGENT), t.user_id(CCAS_AGENT), t.user_id(REFERENT));
    let ccas = 3;
    t.block_on(async {
        dir.assign_role(ccas_agent, "bip", "utilisateur", ccas, None)
            .await
            .unwrap();
        // The same role on behalf of a second structure is a second line.
        dir.assign_role(agent, "bip", "utilisateur", ccas, None)
            .await
            .unwrap();
    });
    role_counts_match(&t);
    // The role page counts what it lists.
    let b = login(&t, REFERENT);
    let p = b.get_page("/aia/applications?app=bip&role=utilisateur");
    assert!(p.h2s().contains(&"Membres (3)".to_string()), "{p:?}");
    // The role's entry in the applications' tree, with its count.
    let current = p
        .texts("li:has(> a[aria-current=\"page\"])")
        .into_iter()
        .find(|li| li.starts_with("utilisateur"));
    assert_eq!(current.as_deref(), Some("utilisateur (3)"), "{p:?}");
    t.block_on(async {
        // The agent moves to the CCAS: their assignments count there now.
        let mut rec = dir.user_record(agent).await.unwrap().unwrap();
        rec.structure_id = ccas;
        let input = convergences::directory::admin_users::UserInput {
            email: rec.email.clone(),
            last_name: rec.last_name.clone(),
            first_name: rec.first_name.clone(),
            structure_id: ccas,
            ..Default::default()
        };
        assert!(dir.update_user_full(agent, &input).await.unwrap());
    });
    role_counts_match(&t);
    t.block_on(async {
        let to = dir.role_id("bip", "administrateur").await.unwrap().unwrap();
        let from = dir.role_id("bip", "utilisateur").await.unwrap().unwrap();
        let id: i64 = sqlx::query(
            "SELECT id FROM role_assignments WHERE user_id = $1 AND role_id = $2 LIMIT 1",
        )
        .bind(ccas_agent)
        .bind(from)
        .fetch_one(&dir.pool)
        .await
        .unwrap()
        .get(0);
        let a = dir.assignment(id).await.unwrap().unwrap();
        dir.move_assignment(&a, to, referent).await.unwrap();
        let moved: i64 =
            sqlx::query("SELECT id FROM role_assignments WHERE user_id = $1 AND role_id = $2")
                .bind(ccas_agent)
                .bind(to)
                .fetch_one(&dir.pool)
                .await
                .unwrap()
                .get(0);
        assert!(dir.delete_assignment(moved).await.unwrap());
    });
    role_counts_match(&t);
    t.block_on(async {
        // Deleting an account removes its assignments from the counts.
        dir.delete_user_gdpr(agent, AGENT, "utilisateur supprimé #1")
            .await
            .unwrap();
        dir.unassign_role(referent, "netcotisations", "administrateur")
            .await
            .unwrap();
    });
    role_counts_match(&t);
    let p = b.get_page("/aia/applications?app=bip&role=utilisateur");
    assert!(p.h2s().contains(&"Membres (0)".to_string()), "{p:?}");
}

#[test]
fn listings_are_the_same_whether_the_scope_is_resolved_to_ids_or_to_path_ranges() {
    use convergences::directory::access::Scope;
    use convergences::directory::admin_users::{Place, UserFilter};
    let t = TestGateway::start();
    let dir = &t.gw.dir;
    let mairie = Scope::Subtrees(vec!["/2/".into()]);
    let none = UserFilter::default();
    let before = t.block_on(async {
        assert!(matches!(dir.place(&mairie, &none).await.unwrap(), Place::Ids(ref ids) if ids.len() == 2));
        dir.list_users(&mairie, &none, 25, 0).await.unwrap()
    });
    assert_eq!(before.0, 3);
    // More structures than are listed by id: the same accounts through path ranges.
    t.block_on(async {
        for i in 0..1000 {
            let name = format!("bureau-{i:04}");
            dir.create_structure(NewStructure {
                parent_id: Some(2),
                short_name: &name,
                long_name: "Bureau",
                domains: &[],
            })
            .await
            .unwrap();
        }
        assert!(matches!(
            dir.place(&mairie, &none).await.unwrap(),
            Place::Paths(..)
        ));
        let after = dir.list_users(&mairie, &none, 25, 0).await.unwrap();
        let ids = |rows: &[convergences::directory::admin_users::UserRow]| {
            rows.iter().map(|r| r.id).collect::<Vec<_>>()
        };
        assert_eq!((after.0, ids(&after.1)), (before.0, ids(&before.1)));
        let role = dir.role_id("bip", "utilisateur").await.unwrap().unwrap();
        let (n, members) = dir.role_members(role, &mairie, "", 25, 0).await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(members[0].email, AGENT);
    });
}

/// Messages written to the outbox so far, as (recipient, text with quoted-printable undone).
pub fn outbox(t: &TestGateway) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(t.gw.config.data_dir.join("outbox")) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let data = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let to = data
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap_or_default()
                .to_string();
            let text = crate::smtp::Received {
                to: vec![to.clone()],
                data,
            }
            .text();
            (to, text)
        })
        .collect()
}

/// The edit form filled with what the account holds now, the e-mail replaced.
fn edit_form_of(t: &TestGateway, id: i64, csrf: &str, email: &str) -> Vec<(String, String)> {
    let u = t.block_on(t.gw.dir.user_record(id)).unwrap().unwrap();
    let mut f = vec![
        ("csrf", csrf.to_string()),
        ("last_name", u.last_name),
        ("first_name", u.first_name),
        ("email", email.to_string()),
        ("structure_id", u.structure_id.to_string()),
        ("job_title", u.job_title),
        ("service", u.service),
        ("postal_address", u.postal_address),
        ("phone", u.phone),
        ("app_identifier", u.app_identifier),
        ("valid_from", u.valid_from.unwrap_or_default()),
        ("valid_until", u.valid_until.unwrap_or_default()),
    ];
    if u.telework {
        f.push(("telework", "1".into()));
    }
    if u.locked {
        f.push(("locked", "1".into()));
    }
    f.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn post_owned(b: &Browser, path: &str, form: &[(String, String)]) -> (u16, String, String) {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    post(b, path, &pairs)
}

fn email_of(t: &TestGateway, id: i64) -> String {
    t.block_on(t.gw.dir.user_record(id)).unwrap().unwrap().email
}

#[test]
fn a_referent_cannot_take_over_an_account_whose_rights_it_could_not_grant_and_every_email_change_warns_the_old_address(
) {
    let t = TestGateway::start_empty();
    let w = t.world();
    let bd = w.boundary();
    let agent = bd.agent.id;
    let ccas_agent = bd.ccas_agent.id;
    let (mairie, ccas) = (bd.mairie.id, bd.ccas.id);
    let domain = &bd.mairie.domain;
    let r = w.login(&bd.referent);
    let tok = csrf(&r);
    let edit = |id: i64| format!("/aia/utilisateurs/{id}/editer");

    // The agent holds `utilisateur` of BIP, which the référent (administrateur of BIP) grants:
    // the change goes through, and the old address is told, by whom and to what.
    let renamed = &format!("agent.bis@{domain}");
    let (s, loc, html) = post_owned(&r, &edit(agent), &edit_form_of(&t, agent, &tok, renamed));
    assert_eq!(s, 303, "{html}");
    assert_eq!(loc, format!("/aia/utilisateurs/{agent}?ok=email-modifie"));
    assert_eq!(&email_of(&t, agent), renamed);
    let mails = outbox(&t);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (to, text) = &mails[0];
    assert_eq!(to, &bd.agent.email, "sent to the previous address");
    assert!(
        text.contains(&format!(
            "vient d'être modifiée par {} ({})",
            bd.referent.name(),
            bd.referent.email
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Nouvelle adresse : {renamed}")),
        "{text}"
    );
    assert!(text.contains("prévenez sans attendre"), "{text}");
    assert_eq!(audit_count(&t, "email_changed"), 1);

    // Once the agent is administrateur of BIP (which only platform administrators grant),
    // the référent may no longer change its e-mail: the takeover (new address, then a reset
    // link sent there) is refused on the form, in French, and nothing changes.
    t.block_on(
        t.gw.dir
            .assign_role(agent, "bip", "administrateur", mairie, None),
    )
    .unwrap();
    let pirate = &format!("pirate@{domain}");
    let (s, _, html) = post_owned(&r, &edit(agent), &edit_form_of(&t, agent, &tok, pirate));
    assert_eq!(s, 422, "{html}");
    let refused = Page::from_body(s, html);
    assert!(
        refused
            .field_error("email")
            .is_some_and(|e| e.contains("Seul un administrateur de la plateforme peut modifier")),
        "{refused:?}"
    );
    assert_eq!(refused.error_summary_fields(), ["email"]);
    assert_eq!(&email_of(&t, agent), renamed);
    assert_eq!(t.user_id(renamed), agent);
    assert_eq!(audit_count(&t, "email_change_refused"), 1);
    // Other fields of that account stay editable by the référent (e-mail unchanged).
    let mut same = edit_form_of(&t, agent, &tok, renamed);
    same.retain(|(k, _)| k != "service");
    same.push(("service".into(), "Paie".into()));
    assert_eq!(post_owned(&r, &edit(agent), &same).0, 303);

    // The same for a référent (designated by platform administrators only), and for a role
    // held on behalf of a structure outside the référent's subtree.
    t.block_on(t.gw.dir.add_referent(ccas_agent, ccas)).unwrap();
    let (s, _, html) = post_owned(
        &r,
        &edit(ccas_agent),
        &edit_form_of(&t, ccas_agent, &tok, &format!("autre.ccas@{domain}")),
    );
    assert_eq!(s, 422, "référent: {html}");
    assert_eq!(email_of(&t, ccas_agent), bd.ccas_agent.email);
    let nina = w.agent_named(&bd.mairie, "nina", "Nina", "Nouvelle");
    w.grant(&nina, "bip", "utilisateur", &bd.other_mairie);
    let (s, _, html) = post_owned(
        &r,
        &edit(nina.id),
        &edit_form_of(&t, nina.id, &tok, &format!("nina.bis@{domain}")),
    );
    assert_eq!(s, 422, "role for another structure: {html}");
    assert_eq!(email_of(&t, nina.id), nina.email);
    assert_eq!(audit_count(&t, "email_change_refused"), 3);
    assert_eq!(outbox(&t).len(), 1, "no message for refused changes");
}

#[test]
fn a_platform_administrator_changes_an_administrateur_s_email_and_the_old_address_is_told() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    let mairie = t.structure_id("mairie-exemple");
    t.block_on(
        t.gw.dir
            .assign_role(agent, "bip", "administrateur", mairie, None),
    )
    .unwrap();
    let renamed = AGENT;
    let edit = |id: i64| format!("/aia/utilisateurs/{id}/editer");
    // The platform administrator may, and the previous address is told as well.
    let a = login(&t, ADMIN);
    let atok = csrf(&a);
    let fixed = "agent.ter@mairie-exemple.fr";
    let (s, _, html) = post_owned(&a, &edit(agent), &edit_form_of(&t, agent, &atok, fixed));
    assert_eq!(s, 303, "{html}");
    assert_eq!(email_of(&t, agent), fixed);
    let mails = outbox(&t);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (_, text) = mails
        .iter()
        .find(|(to, _)| to == renamed)
        .expect("a message to the previous address");
    assert!(
        text.contains(&format!("Nouvelle adresse : {fixed}")),
        "{text}"
    );
    assert!(text.contains("Camille Administratrice"), "{text}");
    assert_eq!(audit_count(&t, "email_changed"), 1);
    let journal = a.get_page("/aia/journal?action=email_changed");
    let lines = journal.table_rows("Événements, du plus récent au plus ancien");
    assert_eq!(lines.len(), 1, "{journal:?}");
    assert_eq!(lines[0][2], "Changement d'adresse e-mail");
    assert!(
        lines[0][6].contains(&format!("ancienne adresse : {renamed}")),
        "{:?}",
        lines[0]
    );
}
