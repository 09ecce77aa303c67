//! Snapshots (insta) of what people read and download, kept in tests/it/snapshots/: the French
//! error pages, a directory form shown again with its errors, and every CSV export of the
//! directory. A change of wording or markup shows as a diff to review.
//!
//! A missing or different snapshot fails the test (insta's default: it writes the new one
//! beside it as `.snap.new`, and in CI, where `CI` is set, writes nothing). To review and
//! accept changes: `cargo insta review` (cargo-insta), or run the tests once with
//! `INSTA_UPDATE=always` and read the diff of tests/it/snapshots/ before committing it.
//!
//! What changes from one run to the next is replaced before comparing ([`redacted`]): CSRF
//! tokens, ports, request ids, dates and times, database ids.

use crate::harness::{Page, TestGateway, PASSWORD};
use crate::world::Boundary;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The filters that blank what differs between runs.
fn redacted() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    for (pattern, replacement) in [
        (r#"(name="csrf"[^>]*value=")[^"]*""#, r#"$1[csrf]""#),
        (r"(127\.0\.0\.1|localhost|\.test):\d+", "$1:[port]"),
        (r"<code>[^<]{8,}</code>", "<code>[request-id]</code>"),
        (r"\d{4}-\d{2}-\d{2}", "[date]"),
        (r"\d{2}/\d{2}/\d{4}", "[date]"),
        (r"\b\d{1,2}(:|h)\d{2}(:\d{2})?\b", "[time]"),
        (r"\?v=\d+", "?v=[version]"),
        (r"/aia/(utilisateurs|photo|structures)/\d+", "/aia/$1/[id]"),
        (r"([?&]id=|[?&]parent=)\d+", "$1[id]"),
        (r#"(value|id)="(a-)?\d+""#, r#"$1="$2[id]""#),
    ] {
        s.add_filter(pattern, replacement);
    }
    s
}

/// A page as a reviewer reads it: its status, its title and the markup of its `<main>`.
fn shown(p: &Page) -> String {
    format!("{} · {}\n\n{}\n", p.status, p.title(), p.main_html())
}

/// An export as text: without its byte order mark, one line per row.
fn csv_text(bytes: &[u8]) -> String {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "BOM");
    String::from_utf8(bytes[3..].to_vec())
        .expect("UTF-8")
        .replace("\r\n", "\n")
}

fn download(b: &crate::harness::Browser, path: &str) -> Vec<u8> {
    let r = b
        .client
        .get(b.t.url("auth.test", path))
        .send()
        .expect("export");
    assert_eq!(r.status(), 200, "{path}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{path}"
    );
    r.bytes().expect("body").to_vec()
}

fn gateway() -> (TestGateway, Boundary) {
    let t = TestGateway::start_empty();
    let x = t.world().boundary();
    (t, x)
}

#[test]
fn the_french_error_pages() {
    let (t, x) = gateway();
    let w = t.world();
    let anon = t.browser();
    let settings = redacted();
    settings.bind(|| {
        // The portal's 404.
        let p = anon.open("/nulle-part");
        p.assert_error(404);
        assert!(
            p.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{p:?}"
        );
        insta::assert_snapshot!("error_404_portal", shown(&p));
        // An expired (or unknown) link of a first visit or a password reset.
        let p = anon.open("/mot-de-passe/x");
        assert_eq!(p.status, 410);
        insta::assert_snapshot!("error_410_expired_link", shown(&p));
        // The directory's 403 for an agent.
        let agent = w.login(&x.agent);
        let p = agent.open("/aia/structures");
        p.assert_error(403);
        insta::assert_snapshot!("error_403_directory", shown(&p));
        // The proxy's 403 for an application the agent holds no role on (pre-rendered).
        let p = agent.open_url(&t.url("nc.test", "/"));
        p.assert_error(403);
        insta::assert_snapshot!("error_403_application", shown(&p));
        // A form sent without its CSRF token.
        let p = agent.submit("/aia/profil/photo/supprimer", &[]);
        p.assert_error(400);
        insta::assert_snapshot!("error_400_expired_form", shown(&p));
    });
    // A locked account at the login form.
    t.block_on(t.gw.dir.set_locked(x.ccas_agent.id, true))
        .unwrap();
    let b = t.browser();
    let csrf = b.open("/login").csrf();
    let p = b.submit(
        "/login",
        &[
            ("csrf", csrf.as_str()),
            ("email", x.ccas_agent.email.as_str()),
            ("password", PASSWORD),
            ("return_to", ""),
        ],
    );
    settings.bind(|| insta::assert_snapshot!("login_locked_account", shown(&p)));
}

/// The proxy's own 400, for a request it cannot parse: the body after the headers.
#[test]
fn the_proxy_s_400_page() {
    let t = TestGateway::start_empty();
    let mut s = TcpStream::connect(("127.0.0.1", t.port)).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: bip.test\r\nNo colon here\r\n\r\n")
        .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let (_, body) = answer.split_once("\r\n\r\n").expect("headers, then a body");
    let p = Page::from_body(400, body.to_string());
    p.assert_error(400);
    redacted().bind(|| insta::assert_snapshot!("error_400_proxy", shown(&p)));
}

#[test]
fn the_account_form_shown_again_with_its_errors() {
    let (t, x) = gateway();
    let r = t.world().login(&x.referent);
    let csrf = r.open("/aia/utilisateurs/nouveau").csrf();
    let mairie = x.mairie.id.to_string();
    let p = r.submit_multipart(
        "/aia/utilisateurs/nouveau",
        &[
            ("csrf", &csrf),
            ("last_name", " "),
            ("first_name", "Nina"),
            ("email", "nina@ailleurs.fr"),
            ("structure_id", &mairie),
            ("phone", "12 34"),
            ("valid_from", "2026-13-45"),
            ("valid_until", "2025-01-01"),
            ("service", "Finances"),
        ],
        None,
    );
    assert_eq!(p.status, 422);
    assert_eq!(
        p.error_summary_fields(),
        ["last_name", "email", "phone", "valid_from"],
        "{p:?}"
    );
    redacted().bind(|| insta::assert_snapshot!("form_user_with_errors", shown(&p)));
}

#[test]
fn every_csv_export_of_the_directory() {
    let (t, x) = gateway();
    let w = t.world();
    let r = w.login(&x.referent);
    // A validity date, and a name a spreadsheet would run as a formula (neutralised).
    t.block_on(t.gw.dir.set_validity(x.agent.id, None, Some("2030-06-30")))
        .unwrap();
    w.agent_named(&x.mairie, "formule", "Fanny", "=SOMME(A1:A9)");
    let settings = redacted();
    settings.bind(|| {
        insta::assert_snapshot!(
            "export_users",
            csv_text(&download(&r, "/aia/utilisateurs/export.csv"))
        );
        insta::assert_snapshot!(
            "export_users_filtered",
            csv_text(&download(&r, "/aia/utilisateurs/export.csv?q=ccas"))
        );
        insta::assert_snapshot!(
            "export_structure_members",
            csv_text(&download(
                &r,
                &format!("/aia/structures/{}/export.csv", x.ccas.id)
            ))
        );
        insta::assert_snapshot!(
            "export_role_members",
            csv_text(&download(
                &r,
                "/aia/applications/bip/utilisateur/export.csv"
            ))
        );
        insta::assert_snapshot!(
            "export_journal",
            csv_text(&download(&r, "/aia/journal/export.csv"))
        );
    });
}
