//! What the user guides promise, as each actor meets it: help and contacts on every page,
//! structures by their name, the photo menu, photos on the account form, "Réaffecter", the
//! structure tree's depth, and the dead ends of the directory's forms. Every new action is also
//! tried across a structure boundary with forged ids.

use crate::harness::{
    csrf_of, multipart, png_bytes, Browser, Options, Page, TestGateway, PASSWORD,
};

pub(crate) const AGENT: &str = "agent@mairie-exemple.fr";
pub(crate) const CCAS_AGENT: &str = "agent.ccas@mairie-exemple.fr";
pub(crate) const REFERENT: &str = "referent@mairie-exemple.fr";
pub(crate) const ADMIN: &str = "admin@cig-exemple.fr";

pub(crate) const SUPPORT: &str = r#"
[support]
applications_email = "assistance@cig.test"
correspondent_email = "correspondant@cig.test"
correspondent_label = "Correspondant CIG"
dpo_email = "dpo@cig.test"
guide_url = "https://cig.test/guide"
"#;

/// An application with its own support address, on the host `down.test` (never proxied to:
/// nobody holds a role on it).
const OWN_SUPPORT_APP: &str = r#"
[[apps]]
slug = "elecpro"
name = "Elecpro"
host = "down.test"
upstreams = ["127.0.0.1:9"]
support_email = "elecpro@cig.test"
"#;

pub(crate) fn with_support() -> TestGateway {
    TestGateway::start_with(Options {
        extra_config: SUPPORT.into(),
        extra_apps: OWN_SUPPORT_APP.into(),
        ..Default::default()
    })
}

pub(crate) fn login<'a>(t: &'a TestGateway, email: &str) -> Browser<'a> {
    t.signed_in(email)
}

pub(crate) fn page(b: &Browser, path: &str) -> (u16, String) {
    let (r, _) = b.visit(&b.t.url("auth.test", path));
    (r.status().as_u16(), r.text().expect("body"))
}

/// The help box of [`SUPPORT`]: every contact with its address, as a link, and the guide.
#[track_caller]
fn assert_help(page: &Page, what: &str) {
    let (title, entries) = page.help();
    assert_eq!(
        title.as_deref(),
        Some("Aide et contacts"),
        "{what}: {page:?}"
    );
    assert!(
        entries.contains(&"Correspondant CIG : correspondant@cig.test".to_string()),
        "{what}: {entries:?}"
    );
    let links = page.attrs(".help-list a", "href");
    for address in [
        "correspondant@cig.test",
        "dpo@cig.test",
        "assistance@cig.test",
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e.ends_with(&format!(" : {address}"))),
            "{what}: {address} missing from {entries:?}"
        );
        assert!(
            links.contains(&format!("mailto:{address}")),
            "{what}: {address} is no link: {links:?}"
        );
    }
    assert_eq!(
        page.link("Guide utilisateur").as_deref(),
        Some("https://cig.test/guide"),
        "{what}"
    );
}

