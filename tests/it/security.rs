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
