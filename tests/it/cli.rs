//! The `convergences` binary: configuration errors and the admin command, as an operator sees them.

use crate::harness::{csrf_of, TestGateway};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_convergences"))
}

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conv.toml");
    std::fs::write(&path, text).unwrap();
    let out = bin()
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE"),
    )
}

#[test]
fn bad_config_files_produce_the_documented_errors() {
    let (code, _, err) = check("[server]\nlisten = \"127.0.0.1:8080\"\nportal_hots = \"x\"\n");
    assert_eq!(code, 2);
    assert!(
        err.starts_with(
            "error: FILE: key `server.portal_hots`: unknown field `portal_hots`, expected one of"
        ),
        "{err}"
    );
    let (code, _, err) = check("[server]\nthreads = \"two\"\n");
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "error: FILE: key `server.threads`: invalid type: string \"two\", expected usize"
    );
    let (code, _, err) = check("[server\n");
    assert_eq!(code, 2);
    assert!(err.starts_with("error: FILE: invalid TOML"), "{err}");
    let (code, _, err) =
        check("[[apps]]\nslug = \"bip\"\nname = \"BIP\"\nupstreams = [\"nowhere\"]\n");
    assert_eq!(code, 2);
    assert!(
        err.contains("key `apps[0].host`: an application needs a host, a path_prefix, or both"),
        "{err}"
    );
    assert!(
        err.contains("key `apps[0].upstreams[0]`: \"nowhere\" is not a reachable"),
        "{err}"
    );
    let out = bin()
        .args(["check-config", "--config", "/nonexistent/conv.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("/nonexistent/conv.toml: cannot read the configuration file"));
    let out = bin()
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/convergences.toml"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (2 application(s)"));
}

#[test]
fn admin_creates_a_platform_administrator_whose_link_sets_the_password() {
    let t = TestGateway::start();
    // The CLI works on the gateway's own database while it runs.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("conv.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\nportal_host = \"auth.test\"\ndata_dir = \"{}\"\n[database]\nurl = \"{}\"\n",
            t.port,
            dir.path().display(),
            t.gw.config.database_url
        ),
    )
    .unwrap();
    let out = bin()
        .args([
            "admin",
            "create-platform-admin",
            "--email",
            "Nouvelle.Admin@CIG-exemple.fr",
            "--first-name",
            "Nina",
            "--last-name",
            "Nouvelle",
            "--structure",
            "cig-exemple",
        ])
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("http://auth.test:{}", t.port))
        })
        .expect("a link")
        .to_string();
    assert!(link.starts_with("/mot-de-passe/"));
    // Same e-mail twice: refused with a clear message.
    let again = bin()
        .args([
            "admin",
            "create-platform-admin",
            "--email",
            "nouvelle.admin@cig-exemple.fr",
            "--first-name",
            "N",
            "--last-name",
            "N",
        ])
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", &link));
    let html = page.text().unwrap();
    assert!(
        html.contains("Créer mon mot de passe") && html.contains("nouvelle.admin@cig-exemple.fr"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    // A weak password is refused with what is missing, and changes nothing.
    let r = b
        .client
        .post(t.url("auth.test", &link))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", "court"),
            ("confirmation", "court"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().unwrap();
    assert!(html.contains("au moins 12 caractères"), "{html}");
    let strong = "Phare-Ouest-2026!";
    let r = b
        .client
        .post(t.url("auth.test", &link))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", strong),
            ("confirmation", strong),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let (page, _) = b.visit(&t.url("auth.test", "/"));
    assert!(page
        .text()
        .unwrap()
        .contains("Connecté en tant que <strong>Nina Nouvelle</strong>"));
    // The link is single use.
    let (page, _) = b.visit(&t.url("auth.test", &link));
    assert_eq!(page.status(), 410);
    // And the password works at the login form.
    assert_eq!(
        t.browser().login("nouvelle.admin@cig-exemple.fr", strong).0,
        303
    );
}