#[test]
fn help_and_contacts_are_on_every_page_where_people_get_stuck() {
    let t = with_support();
    let anon = t.browser();
    let p = anon.open("/login");
    assert_eq!(p.status, 200);
    assert_help(&p, "login");
    let p = anon.open("/premiere-visite");
    assert_eq!(p.status, 200);
    assert_help(&p, "first visit");
    // A 404 of the portal (an error built without the request's state).
    let p = anon.open("/nulle-part");
    p.assert_error(404);
    assert_help(&p, "portal 404");
    // A locked account: the login page says so, with the contacts.
    let locked = t.user_id(CCAS_AGENT);
    t.block_on(t.gw.dir.set_locked(locked, true)).unwrap();
    let b = t.browser();
    let csrf = b.open("/login").csrf();
    let p = b.submit(
        "/login",
        &[
            ("csrf", csrf.as_str()),
            ("email", CCAS_AGENT),
            ("password", PASSWORD),
            ("return_to", ""),
        ],
    );
    let message = p.text_at("#login-error").unwrap_or_default();
    assert!(message.contains("verrouill"), "{p:?}");
    assert_help(&p, "locked account");

    let b = login(&t, AGENT);
    let p = b.open("/");
    assert_eq!(p.status, 200);
    assert_help(&p, "portal");
    // Each tile names where to ask: the application's own support, else the common one; the
    // directory's tile, the correspondent.
    let tile_help = p.attrs(".tile-help a", "href");
    for address in ["correspondant@cig.test", "assistance@cig.test"] {
        assert!(
            tile_help.contains(&format!("mailto:{address}")),
            "{address}: {tile_help:?}"
        );
    }
    assert!(
        p.texts(".tile-help")
            .iter()
            .all(|h| h.starts_with("Aide : ")),
        "{p:?}"
    );
    // A directory page, and its 403 and 404.
    assert_help(&b.open("/aia/profil"), "profile");
    let p = b.open("/aia/structures");
    p.assert_error(403);
    assert_help(&p, "directory 403");
    assert!(p.text().contains("Besoin d'aide ?"), "{p:?}");
    let p = b.open("/aia/utilisateurs/999999");
    p.assert_error(404);
    assert_help(&p, "directory 404");
    // The proxy's 403 for an application the agent holds no role on: its own support first.
    let p = b.open_url(&t.url("down.test", "/"));
    p.assert_error(403);
    let support = p
        .texts(".narrow p")
        .into_iter()
        .find(|l| l.starts_with("Pour une question sur cette application"));
    assert_eq!(
        support.as_deref(),
        Some("Pour une question sur cette application : elecpro@cig.test (Assistance Elecpro)."),
        "{p:?}"
    );
    assert!(p.mailtos().contains(&"elecpro@cig.test".to_string()));
    assert_eq!(
        p.help().1.first().map(String::as_str),
        Some("Assistance Elecpro : elecpro@cig.test"),
        "its own support first: {p:?}"
    );
    assert_help(&p, "application 403");
    // Without its own address, the common one (the pre-rendered page).
    let p = b.open_url(&t.url("nc.test", "/"));
    p.assert_error(403);
    assert!(!p.body.contains("elecpro@cig.test"), "{p:?}");
    assert_help(&p, "pre-rendered 403");
}

#[test]
fn without_a_support_section_nothing_half_empty_is_shown() {
    let t = TestGateway::start();
    let anon = t.browser();
    for path in ["/login", "/nulle-part"] {
        let p = anon.open(path);
        assert_eq!(p.help(), (None, vec![]), "{path}: {p:?}");
        assert!(!p.body.contains("Aide et contacts"), "{path}: {p:?}");
        assert!(p.mailtos().is_empty(), "{path}: {p:?}");
        assert!(!p.body.contains("mailto:"), "{path}: {p:?}");
    }
    let b = login(&t, AGENT);
    let p = b.open("/");
    assert!(p.texts(".tile-help").is_empty(), "{p:?}");
    assert!(!p.body.contains("Aide :"), "{p:?}");
    let p = b.open_url(&t.url("nc.test", "/"));
    p.assert_error(403);
    assert!(!p.body.contains("mailto:"), "{p:?}");
}

