//! Hardening from the security review: what the portal refuses and how (French pages, never a
//! 500), which endpoints need a secret, and what the data folder lets other local users read.

use crate::harness::TestGateway;

#[test]
fn metrics_is_not_served_without_a_configured_token() {
    let t = TestGateway::start();
    let c = t.client(false);
    for auth in [None, Some("Bearer "), Some("Bearer anything")] {
        let mut req = c.get(t.url("auth.test", "/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 404, "{auth:?}");
        let body = r.text().unwrap();
        assert!(body.contains("Page introuvable"), "{body}");
        assert!(!body.contains("convergences_"), "{body}");
    }
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn set_mode(p: &std::path::Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn on_sqlite() -> bool {
    std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty())
}

/// Sends a reset link (a message in the outbox) and returns the outbox's .eml files.
fn mail_something(t: &TestGateway) -> Vec<std::path::PathBuf> {
    let id = t.user_id("agent@mairie-exemple.fr");
    t.block_on(convergences::lifecycle::send_password_link(
        &t.gw,
        id,
        convergences::directory::tokens::Purpose::Reset,
    ))
    .expect("reset link sent");
    std::fs::read_dir(t.gw.config.data_dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect()
}

/// Checks that the data folder, the database, the secrets and the outbox are the owner's only.
fn assert_private(t: &TestGateway) {
    let data = t.gw.config.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "data folder");
    if on_sqlite() {
        let db = data.join("test.db");
        assert_eq!(mode(&db), 0o600, "database");
        // WAL mode: SQLite gives its journal files the database's mode.
        for suffix in ["-wal", "-shm"] {
            let p = data.join(format!("test.db{suffix}"));
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
    assert_eq!(mode(&data.join("secret.key")), 0o600, "CSRF secret");
    assert_eq!(
        mode(&t.gw.config.assertion_key_file),
        0o600,
        "assertion key"
    );
    let outbox = data.join("outbox");
    let mails = mail_something(t);
    assert!(!mails.is_empty());
    assert_eq!(mode(&outbox), 0o700, "outbox");
    for m in mails {
        assert_eq!(mode(&m), 0o600, "{}", m.display());
    }
}

#[test]
fn a_fresh_data_folder_is_readable_by_its_owner_only() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let t = TestGateway::start_with(crate::harness::Options {
        data_dir: Some(data.clone()),
        ..Default::default()
    });
    assert_private(&t);
}

#[test]
fn an_existing_data_folder_readable_by_others_is_tightened_at_start() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let outbox = data.join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    // As an older version (or a careless copy) left them: world-readable.
    std::fs::write(data.join("test.db"), b"").unwrap();
    std::fs::write(
        data.join("secret.key"),
        b"0123456789abcdef0123456789abcdef-old-secret",
    )
    .unwrap();
    convergences::proxy::assertion::Signer::load_or_generate(
        &data.join("assertion-key.pem"),
        "i".into(),
        60,
    )
    .unwrap();
    std::fs::write(outbox.join("old.eml"), b"Subject: lien\r\n\r\nhttp://x/").unwrap();
    for (p, m) in [
        (data.clone(), 0o755),
        (outbox.clone(), 0o755),
        (data.join("test.db"), 0o644),
        (data.join("secret.key"), 0o644),
        (data.join("assertion-key.pem"), 0o644),
        (outbox.join("old.eml"), 0o644),
    ] {
        set_mode(&p, m);
    }
    let t = TestGateway::start_with(crate::harness::Options {
        data_dir: Some(data.clone()),
        ..Default::default()
    });
    assert_eq!(mode(&outbox.join("old.eml")), 0o600, "old outbox message");
    assert_private(&t);
}

const REFERENT: &str = "referent@mairie-exemple.fr";
const AGENT: &str = "agent@mairie-exemple.fr";

fn login<'a>(t: &'a TestGateway, email: &str) -> crate::harness::Browser<'a> {
    let b = t.browser();
    assert_eq!(
        b.login(email, crate::harness::PASSWORD).0,
        303,
        "login {email}"
    );
    b
}

fn csrf(b: &crate::harness::Browser) -> String {
    let r = b
        .client
        .get(b.t.url("auth.test", "/aia/profil"))
        .send()
        .unwrap();
    crate::harness::csrf_of(&r.text().unwrap())
}

/// Status, content type and body.
fn answer(r: reqwest::blocking::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    (status, ct, r.text().unwrap_or_default())
}

/// The French error page with this status.
fn assert_french_page(got: &(u16, String, String), status: u16, what: &str) {
    let (s, ct, html) = got;
    assert_eq!(*s, status, "{what}: {html}");
    assert!(ct.starts_with("text/html"), "{what}: {ct}");
    assert!(html.contains("<html lang=\"fr\""), "{what}: {html}");
    assert!(html.contains(&format!("Erreur {status}")), "{what}: {html}");
    // Not axum's English text.
    assert!(
        !html.contains("Failed to") && !html.contains("Expected request"),
        "{what}: {html}"
    );
}

fn assert_nul_refused(got: (u16, String, String), what: &str) {
    assert_french_page(&got, 400, what);
    assert!(got.2.contains("caractère nul"), "{what}: {}", got.2);
}

#[test]
fn a_nul_byte_in_a_query_string_path_or_form_is_a_french_400_on_every_back_end() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let get = |path: &str| {
        answer(
            r.client
                .get(t.url("auth.test", path))
                .header("accept", "text/html")
                .send()
                .unwrap(),
        )
    };
    // Search, structure search, filters and the export (which streamed a 502 on PostgreSQL).
    for path in [
        "/aia/utilisateurs?q=ag%00ent",
        "/aia/utilisateurs?q=%00%00%00",
        "/aia/utilisateurs?structure_q=mairie%00",
        "/aia/utilisateurs?app=bip%00",
        "/aia/utilisateurs/export.csv?q=ag%00ent",
        "/aia/applications?q=ag%00ent",
        "/aia/journal?action=login%00",
        "/aia/applications/bip%00/utilisateur/affecter",
        "/login?return_to=%2Faia%00",
    ] {
        assert_nul_refused(get(path), path);
    }
    // Other control characters are harmless: searched (and found) like any text, never a 500.
    let (s, _, html) = get("/aia/utilisateurs?q=ag%01ent%0A");
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Utilisateurs ("), "{html}");
    let (s, _, _) = get("/aia/utilisateurs/export.csv?q=%0Dagent");
    assert_eq!(s, 200);

    // Forms: an edit with a NUL in a field changes nothing.
    let agent = t.user_id(AGENT);
    let before = t.block_on(t.gw.dir.user_record(agent)).unwrap().unwrap();
    let token = csrf(&r);
    let edit = format!("/aia/utilisateurs/{agent}/editer");
    let form = |last_name: &str| {
        vec![
            ("csrf".to_string(), token.clone()),
            ("last_name".to_string(), last_name.to_string()),
            ("first_name".to_string(), before.first_name.clone()),
            ("email".to_string(), before.email.clone()),
            ("structure_id".to_string(), before.structure_id.to_string()),
        ]
    };
    let got = answer(
        r.client
            .post(t.url("auth.test", &edit))
            .form(&form("Agent\0Nul"))
            .send()
            .unwrap(),
    );
    assert_nul_refused(got, "edit form, %00");
    // The same with a raw NUL byte in the body.
    let raw = format!(
        "csrf={}&last_name=Agent\0Nul&first_name=A&email={}&structure_id={}",
        token, before.email, before.structure_id
    );
    let got = answer(
        r.client
            .post(t.url("auth.test", &edit))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(raw)
            .send()
            .unwrap(),
    );
    assert_nul_refused(got, "edit form, raw NUL");
    let after = t.block_on(t.gw.dir.user_record(agent)).unwrap().unwrap();
    assert_eq!(after.last_name, before.last_name);
    // The login and self-service forms, anonymous.
    let c = t.client(true);
    for (path, field) in [
        ("/login", "email"),
        ("/mot-de-passe-oublie", "email"),
        ("/premiere-visite", "email"),
    ] {
        let got = answer(
            c.post(t.url("auth.test", path))
                .form(&[(field, "agent@mairie-exemple.fr\0"), ("password", "x")])
                .send()
                .unwrap(),
        );
        assert_nul_refused(got, path);
    }
    // The edit still works without the NUL.
    let (s, _, html) = answer(
        r.client
            .post(t.url("auth.test", &edit))
            .form(&form("Agent"))
            .send()
            .unwrap(),
    );
    assert_eq!(s, 303, "{html}");
}

#[test]
fn rejected_requests_get_the_french_page_with_their_status() {
    let t = TestGateway::start();
    let r = login(&t, REFERENT);
    let c = t.client(true);
    // 413: a form over the 2 MiB limit, on the login form and on a directory form.
    let big = format!("csrf=x&email={}", "a".repeat(2 * 1024 * 1024 + 10));
    for (client, path) in [(&c, "/login"), (&r.client, "/aia/utilisateurs/nouveau")] {
        let got = answer(
            client
                .post(t.url("auth.test", path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big.clone())
                .send()
                .unwrap(),
        );
        assert_french_page(&got, 413, path);
        assert!(got.2.contains("Envoi trop volumineux"), "{}", got.2);
    }
    // 415: not a form.
    for (client, path) in [
        (&c, "/login"),
        (&c, "/mot-de-passe-oublie"),
        (&r.client, "/aia/utilisateurs/nouveau"),
    ] {
        for ct in [
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
        ] {
            let got = answer(
                client
                    .post(t.url("auth.test", path))
                    .header("content-type", ct)
                    .body("email=a@b.fr")
                    .send()
                    .unwrap(),
            );
            if path == "/aia/utilisateurs/nouveau" && ct.starts_with("multipart/") {
                // The account form takes multipart (its photo field): a body without its
                // fields is a form without its token, refused without change.
                assert_french_page(&got, 400, &format!("{path} {ct}"));
                continue;
            }
            assert_french_page(&got, 415, &format!("{path} {ct}"));
            assert!(got.2.contains("format attendu"), "{}", got.2);
        }
    }
    // 405: a method the page does not take (the Allow header is kept).
    let r405 = c.put(t.url("auth.test", "/login")).send().unwrap();
    assert!(r405.headers().contains_key("allow"));
    let got = answer(r405);
    assert_french_page(&got, 405, "PUT /login");
}
