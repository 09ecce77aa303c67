//! What the user guides promise, as each actor meets it: help and contacts on every page,
//! structures by their name, the photo menu, photos on the account form, "Réaffecter", the
//! structure tree's depth, and the dead ends of the directory's forms. Every new action is also
//! tried across a structure boundary with forged ids.

use crate::harness::{
    add_other_mairie, csrf_of, multipart, png_bytes, Browser, Options, TestGateway, OTHER_REFERENT,
    PASSWORD,
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
    let b = t.browser();
    assert_eq!(b.login(email, PASSWORD).0, 303, "login {email}");
    b
}

pub(crate) fn page(b: &Browser, path: &str) -> (u16, String) {
    let (r, _) = b.visit(&b.t.url("auth.test", path));
    (r.status().as_u16(), r.text().expect("body"))
}

fn assert_help(html: &str, what: &str) {
    for expected in [
        "Aide et contacts",
        "href=\"mailto:correspondant@cig.test\"",
        "Correspondant CIG",
        "href=\"mailto:dpo@cig.test\"",
        "href=\"mailto:assistance@cig.test\"",
        "href=\"https://cig.test/guide\"",
        "Guide utilisateur",
    ] {
        assert!(
            html.contains(expected),
            "{what}: {expected} missing\n{html}"
        );
    }
}

#[test]
fn help_and_contacts_are_on_every_page_where_people_get_stuck() {
    let t = with_support();
    let anon = t.browser();
    let (s, html) = page(&anon, "/login");
    assert_eq!(s, 200);
    assert_help(&html, "login");
    let (s, html) = page(&anon, "/premiere-visite");
    assert_eq!(s, 200);
    assert_help(&html, "first visit");
    // A 404 of the portal (an error built without the request's state).
    let (s, html) = page(&anon, "/nulle-part");
    assert_eq!(s, 404);
    assert_help(&html, "portal 404");
    // A locked account: the login page says so, with the contacts.
    let locked = t.user_id(CCAS_AGENT);
    t.block_on(t.gw.dir.set_locked(locked, true)).unwrap();
    let b = t.browser();
    let (_, html) = page(&b, "/login");
    let r = b
        .client
        .post(t.url("auth.test", "/login"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", CCAS_AGENT),
            ("password", PASSWORD),
            ("return_to", ""),
        ])
        .send()
        .unwrap();
    let html = r.text().unwrap();
    assert!(html.contains("verrouill"), "{html}");
    assert_help(&html, "locked account");

    let b = login(&t, AGENT);
    let (s, html) = page(&b, "/");
    assert_eq!(s, 200);
    assert_help(&html, "portal");
    // Each tile names where to ask: the application's own support, else the common one; the
    // directory's tile, the correspondent.
    assert!(
        html.contains("Aide : <a href=\"mailto:correspondant@cig.test\">"),
        "{html}"
    );
    assert!(
        html.contains("Aide : <a href=\"mailto:assistance@cig.test\">"),
        "{html}"
    );
    // A directory page, and its 403 and 404.
    let (_, html) = page(&b, "/aia/profil");
    assert_help(&html, "profile");
    let (s, html) = page(&b, "/aia/structures");
    assert_eq!(s, 403);
    assert_help(&html, "directory 403");
    assert!(html.contains("Besoin d'aide ?"), "{html}");
    let (s, html) = page(&b, "/aia/utilisateurs/999999");
    assert_eq!(s, 404);
    assert_help(&html, "directory 404");
    // The proxy's 403 for an application the agent holds no role on: its own support first.
    let (r, _) = b.visit(&t.url("down.test", "/"));
    assert_eq!(r.status(), 403);
    let html = r.text().unwrap();
    assert!(
        html.contains(
            "Pour une question sur cette application : <a href=\"mailto:elecpro@cig.test\">"
        ),
        "{html}"
    );
    assert!(html.contains("Assistance Elecpro"), "{html}");
    assert_help(&html, "application 403");
    // Without its own address, the common one (the pre-rendered page).
    let (r, _) = b.visit(&t.url("nc.test", "/"));
    assert_eq!(r.status(), 403);
    let html = r.text().unwrap();
    assert!(!html.contains("elecpro@cig.test"), "{html}");
    assert_help(&html, "pre-rendered 403");
}