#[test]
fn structures_are_shown_by_their_name_not_their_short_code() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let mairie = "Mairie d'Exemple";
    let ccas = "CCAS d'Exemple";
    // The users list, its structure filter (select) and the creation form's select.
    let p = r.open("/aia/utilisateurs");
    let rows = p.table_rows("Détails de la liste des utilisateurs");
    assert!(rows.iter().any(|row| row[3] == ccas), "{rows:?}");
    let filter: Vec<String> = p.options("structure").into_iter().map(|o| o.1).collect();
    assert!(filter.contains(&format!("{ccas} ({mairie})")), "{filter:?}");
    let p = r.open("/aia/utilisateurs/nouveau");
    let choices: Vec<String> = p
        .options("f-structure_id")
        .into_iter()
        .map(|o| o.1)
        .collect();
    assert!(choices.contains(&mairie.to_string()), "{choices:?}");
    // The tree and the heading of the selected structure; the short code stays as data.
    let ccas_id = t.structure_id("ccas");
    let p = r.open(&format!("/aia/structures?id={ccas_id}"));
    assert_eq!(p.text_at("#s-title").as_deref(), Some(ccas), "{p:?}");
    assert_eq!(p.texts(".tree a[aria-current=\"page\"]"), [ccas], "{p:?}");
    assert_eq!(p.definition("Nom de la structure").as_deref(), Some("ccas"));
    // Search results: flat, each by its name with its path beside it (the Mairie is not
    // indented under its CCAS).
    let p = r.open("/aia/structures?q=exemple");
    let results = p.texts("ul.results > li");
    assert!(
        results.contains(&format!("{mairie} mairie-exemple")),
        "{results:?}"
    );
    assert_eq!(p.texts("ul.results > li > a").len(), results.len());
    assert!(!p.has("ul.results ul"), "{p:?}");
    // A card, the role members, the profile of the agent.
    let agent = t.user_id(AGENT);
    let p = r.open(&format!("/aia/utilisateurs/{agent}"));
    assert_eq!(
        p.definition("Structure d'appartenance").as_deref(),
        Some(mairie)
    );
    let grants = p.table_rows("Rôles par application");
    assert!(grants.iter().any(|g| g[2] == mairie), "grants: {grants:?}");
    let p = r.open("/aia/applications?app=bip&role=utilisateur");
    let members = p.table_rows("Détails de la liste des membres");
    assert!(
        members.iter().any(|m| m[4] == mairie && m[5] == mairie),
        "{members:?}"
    );
    let a = login(&t, AGENT);
    let p = a.open("/aia/profil");
    assert_eq!(
        p.definition("Structure d'appartenance").as_deref(),
        Some(mairie),
        "{p:?}"
    );
    assert!(!p.body.contains("mairie-exemple / "), "profile: {p:?}");
}

/// The CSRF token of the page at `path`.
pub(crate) fn token(b: &Browser, path: &str) -> String {
    csrf_of(&page(b, path).1)
}

/// Sends `fields` (and a photo) as the account form does: multipart.
pub(crate) fn send_form(
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    photo: Option<&[u8]>,
) -> (u16, String, String) {
    let (ct, body) = multipart(fields, photo);
    let r = b
        .client
        .post(b.t.url("auth.test", path))
        .header("content-type", ct)
        .body(body)
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

fn account<'a>(
    csrf: &'a str,
    email: &'a str,
    structure: &'a str,
    service: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("last_name", "Photo"),
        ("first_name", "Paula"),
        ("email", email),
        ("structure_id", structure),
        ("service", service),
    ]
}

fn has_photo(t: &TestGateway, id: i64) -> bool {
    t.block_on(t.gw.dir.photo(id)).unwrap().is_some()
}

