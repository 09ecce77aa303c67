//! The `convergences` binary: configuration errors and the admin command, as an operator sees them.

use crate::harness::{csrf_of, TestGateway};
use crate::page::Page;
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
    let p = b.open(&link);
    assert_eq!(p.h1(), "Créer mon mot de passe", "{p:?}");
    assert_eq!(
        p.text_at("h1 + p").as_deref(),
        Some("Compte : nouvelle.admin@cig-exemple.fr"),
        "{p:?}"
    );
    let csrf = csrf_of(&p.body);
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
    let p = Page::of(r);
    assert_eq!(p.status, 422);
    assert!(
        p.texts("#password-errors li")
            .iter()
            .any(|e| e.contains("au moins 12 caractères")),
        "{p:?}"
    );
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
    let p = b.open("/");
    assert_eq!(
        p.text_at(".user-name").as_deref(),
        Some("Connecté en tant que Nina Nouvelle"),
        "{p:?}"
    );
    assert_eq!(
        p.text_at(".user-name strong").as_deref(),
        Some("Nina Nouvelle")
    );
    // The link is single use.
    let (page, _) = b.visit(&t.url("auth.test", &link));
    assert_eq!(page.status(), 410);
    // And the password works at the login form.
    assert_eq!(
        t.browser().login("nouvelle.admin@cig-exemple.fr", strong).0,
        303
    );
}