#[test]
fn without_a_support_section_nothing_half_empty_is_shown() {
    let t = TestGateway::start();
    let anon = t.browser();
    for path in ["/login", "/nulle-part"] {
        let (_, html) = page(&anon, path);
        assert!(!html.contains("Aide et contacts"), "{path}: {html}");
        assert!(!html.contains("mailto:"), "{path}: {html}");
    }
    let b = login(&t, AGENT);
    let (_, html) = page(&b, "/");
    assert!(!html.contains("Aide :"), "{html}");
    let (r, _) = b.visit(&t.url("nc.test", "/"));
    assert_eq!(r.status(), 403);
    assert!(!r.text().unwrap().contains("mailto:"));
}

/// `'` as the pages escape it.
pub(crate) fn html_text(s: &str) -> String {
    s.replace('\'', "&#39;")
}

#[test]
fn structures_are_shown_by_their_name_not_their_short_code() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let mairie = html_text("Mairie d'Exemple");
    let ccas = html_text("CCAS d'Exemple");
    // The users list, its structure filter (select) and the creation form's select.
    let (_, html) = page(&r, "/aia/utilisateurs");
    assert!(html.contains(&format!("<td>{ccas}</td>")), "{html}");
    assert!(
        html.contains(&format!(">{ccas} ({mairie})</option>")),
        "{html}"
    );
    let (_, html) = page(&r, "/aia/utilisateurs/nouveau");
    assert!(html.contains(&format!(">{mairie}</option>")), "{html}");
    // The tree and the heading of the selected structure; the short code stays as data.
    let ccas_id = t
        .block_on(t.gw.dir.structure_by_name("ccas"))
        .unwrap()
        .unwrap()
        .id;
    let (_, html) = page(&r, &format!("/aia/structures?id={ccas_id}"));
    assert!(
        html.contains(&format!("<h2 id=\"s-title\">{ccas}</h2>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("aria-current=\"page\">{ccas}</a>")),
        "{html}"
    );
    // Search results: flat, each by its name with its path beside it (the Mairie is not
    // indented under its CCAS).
    let (_, html) = page(&r, "/aia/structures?q=exemple");
    let results = &html[html.find("Résultats").unwrap()..];
    let results = &results[..results.find("</ul>").unwrap()];
    assert!(
        results.contains(&format!(
            ">{mairie}</a> <span class=\"muted small\">mairie-exemple</span>"
        )),
        "{results}"
    );
    assert!(!results.contains("<ul><li"), "{results}");
    // A card, the role members, the profile of the agent.
    let agent = t.user_id(AGENT);
    let (_, html) = page(&r, &format!("/aia/utilisateurs/{agent}"));
    assert!(html.contains(&format!("<dd>{mairie}</dd>")), "{html}");
    assert!(
        html.contains(&format!("<td>{mairie}</td>")),
        "grants: {html}"
    );
    let (_, html) = page(&r, "/aia/applications?app=bip&role=utilisateur");
    assert!(
        html.contains(&format!("<td>{mairie}</td><td>{mairie}</td>")),
        "{html}"
    );
    let a = login(&t, AGENT);
    let (_, html) = page(&a, "/aia/profil");
    assert!(html.contains(&format!("<dd>{mairie}</dd>")), "{html}");
    assert!(!html.contains("mairie-exemple / "), "profile: {html}");
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
    let mairie = t
        .block_on(t.gw.dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap()
        .id
        .to_string();
    // "Ajouter une photo" is a field of AJOUTER.
    let (_, html) = page(&r, "/aia/utilisateurs/nouveau");
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    assert!(
        html.contains("<label for=\"f-photo\">Ajouter une photo</label>"),
        "{html}"
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
    let (s, _, html) = send_form(
        &r,
        "/aia/utilisateurs/nouveau",
        &account(&tok, "refus@mairie-exemple.fr", &mairie, "Paie"),
        Some(b"not an image"),
    );
    assert_eq!(s, 422);
    assert!(
        html.contains("<a href=\"#f-photo\">Photo : Le fichier n&#39;est pas une image valide."),
        "{html}"
    );
    assert!(html.contains("value=\"Paie\""), "{html}");
    assert!(t
        .block_on(t.gw.dir.user_id_by_email("refus@mairie-exemple.fr"))
        .unwrap()
        .is_none());
    // The summary names each field instead of repeating one message.
    let (s, _, html) = send_form(&r, "/aia/utilisateurs/nouveau", &[("csrf", &tok)], None);
    assert_eq!(s, 422);
    for f in [
        "Nom : Ce champ est obligatoire.",
        "Prénom : Ce champ est obligatoire.",
        "Adresse e-mail : Ce champ est obligatoire.",
    ] {
        assert!(html.contains(f), "{f}: {html}");
    }

    // The agent's header: initials, a menu with Profil and Déconnexion.
    let agent = t.user_id(AGENT);
    let a = login(&t, AGENT);
    let (_, html) = page(&a, "/");
    assert!(html.contains("<details class=\"user-menu\">"), "{html}");
    assert!(
        html.contains("avatar-initials\" aria-hidden=\"true\">AA</span>"),
        "{html}"
    );
    assert!(
        html.contains(">Profil</a>") && html.contains(">Déconnexion</a>"),
        "{html}"
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
    let (_, html) = page(&a, "/");
    let marker = format!("<img class=\"avatar avatar-small\" src=\"/aia/photo/{agent}?v=");
    assert!(html.contains(&marker), "{html}");
    let (r2, _) = a.visit(&t.url("auth.test", &format!("/aia/photo/{agent}")));
    assert_eq!(r2.status(), 200);
}

#[test]
fn the_account_form_with_a_photo_is_refused_across_a_structure_boundary() {
    let t = TestGateway::start();
    let (other_mairie, _) = add_other_mairie(&t);
    let agent = t.user_id(AGENT);
    let o = login(&t, OTHER_REFERENT);
    let tok = token(&o, "/aia/utilisateurs/nouveau");
    let png = png_bytes(10, 10);
    // Another mairie's référent edits our agent: 404, nothing stored.
    let edit = format!("/aia/utilisateurs/{agent}/editer");
    let other = other_mairie.to_string();
    let fields = account(&tok, AGENT, &other, "Pirate");
    let (s, _, _) = send_form(&o, &edit, &fields, Some(&png));
    assert_eq!(s, 404);
    assert!(!has_photo(&t, agent));
    assert_ne!(
        t.block_on(t.gw.dir.user_record(agent))
            .unwrap()
            .unwrap()
            .service,
        "Pirate"
    );
    // ... or creates an account in our mairie (a forged structure id): refused, nothing created.
    let mairie = t
        .block_on(t.gw.dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let (s, _, _) = send_form(
        &o,
        "/aia/utilisateurs/nouveau",
        &account(&tok, "intrus@mairie-exemple.fr", &mairie, "RH"),
        Some(&png),
    );
    assert_ne!(s, 303);
    assert!(t
        .block_on(t.gw.dir.user_id_by_email("intrus@mairie-exemple.fr"))
        .unwrap()
        .is_none());
    // An agent may not create accounts at all.
    let a = login(&t, AGENT);
    let atok = token(&a, "/aia/profil");
    let (s, _, _) = send_form(
        &a,
        "/aia/utilisateurs/nouveau",
        &account(&atok, "x@mairie-exemple.fr", &mairie, "RH"),
        Some(&png),
    );
    assert_eq!(s, 403);
    // A multipart form without its token, or with a NUL byte in a field, changes nothing.
    let r = login(&t, REFERENT);
    let (s, _, html) = send_form(
        &r,
        &edit,
        &account("", AGENT, &mairie, "Sans jeton"),
        Some(&png),
    );
    assert_eq!(s, 400, "{html}");
    let rtok = token(&r, &edit);
    let (s, _, _) = send_form(
        &r,
        &edit,
        &account(&rtok, AGENT, &mairie, "nul\u{0}"),
        Some(&png),
    );
    assert_eq!(s, 400);
    assert!(!has_photo(&t, agent));
    // Anonymous: to the login form, nothing stored.
    let anon = t.browser();
    let (s, loc, _) = send_form(
        &anon,
        &edit,
        &account(&rtok, AGENT, &mairie, "Anonyme"),
        Some(&png),
    );
    assert_eq!(s, 303);
    assert!(loc.starts_with("/login"), "{loc}");
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
    let (s, html) = page(&r, members);
    assert_eq!(s, 200);
    // A référent may not grant `administrateur`: Réaffecter offers the same role on behalf of
    // another structure of their scope.
    assert!(
        html.contains("<legend>Réaffecter les membres sélectionnés</legend>"),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"utilisateur\">utilisateur (inchangé)</option>"),
        "{html}"
    );
    assert!(
        !html.contains("<option value=\"administrateur\">"),
        "{html}"
    );
    assert!(
        html.contains(&format!("<option value=\"{ccas}\">")),
        "{html}"
    );
    let ids = member_ids(&html);
    assert_eq!(ids.len(), 1);
    let tok = csrf_of(&html);
    let action = "/aia/applications/bip/utilisateur/membres";
    // Nothing ticked: the page again, with its header, its role and the reason; no bare 400.
    for act in ["desaffecter", "reaffecter"] {
        let (s, html) = post(
            &r,
            action,
            &[
                ("csrf", &tok),
                ("action", act),
                ("to_role", "utilisateur"),
                ("to_structure", &ccas.to_string()),
            ],
        );
        assert_eq!(s, 422, "{act}");
        assert!(html.contains("Sélectionnez au moins un membre"), "{html}");
        assert!(html.contains("Connecté en tant que"), "{html}");
        assert!(html.contains("id=\"role-title\">utilisateur<"), "{html}");
    }
    // A move that changes nothing is refused the same way, and loses nothing.
    let (s, html) = post(
        &r,
        action,
        &[
            ("csrf", &tok),
            ("action", "reaffecter"),
            ("to_role", "utilisateur"),
            ("to_structure", ""),
            ("ids", &ids[0]),
        ],
    );
    assert_eq!(s, 422);
    assert!(html.contains("ne change rien"), "{html}");
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
    let (_, html) = page(&r, "/aia/applications?app=bip&role=administrateur");
    assert!(member_ids(&html).is_empty(), "{html}");
    assert!(
        !html.contains("Désaffecter les membres sélectionnés"),
        "{html}"
    );
    assert!(
        html.contains("est attribué et retiré par le correspondant CIG"),
        "{html}"
    );
}

#[test]
fn reaffecter_is_refused_across_a_structure_boundary() {
    let t = TestGateway::start();
    let (other_mairie, _) = add_other_mairie(&t);
    let agent = t.user_id(AGENT);
    let mairie = t
        .block_on(t.gw.dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap()
        .id;
    let r = login(&t, REFERENT);
    let (_, html) = page(&r, "/aia/applications?app=bip&role=utilisateur");
    let id = member_ids(&html).remove(0);
    let action = "/aia/applications/bip/utilisateur/membres";
    // Our référent moving our agent on behalf of another mairie (a forged structure id): 404.
    let tok = csrf_of(&html);
    let (s, _) = post(
        &r,
        action,
        &[
            ("csrf", &tok),
            ("action", "reaffecter"),
            ("to_role", "utilisateur"),
            ("to_structure", &other_mairie.to_string()),
            ("ids", &id),
        ],
    );
    assert_eq!(s, 404);
    // ... or to `administrateur`, which only platform administrators grant: 403.
    let (s, _) = post(
        &r,
        action,
        &[
            ("csrf", &tok),
            ("action", "reaffecter"),
            ("to_role", "administrateur"),
            ("ids", &id),
        ],
    );
    assert_eq!(s, 403);
    // The other mairie's référent (administrateur of BIP too) with our agent's assignment id.
    let o = login(&t, OTHER_REFERENT);
    let otok = token(&o, "/aia/utilisateurs/nouveau");
    let (s, _) = post(
        &o,
        action,
        &[
            ("csrf", &otok),
            ("action", "reaffecter"),
            ("to_role", "utilisateur"),
            ("to_structure", &other_mairie.to_string()),
            ("ids", &id),
        ],
    );
    assert_eq!(s, 404);
    let (s, _) = post(
        &o,
        action,
        &[("csrf", &otok), ("action", "desaffecter"), ("ids", &id)],
    );
    assert_eq!(s, 404);
    // An agent, and a forged token.
    let a = login(&t, AGENT);
    let atok = token(&a, "/aia/profil");
    let (s, _) = post(
        &a,
        action,
        &[
            ("csrf", &atok),
            ("action", "reaffecter"),
            ("to_role", "utilisateur"),
            ("to_structure", &mairie.to_string()),
            ("ids", &id),
        ],
    );
    assert_eq!(s, 404);
    let (s, _) = post(
        &r,
        action,
        &[("csrf", "forged"), ("action", "desaffecter"), ("ids", &id)],
    );
    assert_eq!(s, 400);
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
    let (_, html) = page(&r, &format!("/aia/structures?id={}", ccas.id));
    assert!(!html.contains("Ajouter une sous-structure"), "{html}");
    let (_, html) = page(&r, &format!("/aia/structures?id={}", mairie.id));
    assert!(html.contains("Ajouter une sous-structure"), "{html}");
    let tok = token(&r, "/aia/utilisateurs/nouveau");
    let cid = ccas.id.to_string();
    let (s, html) = post(
        &r,
        "/aia/structures/nouvelle",
        &[
            ("csrf", &tok),
            ("parent_id", &cid),
            ("short_name", "trop-profond"),
        ],
    );
    assert_eq!(s, 422);
    assert!(html.contains("limitée à 2 niveau(x)"), "{html}");
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
}