#[test]
fn a_photo_is_added_with_the_account_and_shown_in_the_header_menu() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let mairie = t.structure_id("mairie-exemple").to_string();
    // "Ajouter une photo" is a field of AJOUTER.
    let p = r.open("/aia/utilisateurs/nouveau");
    assert!(p.has("form[enctype=\"multipart/form-data\"]"), "{p:?}");
    assert_eq!(
        p.text_at("label[for=\"f-photo\"]").as_deref(),
        Some("Ajouter une photo"),
        "{p:?}"
    );
    let tok = token(&r, "/aia/utilisateurs/nouveau");
    let png = png_bytes(30, 20);
    let (s, loc, _) = send_form(
        &r,
        "/aia/utilisateurs/nouveau",
        &account(&tok, "paula@mairie-exemple.fr", &mairie, "RH"),
        Some(&png),
    );
    assert_eq!(s, 303);
    let id = t.user_id("paula@mairie-exemple.fr");
    assert_eq!(loc, format!("/aia/utilisateurs/{id}?ok=cree"));
    assert!(has_photo(&t, id));
    // Without a file (an empty file input), no photo.
    let (s, _, _) = send_form(
        &r,
        "/aia/utilisateurs/nouveau",
        &account(&tok, "sans.photo@mairie-exemple.fr", &mairie, "RH"),
        None,
    );
    assert_eq!(s, 303);
    assert!(!has_photo(&t, t.user_id("sans.photo@mairie-exemple.fr")));
    // A refused photo refuses the form: nothing created, what was typed kept, the error in the
    // summary at the top, naming the field.
    let p = r.submit_multipart(
        "/aia/utilisateurs/nouveau",
        &account(&tok, "refus@mairie-exemple.fr", &mairie, "Paie"),
        Some(b"not an image"),
    );
    assert_eq!(p.status, 422);
    let summary = p.error_summary();
    assert!(
        summary.len() == 1
            && summary[0].starts_with("Photo : Le fichier n'est pas une image valide."),
        "{summary:?}"
    );
    assert_eq!(p.error_summary_fields(), ["photo"]);
    assert_eq!(p.field_value("service").as_deref(), Some("Paie"), "{p:?}");
    assert!(t
        .block_on(t.gw.dir.user_id_by_email("refus@mairie-exemple.fr"))
        .unwrap()
        .is_none());
    // The summary names each field instead of repeating one message.
    let p = r.submit_multipart("/aia/utilisateurs/nouveau", &[("csrf", &tok)], None);
    assert_eq!(p.status, 422);
    let summary = p.error_summary();
    for f in [
        "Nom : Ce champ est obligatoire.",
        "Prénom : Ce champ est obligatoire.",
        "Adresse e-mail : Ce champ est obligatoire.",
    ] {
        assert!(summary.contains(&f.to_string()), "{f}: {summary:?}");
    }

    // The agent's header: initials, a menu with Profil and Déconnexion.
    let agent = t.user_id(AGENT);
    let a = login(&t, AGENT);
    let p = a.open("/");
    assert!(p.has("details.user-menu"), "{p:?}");
    assert_eq!(
        p.text_at("details.user-menu .avatar-initials").as_deref(),
        Some("AA"),
        "{p:?}"
    );
    assert_eq!(
        p.texts("details.user-menu li a"),
        ["Profil", "Déconnexion"],
        "{p:?}"
    );
    // ÉDITER: the photo with another change, in one submission; nothing typed is lost.
    let edit = format!("/aia/utilisateurs/{agent}/editer");
    let tok = token(&r, &edit);
    let mut fields = account(&tok, AGENT, &mairie, "Service modifié");
    fields.retain(|(k, _)| !matches!(*k, "last_name" | "first_name"));
    fields.extend([("last_name", "Agent"), ("first_name", "Agnès")]);
    let (s, _, _) = send_form(&r, &edit, &fields, Some(&png));
    assert_eq!(s, 303);
    assert!(has_photo(&t, agent));
    let rec = t.block_on(t.gw.dir.user_record(agent)).unwrap().unwrap();
    assert_eq!(rec.service, "Service modifié");
    // ... and the agent's header shows it at once, at a new address each time it changes.
    let p = a.open("/");
    let src = p.attrs("details.user-menu img.avatar-small", "src");
    let marker = format!("/aia/photo/{agent}?v=");
    assert!(
        src.len() == 1 && src[0].starts_with(&marker),
        "{src:?}: {p:?}"
    );
    let (r2, _) = a.visit(&t.url("auth.test", &format!("/aia/photo/{agent}")));
    assert_eq!(r2.status(), 200);
}