/// `convergences serve` as an operator runs it: SIGHUP reloads [[apps]] without a restart (a
/// broken file keeps the running configuration), SIGTERM stops it cleanly.
#[test]
fn serve_reloads_applications_on_sighup_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port();
    let up = crate::harness::echo_upstream("reload");
    let base = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nportal_host = \"auth.test\"\ndata_dir = \"{}\"\ngrace_period_seconds = 0\ngraceful_shutdown_timeout_seconds = 1\n[reminders]\nenabled = false\n[[apps]]\nslug = \"bip\"\nname = \"BIP\"\nhost = \"bip.test\"\nupstreams = [\"{}\"]\n",
        dir.path().display(),
        up.addr
    );
    let cfg = dir.path().join("conv.toml");
    std::fs::write(&cfg, &base).unwrap();
    let mut child = bin()
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .env("CONVERGENCES_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("auth.test", addr)
        .resolve("bip.test", addr)
        .resolve("new.test", addr)
        .build()
        .unwrap();
    let status = |host: &str| {
        client
            .get(format!("http://{host}:{port}/"))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let wait_for = |host: &str, want: u16| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while status(host) != want {
            assert!(
                std::time::Instant::now() < deadline,
                "{host} never answered {want}: {}",
                std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let hup = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    wait_for("auth.test", 303);
    assert_eq!(status("bip.test"), 401);
    assert_eq!(status("new.test"), 404);

    std::fs::write(
        &cfg,
        format!("{base}[[apps]]\nslug = \"new\"\nname = \"Nouvelle\"\nhost = \"new.test\"\nupstreams = [\"{}\"]\n", up.addr),
    )
    .unwrap();
    hup(child.id());
    wait_for("new.test", 401);
    assert_eq!(status("bip.test"), 401);

    // A broken file is refused and the running configuration stays.
    std::fs::write(&cfg, "[server\n").unwrap();
    hup(child.id());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(status("new.test"), 401);
    assert!(child.try_wait().unwrap().is_none(), "still running");

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "exit status {code:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn purge_audit_deletes_only_events_older_than_the_retention() {
    let t = TestGateway::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("conv.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nportal_host = \"auth.test\"\ndata_dir = \"{}\"\n[database]\nurl = \"{}\"\n[audit]\nretention_days = 30\n",
            dir.path().display(),
            t.gw.config.database_url
        ),
    )
    .unwrap();
    let old = convergences::directory::now() - 40 * 86_400;
    t.block_on(
        sqlx::query("INSERT INTO audit_events (at, actor, action) VALUES ($1, 'x', 'ancient')")
            .bind(old)
            .execute(&t.gw.dir.pool),
    )
    .unwrap();
    t.browser()
        .login("agent@mairie-exemple.fr", crate::harness::PASSWORD);
    let out = bin()
        .args(["admin", "purge-audit", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 audit event(s) older than 30 days deleted."
    );
    assert_eq!(t.block_on(t.gw.dir.count_audit("ancient")).unwrap(), 0);
    assert_eq!(
        t.block_on(t.gw.dir.count_audit("login")).unwrap(),
        1,
        "recent events stay"
    );
}

fn config_for(t: &TestGateway, dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = dir.join("conv.toml");
    let apps: String = t
        .gw
        .config
        .apps
        .iter()
        .map(|a| {
            format!(
                "[[apps]]\nslug = \"{}\"\nname = \"{}\"\nhost = \"{}.example\"\nupstreams = [\"127.0.0.1:9\"]\n",
                a.slug, a.name, a.slug
            )
        })
        .collect();
    std::fs::write(
        &cfg,
        format!(
            "[server]\nportal_host = \"auth.test\"\ndata_dir = \"{}\"\n[database]\nurl = \"{}\"\n{apps}",
            dir.display(),
            t.gw.config.database_url
        ),
    )
    .unwrap();
    cfg
}

fn import(cfg: &std::path::Path, what: &str, csv: &str, extra: &[&str]) -> (i32, String, String) {
    let file = cfg.with_file_name(format!("{what}.csv"));
    std::fs::write(&file, csv).unwrap();
    let out = bin()
        .args(["admin", what, "--config"])
        .arg(cfg)
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "FILE"),
    )
}

#[test]
fn csv_imports_name_bad_lines_and_import_nothing_unless_told_to_skip() {
    let t = TestGateway::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_for(&t, dir.path());
    let structures = "\u{feff}Nom de la structure;Nom long;Structure parente;Domaines autorisés;Adresse postale\r\n\
        mairie-nouvelle;Mairie Nouvelle;;mairie-nouvelle.fr;1 place de la Mairie\r\n\
        ccas-nouvelle;CCAS de Nouvelle;mairie-nouvelle;;\r\n\
        orpheline;Sans parent;inexistante;;\r\n";
    let (code, _, err) = import(&cfg, "import-structures", structures, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("FILE: line 4: Structure parente: « inexistante » n'existe pas"),
        "{err}"
    );
    assert!(err.contains("1 bad line(s), nothing imported"), "{err}");
    assert!(t
        .block_on(t.gw.dir.structure_by_name("mairie-nouvelle"))
        .unwrap()
        .is_none());
    let (code, out, _) = import(&cfg, "import-structures", structures, &["--skip-invalid"]);
    assert_eq!(code, 0);
    assert!(out.contains("2 structure(s) imported"), "{out}");
    let ccas = t
        .block_on(t.gw.dir.structure_by_name("ccas-nouvelle"))
        .unwrap()
        .unwrap();
    assert_eq!(
        t.block_on(t.gw.dir.allowed_domains(ccas.id)).unwrap(),
        vec!["mairie-nouvelle.fr"]
    );

    let header = convergences::web::aia::csv_export::USER_COLUMNS.join(";");
    let good = "Martin;Éloïse;eloise.martin@mairie-nouvelle.fr;ccas-nouvelle;mairie-nouvelle / ccas-nouvelle;CCAS Nouvelle;Assistante RH;RH;'+33 1 23 45 67 89;EM42;oui;2026-01-01;2030-12-31;non;;BIP : utilisateur (mairie-nouvelle)";
    let users = format!(
        "\u{feff}{header}\r\n{good}\r\n\
         Durand;Paul;paul.durand@ailleurs.fr;ccas-nouvelle;;;;;;;non;;;non;;\r\n\
         Petit;Léa;lea.petit@mairie-nouvelle.fr;ccas-nouvelle;;;;;0102;;non;2027-01-01;2026-01-01;non;;\r\n\
         Agent;Déjà;agent@mairie-exemple.fr;mairie-exemple;;;;;;;non;;;non;;\r\n"
    );
    let (code, _, err) = import(&cfg, "import-users", &users, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("FILE: line 3: Adresse e-mail: le domaine n'est pas autorisé"),
        "{err}"
    );
    assert!(
        err.contains("FILE: line 4: Téléphone: numéro de téléphone invalide.; Fin de validité"),
        "{err}"
    );
    assert!(
        err.contains("FILE: line 5: Adresse e-mail: un compte existe déjà"),
        "{err}"
    );
    assert!(
        t.block_on(
            t.gw.dir
                .user_id_by_email("eloise.martin@mairie-nouvelle.fr")
        )
        .unwrap()
        .is_none(),
        "nothing imported"
    );

    let (code, out, err) = import(
        &cfg,
        "import-users",
        &format!("{header}\r\n{good}\r\n"),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 account(s) imported"), "{out}");
    let id = t.user_id("eloise.martin@mairie-nouvelle.fr");
    let ident = t.block_on(t.gw.dir.identity(id)).unwrap().unwrap();
    assert_eq!(ident.structure_path, "mairie-nouvelle / ccas-nouvelle");
    assert_eq!(ident.valid_until.as_deref(), Some("2030-12-31"));
    assert_eq!(ident.app_identifier, "EM42");
    assert!(!ident.has_password);
    assert_eq!(ident.grants.len(), 1);
    assert_eq!(
        (
            ident.grants[0].app_slug.as_str(),
            ident.grants[0].role.as_str()
        ),
        ("bip", "utilisateur")
    );
    assert_eq!(ident.grants[0].structure_path, "mairie-nouvelle");
    let phone: String = t
        .block_on(
            sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&t.gw.dir.pool),
        )
        .unwrap();
    assert_eq!(phone, "+33 1 23 45 67 89", "neutralisation undone");
    // A malformed file is refused with its line.
    let (code, _, err) = import(&cfg, "import-users", &format!("{header}\r\nA;B\r\n"), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn serve_stops_at_once_with_a_clear_error_when_its_port_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg = dir.path().join("conv.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\nportal_host = \"auth.test\"\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = bin()
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "key `server.listen`: cannot listen on 127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "did not wait for Pingora's retries"
    );
    drop(busy);
}

#[test]
fn reset_factors_is_the_break_glass_for_a_lost_second_factor() {
    let t = TestGateway::start();
    t.block_on(convergences::demo::seed_second_factor_account(&t.gw))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("conv.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nportal_host = \"auth.test\"\ndata_dir = \"{}\"\n[database]\nurl = \"{}\"\n",
            dir.path().display(),
            t.gw.config.database_url
        ),
    )
    .unwrap();
    let email = convergences::demo::DEMO_TOTP_ACCOUNT;
    let uid = t.user_id(email);
    let run = |email: &str| {
        bin()
            .args(["admin", "reset-factors", "--email", email, "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = run(email);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("are removed"));
    assert!(t.block_on(t.gw.dir.totp(uid)).unwrap().is_none());
    assert_eq!(t.block_on(t.gw.dir.recovery_codes_left(uid)).unwrap(), 0);
    // The account signs in with its password alone, and the journal says who did it.
    let b = t.browser();
    assert_eq!(b.login(email, crate::harness::PASSWORD).1, "/");
    let actor: String = t
        .block_on(
            sqlx::query_scalar("SELECT actor FROM audit_events WHERE action = 'factors_reset'")
                .fetch_one(&t.gw.dir.pool),
        )
        .unwrap();
    assert_eq!(actor, "cli");
    // An unknown account: a precise error, nothing done.
    let out = run("nobody@nowhere.fr");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account"));
}