#[test]
fn the_account_form_with_a_photo_is_refused_across_a_structure_boundary() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let agent = x.agent.id;
    let o = w.login(&x.intruder);
    let tok = token(&o, "/aia/utilisateurs/nouveau");
    let png = png_bytes(10, 10);
    // Another mairie's référent edits our agent: 404, nothing stored.
    let edit = format!("/aia/utilisateurs/{agent}/editer");
    let other = x.other_mairie.id.to_string();
    let fields = account(&tok, &x.agent.email, &other, "Pirate");
    o.submit_multipart(&edit, &fields, Some(&png))
        .assert_error(404);
    assert!(!has_photo(&t, agent));
    assert_ne!(
        t.block_on(t.gw.dir.user_record(agent))
            .unwrap()
            .unwrap()
            .service,
        "Pirate"
    );
    // ... or creates an account in our mairie (a forged structure id): refused, nothing created.
    let mairie = x.mairie.id.to_string();
    let intruder = format!("intrus@{}", x.mairie.domain);
    let p = o.submit_multipart(
        "/aia/utilisateurs/nouveau",
        &account(&tok, &intruder, &mairie, "RH"),
        Some(&png),
    );
    assert_ne!(p.status, 303, "{p:?}");
    assert!(p.field_error("structure_id").is_some(), "{p:?}");
    assert!(t
        .block_on(t.gw.dir.user_id_by_email(&intruder))
        .unwrap()
        .is_none());
    // An agent may not create accounts at all.
    let a = w.login(&x.agent);
    let atok = token(&a, "/aia/profil");
    let x_email = format!("x@{}", x.mairie.domain);
    a.submit_multipart(
        "/aia/utilisateurs/nouveau",
        &account(&atok, &x_email, &mairie, "RH"),
        Some(&png),
    )
    .assert_error(403);
    // A multipart form without its token, or with a NUL byte in a field, changes nothing.
    let r = w.login(&x.referent);
    let p = r.submit_multipart(
        &edit,
        &account("", &x.agent.email, &mairie, "Sans jeton"),
        Some(&png),
    );
    p.assert_error(400);
    let rtok = token(&r, &edit);
    let p = r.submit_multipart(
        &edit,
        &account(&rtok, &x.agent.email, &mairie, "nul\u{0}"),
        Some(&png),
    );
    assert_eq!(p.status, 400, "{p:?}");
    assert!(!has_photo(&t, agent));
    // Anonymous: to the login form, nothing stored.
    let anon = t.browser();
    let p = anon.submit_multipart(
        &edit,
        &account(&rtok, &x.agent.email, &mairie, "Anonyme"),
        Some(&png),
    );
    assert_eq!(p.status, 303);
    assert!(p.location.starts_with("/login"), "{p:?}");
    assert!(!has_photo(&t, agent));
}

/// The assignment ids that have a checkbox on a role's members page.
fn member_ids(html: &str) -> Vec<String> {
    html.split("name=\"ids\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

pub(crate) fn post(b: &Browser, path: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    let r = b
        .client
        .post(b.t.url("auth.test", path))
        .form(pairs)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// Where the agent's BIP role is held, as structure ids.
fn bip_structures(t: &TestGateway, user: i64) -> Vec<i64> {
    let ident = t.block_on(t.gw.dir.identity(user)).unwrap().unwrap();
    ident
        .grants
        .iter()
        .filter(|g| g.app_slug == "bip")
        .map(|g| g.structure_id)
        .collect()
}

#[test]
fn reaffecter_moves_members_to_another_structure_of_the_referents_scope() {
    let t = TestGateway::start();
    let agent = t.user_id(AGENT);
    let dir = &t.gw.dir;
    let mairie = t
        .block_on(dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap()
        .id;
    let ccas = t
        .block_on(dir.structure_by_name("ccas"))
        .unwrap()
        .unwrap()
        .id;
    let r = login(&t, REFERENT);
    let members = "/aia/applications?app=bip&role=utilisateur";
    let p = r.open(members);
    assert_eq!(p.status, 200);
    // A référent may not grant `administrateur`: Réaffecter offers the same role on behalf of
    // another structure of their scope.
    assert_eq!(
        p.texts("legend"),
        ["Réaffecter les membres sélectionnés"],
        "{p:?}"
    );
    assert_eq!(
        p.options("to_role"),
        [(
            "utilisateur".to_string(),
            "utilisateur (inchangé)".to_string()
        )],
        "{p:?}"
    );
    assert!(
        p.options("to_structure")
            .iter()
            .any(|(v, _)| *v == ccas.to_string()),
        "{p:?}"
    );
    let ids = member_ids(&p.body);
    assert_eq!(ids.len(), 1);
    let tok = p.csrf();
    let action = "/aia/applications/bip/utilisateur/membres";
    // Nothing ticked: the page again, with its header, its role and the reason; no bare 400.
    for act in ["desaffecter", "reaffecter"] {
        let p = r.submit(
            action,
            &[
                ("csrf", &tok),
                ("action", act),
                ("to_role", "utilisateur"),
                ("to_structure", &ccas.to_string()),
            ],
        );
        assert_eq!(p.status, 422, "{act}");
        assert!(
            p.alerts()
                .iter()
                .any(|a| a.contains("Sélectionnez au moins un membre")),
            "{p:?}"
        );
        assert!(
            p.text_at(".user-name")
                .is_some_and(|n| n.starts_with("Connecté en tant que")),
            "{p:?}"
        );
        assert_eq!(p.text_at("#role-title").as_deref(), Some("utilisateur"));
    }
    // A move that changes nothing is refused the same way, and loses nothing.
    let p = r.submit(
        action,
        &[
            ("csrf", &tok),
            ("action", "reaffecter"),
            ("to_role", "utilisateur"),
            ("to_structure", ""),
            ("ids", &ids[0]),
        ],
    );
    assert_eq!(p.status, 422);
    assert!(
        p.alerts().iter().any(|a| a.contains("ne change rien")),
        "{p:?}"
    );
    assert_eq!(bip_structures(&t, agent), vec![mairie]);
    // The move: the agent now holds BIP on behalf of the CCAS.
    let (s, _) = post(
        &r,
        action,
        &[
            ("csrf", &tok),
            ("action", "reaffecter"),
            ("to_role", "utilisateur"),
            ("to_structure", &ccas.to_string()),
            ("ids", &ids[0]),
        ],
    );
    assert_eq!(s, 303);
    assert_eq!(bip_structures(&t, agent), vec![ccas]);

    // The `administrateur` role: no checkboxes, no Désaffecter, and the reason.
    let p = r.open("/aia/applications?app=bip&role=administrateur");
    assert!(member_ids(&p.body).is_empty(), "{p:?}");
    assert!(
        !p.body.contains("Désaffecter les membres sélectionnés"),
        "{p:?}"
    );
    assert!(
        p.text_at(".alert-info")
            .is_some_and(|why| why.contains("est attribué et retiré par le correspondant CIG")),
        "{p:?}"
    );
}

#[test]
fn reaffecter_is_refused_across_a_structure_boundary() {
    let t = TestGateway::start_empty();
    let w = t.world();
    let x = w.boundary();
    let agent = x.agent.id;
    let mairie = x.mairie.id;
    let other_mairie = x.other_mairie.id.to_string();
    let r = w.login(&x.referent);
    let (_, html) = page(&r, "/aia/applications?app=bip&role=utilisateur");
    let id = member_ids(&html).remove(0);
    let action = "/aia/applications/bip/utilisateur/membres";
    // Our référent moving our agent on behalf of another mairie (a forged structure id): 404.
    let tok = csrf_of(&html);
    let reaffecter = |b: &Browser, csrf: &str, role: &str, to: &str| {
        b.submit(
            action,
            &[
                ("csrf", csrf),
                ("action", "reaffecter"),
                ("to_role", role),
                ("to_structure", to),
                ("ids", &id),
            ],
        )
    };
    reaffecter(&r, &tok, "utilisateur", &other_mairie).assert_error(404);
    // ... or to `administrateur`, which only platform administrators grant: 403.
    let p = r.submit(
        action,
        &[
            ("csrf", &tok),
            ("action", "reaffecter"),
            ("to_role", "administrateur"),
            ("ids", &id),
        ],
    );
    p.assert_error(403);
    // The other mairie's référent (administrateur of BIP too) with our agent's assignment id.
    let o = w.login(&x.intruder);
    let otok = token(&o, "/aia/utilisateurs/nouveau");
    reaffecter(&o, &otok, "utilisateur", &other_mairie).assert_error(404);
    o.submit(
        action,
        &[("csrf", &otok), ("action", "desaffecter"), ("ids", &id)],
    )
    .assert_error(404);
    // An agent, and a forged token.
    let a = w.login(&x.agent);
    let atok = token(&a, "/aia/profil");
    reaffecter(&a, &atok, "utilisateur", &mairie.to_string()).assert_error(404);
    r.submit(
        action,
        &[("csrf", "forged"), ("action", "desaffecter"), ("ids", &id)],
    )
    .assert_error(400);
    assert_eq!(bip_structures(&t, agent), vec![mairie], "nothing changed");
}

#[test]
fn the_structure_tree_is_two_levels_deep_by_default_and_deeper_trees_stay_valid() {
    let t = TestGateway::start();
    let dir = &t.gw.dir;
    let ccas = t.block_on(dir.structure_by_name("ccas")).unwrap().unwrap();
    let mairie = t
        .block_on(dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap();
    let r = login(&t, REFERENT);
    // Below the CCAS (level 2): refused, with the reason, nothing created; not even offered.
    let p = r.open(&format!("/aia/structures?id={}", ccas.id));
    assert!(!p.has_link("Ajouter une sous-structure"), "{p:?}");
    assert!(!p.body.contains("Ajouter une sous-structure"), "{p:?}");
    let p = r.open(&format!("/aia/structures?id={}", mairie.id));
    assert!(p.has_link("Ajouter une sous-structure"), "{p:?}");
    let tok = token(&r, "/aia/utilisateurs/nouveau");
    let cid = ccas.id.to_string();
    let p = r.submit(
        "/aia/structures/nouvelle",
        &[
            ("csrf", &tok),
            ("parent_id", &cid),
            ("short_name", "trop-profond"),
        ],
    );
    assert_eq!(p.status, 422);
    assert_eq!(p.error_summary_fields(), ["parent_id"], "{p:?}");
    assert!(
        p.error_summary()[0].contains("limitée à 2 niveau(x)"),
        "{p:?}"
    );
    assert!(t
        .block_on(dir.structure_by_name("trop-profond"))
        .unwrap()
        .is_none());
    // Below the Mairie (level 2): accepted.
    let mid = mairie.id.to_string();
    let (s, _) = post(
        &r,
        "/aia/structures/nouvelle",
        &[
            ("csrf", &tok),
            ("parent_id", &mid),
            ("short_name", "crèche"),
        ],
    );
    assert_eq!(s, 303);
    // A platform administrator moving the Mairie (with its CCAS) under another principal
    // establishment: its CCAS would be at level 3, refused.
    let a = login(&t, ADMIN);
    let cig = t
        .block_on(dir.structure_by_name("cig-exemple"))
        .unwrap()
        .unwrap();
    // The parent select offers no structure at the last level (the CCAS).
    let offered = |p: &crate::page::Page| -> Vec<String> {
        p.options("f-parent_id")
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    };
    let parents = offered(&a.open("/aia/structures/nouvelle"));
    for ok in [&mairie.id, &cig.id] {
        assert!(parents.contains(&ok.to_string()), "{parents:?}");
    }
    assert!(!parents.contains(&ccas.id.to_string()), "{parents:?}");
    let atok = token(&a, "/aia/utilisateurs/nouveau");
    let edit = format!("/aia/structures/{}/editer", mairie.id);
    let cig_id = cig.id.to_string();
    let (s, html) = post(
        &a,
        &edit,
        &[
            ("csrf", &atok),
            ("parent_id", &cig_id),
            ("short_name", "mairie-exemple"),
            ("long_name", "Mairie d'Exemple"),
            ("domains", "mairie-exemple.fr"),
        ],
    );
    assert_eq!(s, 422, "{html}");
    let after = t
        .block_on(dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap();
    assert_eq!(after.parent_id, None);
    // A tree made deeper before the limit stays valid and is listed for the operator.
    let deep = t
        .block_on(
            dir.create_structure(convergences::directory::structures::NewStructure {
                parent_id: Some(ccas.id),
                short_name: "service-ancien",
                long_name: "",
                domains: &[],
            }),
        )
        .unwrap();
    let (total, labels) = t.block_on(dir.structures_deeper_than(2, 20)).unwrap();
    assert_eq!(total, 1);
    assert_eq!(labels, vec!["mairie-exemple / ccas / service-ancien"]);
    let (s, _) = page(&r, &format!("/aia/structures?id={deep}"));
    assert_eq!(s, 200);
    // Its edit form keeps its parent, the CCAS, offered and chosen: saving moves nothing.
    let p = a.open(&format!("/aia/structures/{deep}/editer"));
    assert!(offered(&p).contains(&ccas.id.to_string()), "{p:?}");
    assert_eq!(p.field_value("parent_id"), Some(ccas.id.to_string()));
}
