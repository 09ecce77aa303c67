//! First visit, forgotten password, links, password policy, brute force, reminders, all
//! through a real SMTP server (docs/product.md#first-visit-and-password-reset,
//! docs/security.md).

use crate::harness::{csrf_of, encode, Options, TestGateway, PASSWORD};
use crate::page::Page;
use crate::smtp::SmtpSink;
use convergences::directory::tokens::Purpose;
use convergences::directory::users::NewUser;

/// A gateway mailing through a local SMTP sink; `security`: extra keys of `[security]`.
fn gateway_with_mail(security: &str) -> (TestGateway, SmtpSink) {
    let sink = SmtpSink::start();
    let t = TestGateway::start_with(Options {
        extra_config: format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_security = \"none\"\nfrom = \"Convergences <no-reply@cig-exemple.fr>\"\n",
            sink.port
        ),
        security: security.to_string(),
        ..Default::default()
    });
    (t, sink)
}

/// A new agent of the Mairie, as a référent would create it: no password yet.
fn new_agent(t: &TestGateway, email: &str) -> i64 {
    let mairie = t.structure_id("mairie-exemple");
    t.block_on(t.gw.dir.provision_user(NewUser {
        email,
        first_name: "Noémie",
        last_name: "Nouvelle",
        structure_id: mairie,
        job_title: "Gestionnaire",
        service: "RH",
        app_identifier: "",
        platform_admin: false,
        created_by: None,
    }))
    .unwrap()
}

fn request(b: &crate::harness::Browser<'_>, path: &str, email: &str) -> (u16, String) {
    let (page, _) = b.visit(&b.t.url("auth.test", path));
    let csrf = csrf_of(&page.text().unwrap());
    let r = b
        .client
        .post(b.t.url("auth.test", path))
        .form(&[("csrf", csrf.as_str()), ("email", email)])
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn set_password(
    b: &crate::harness::Browser<'_>,
    link_path: &str,
    pw: &str,
    confirm: &str,
) -> reqwest::blocking::Response {
    let (page, _) = b.visit(&b.t.url("auth.test", link_path));
    let csrf = csrf_of(&page.text().unwrap());
    b.client
        .post(b.t.url("auth.test", link_path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", pw),
            ("confirmation", confirm),
        ])
        .send()
        .unwrap()
}

fn path_of(link: &str) -> String {
    let u = reqwest::Url::parse(link).unwrap();
    u.path().to_string()
}

#[test]
fn first_visit_sends_a_working_link_and_logs_the_agent_in() {
    let (t, sink) = gateway_with_mail("");
    let uid = new_agent(&t, "noemie.nouvelle@mairie-exemple.fr");
    t.block_on(t.gw.dir.assign_role(uid, "bip", "utilisateur", 2, None))
        .unwrap();
    let b = t.browser();
    let (status, body) = request(&b, "/premiere-visite", "Noemie.Nouvelle@mairie-exemple.fr");
    let p = Page::from_body(status, body);
    assert_eq!(p.status, 200);
    assert!(
        p.flash()
            .is_some_and(|f| f.contains("un message vient de lui être envoyé")),
        "{p:?}"
    );
    let mail = sink
        .wait_for("noemie.nouvelle@mairie-exemple.fr", 1)
        .remove(0);
    let text = mail.text();
    assert!(
        text.contains("Subject: =?utf-8?") || text.contains("Subject: Convergences"),
        "{text}"
    );
    assert!(text.contains("Bonjour Noémie"), "{text}");
    let link = mail.link().expect("a link in the mail");
    assert!(
        link.starts_with(&format!("http://auth.test:{}/mot-de-passe/", t.port)),
        "{link}"
    );

    // Weak password first: French messages, nothing changed, the link still works.
    let r = set_password(&b, &path_of(&link), "noemie2026", "noemie2026");
    let p = Page::of(r);
    assert_eq!(p.status, 422);
    let errors = p.texts("#password-errors li");
    for expected in ["au moins 12 caractères", "une majuscule", "ni votre nom"] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected}: {p:?}"
        );
    }
    let r = set_password(
        &b,
        &path_of(&link),
        "Grand-Chene-2026!",
        "Grand-Chene-2027!",
    );
    let p = Page::of(r);
    assert_eq!(p.status, 422);
    assert!(
        p.texts("#password-errors li")
            .contains(&"Les deux mots de passe saisis sont différents.".to_string()),
        "{p:?}"
    );
    assert!(t
        .block_on(t.gw.dir.find_login("noemie.nouvelle@mairie-exemple.fr"))
        .unwrap()
        .unwrap()
        .password_hash
        .is_none());

    let r = set_password(
        &b,
        &path_of(&link),
        "Grand-Chene-2026!",
        "Grand-Chene-2026!",
    );
    assert_eq!(r.status(), 303);
    let p = b.open("/");
    assert_eq!(
        p.text_at(".user-name strong").as_deref(),
        Some("Noémie Nouvelle"),
        "{p:?}"
    );
    assert_eq!(
        p.text_at(".user-name").as_deref(),
        Some("Connecté en tant que Noémie Nouvelle")
    );
    assert!(p.texts(".tile-name").contains(&"BIP".to_string()), "{p:?}");
    assert_eq!(
        b.get_json(&t.url("bip.test", "/"))["headers"]["x-convergences-user"][0],
        encode("noemie.nouvelle@mairie-exemple.fr")
    );
    // Used once: gone.
    let (page, _) = t.browser().visit(&link);
    assert_eq!(page.status(), 410);
}

#[test]
fn the_answer_is_the_same_whether_or_not_the_account_exists() {
    let (t, sink) = gateway_with_mail("");
    new_agent(&t, "sans.mdp@mairie-exemple.fr");
    let b = t.browser();
    let mut answers = Vec::new();
    for email in [
        "sans.mdp@mairie-exemple.fr",
        "agent@mairie-exemple.fr",
        "inconnu@mairie-exemple.fr",
        "inconnu@ailleurs.fr",
    ] {
        answers.push(request(&b, "/premiere-visite", email));
    }
    for a in &answers[1..] {
        assert_eq!(a, &answers[0]);
    }
    let mut answers = Vec::new();
    for email in [
        "agent@mairie-exemple.fr",
        "sans.mdp@mairie-exemple.fr",
        "inconnu@mairie-exemple.fr",
    ] {
        answers.push(request(&b, "/mot-de-passe-oublie", email));
    }
    for a in &answers[1..] {
        assert_eq!(a, &answers[0]);
    }
    // Only the eligible accounts got a message: first visit without password, reset with one.
    assert_eq!(sink.wait_for("sans.mdp@mairie-exemple.fr", 1).len(), 1);
    assert_eq!(sink.wait_for("agent@mairie-exemple.fr", 1).len(), 1);
    assert!(sink.messages_to("inconnu@mairie-exemple.fr").is_empty());
    assert!(sink.wait_for("agent@mairie-exemple.fr", 1)[0]
        .text()
        .contains("réinitialisation"));
}

#[test]
fn reused_expired_tampered_and_foreign_tokens_are_refused() {
    let (t, _sink) = gateway_with_mail("");
    let a = new_agent(&t, "a.token@mairie-exemple.fr");
    let other = new_agent(&t, "b.token@mairie-exemple.fr");
    let expired = t
        .block_on(t.gw.dir.create_token(a, Purpose::FirstVisit, -1))
        .unwrap();
    let b = t.browser();
    assert_eq!(
        b.visit(&t.url("auth.test", &format!("/mot-de-passe/{expired}")))
            .0
            .status(),
        410
    );
    let good = t
        .block_on(t.gw.dir.create_token(a, Purpose::FirstVisit, 3600))
        .unwrap();
    let mut tampered = good.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        b.visit(&t.url("auth.test", &format!("/mot-de-passe/{tampered}")))
            .0
            .status(),
        410
    );
    assert_eq!(
        b.visit(&t.url("auth.test", "/mot-de-passe/x")).0.status(),
        410
    );
    // A newer link voids the older one.
    let newer = t
        .block_on(t.gw.dir.create_token(a, Purpose::FirstVisit, 3600))
        .unwrap();
    assert_eq!(
        b.visit(&t.url("auth.test", &format!("/mot-de-passe/{good}")))
            .0
            .status(),
        410
    );
    // A's token sets A's password only, whatever else the form carries.
    let path = format!("/mot-de-passe/{newer}");
    let (page, _) = b.visit(&t.url("auth.test", &path));
    let csrf = csrf_of(&page.text().unwrap());
    let other_s = other.to_string();
    let r = b
        .client
        .post(t.url("auth.test", &path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", "Grand-Chene-2026!"),
            ("confirmation", "Grand-Chene-2026!"),
            ("user_id", other_s.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(t
        .block_on(t.gw.dir.find_login("a.token@mairie-exemple.fr"))
        .unwrap()
        .unwrap()
        .password_hash
        .is_some());
    assert!(t
        .block_on(t.gw.dir.find_login("b.token@mairie-exemple.fr"))
        .unwrap()
        .unwrap()
        .password_hash
        .is_none());
    // Reuse: the page and the form both refuse it.
    assert_eq!(
        t.browser().visit(&t.url("auth.test", &path)).0.status(),
        410
    );
    let r = b
        .client
        .post(t.url("auth.test", &path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", "Autre-Chene-2026!"),
            ("confirmation", "Autre-Chene-2026!"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 410);
}

#[test]
fn a_password_reset_keeps_the_old_password_until_changed_then_revokes_every_session() {
    let (t, sink) = gateway_with_mail("");
    let elsewhere = t.browser();
    assert_eq!(elsewhere.login("agent@mairie-exemple.fr", PASSWORD).0, 303);
    assert_eq!(elsewhere.get_json(&t.url("bip.test", "/"))["app"], "bip");
    let b = t.browser();
    request(&b, "/mot-de-passe-oublie", "agent@mairie-exemple.fr");
    let link = sink.wait_for("agent@mairie-exemple.fr", 1)[0]
        .link()
        .unwrap();
    // The old password still works before the new one is set.
    assert_eq!(
        t.browser().login("agent@mairie-exemple.fr", PASSWORD).0,
        303
    );
    let page = b.open_url(&link);
    assert_eq!(page.h1(), "Réinitialiser mon mot de passe", "{page:?}");
    assert_eq!(
        set_password(
            &b,
            &path_of(&link),
            "Nouveau-Depart-2026!",
            "Nouveau-Depart-2026!"
        )
        .status(),
        303
    );
    // Every earlier session is gone, on the portal and on the application hosts.
    let r = elsewhere.client.get(t.url("bip.test", "/")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        t.browser().login("agent@mairie-exemple.fr", PASSWORD).0,
        401
    );
    assert_eq!(
        t.browser()
            .login("agent@mairie-exemple.fr", "Nouveau-Depart-2026!")
            .0,
        303
    );
}

#[test]
fn repeated_failures_delay_the_account_but_never_lock_its_owner_out() {
    let (t, _sink) = gateway_with_mail(
        "login_failures_before_delay = 3\nlogin_delay_seconds = 2\nlogin_max_delay_seconds = 4\n",
    );
    for email in ["agent@mairie-exemple.fr", "personne@mairie-exemple.fr"] {
        let b = t.browser();
        for _ in 0..3 {
            assert_eq!(b.login(email, "Mauvais-Mot-2026!").0, 401);
        }
        // The next attempt, even with the right password, must wait; unknown e-mails alike.
        let (page, _) = b.visit(&t.url("auth.test", "/login"));
        let csrf = csrf_of(&page.text().unwrap());
        let r = b
            .client
            .post(t.url("auth.test", "/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", PASSWORD),
            ])
            .send()
            .unwrap();
        let p = Page::of(r);
        assert_eq!(p.status, 429, "{email}");
        let error = p.text_at("#login-error").unwrap_or_default();
        assert!(
            [
                "Trop de tentatives infructueuses pour ce compte. Réessayez dans 2 secondes.",
                "Trop de tentatives infructueuses pour ce compte. Réessayez dans 1 seconde.",
            ]
            .contains(&error.as_str()),
            "{p:?}"
        );
    }
    // Once the delay has passed, the right password works.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, _) = t.browser().login("agent@mairie-exemple.fr", PASSWORD);
        if status == 303 {
            break;
        }
        assert_eq!(status, 429);
        assert!(std::time::Instant::now() < deadline, "still delayed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Success cleared the count: one failure is not delayed.
    assert_eq!(
        t.browser()
            .login("agent@mairie-exemple.fr", "Mauvais-Mot-2026!")
            .0,
        401
    );
    assert_eq!(
        t.browser().login("agent@mairie-exemple.fr", PASSWORD).0,
        303
    );
}

#[test]
fn too_many_failures_from_one_address_pause_that_address() {
    let (t, _sink) = gateway_with_mail("attempts_per_ip_per_minute = 4\n");
    // Successful logins do not count.
    for _ in 0..6 {
        assert_eq!(
            t.browser().login("referent@mairie-exemple.fr", PASSWORD).0,
            303
        );
    }
    for i in 0..5 {
        assert_eq!(
            t.browser()
                .login(&format!("x{i}@mairie-exemple.fr"), "Mauvais-Mot-2026!")
                .0,
            401
        );
    }
    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", "/login"));
    let csrf = csrf_of(&page.text().unwrap());
    let r = b
        .client
        .post(t.url("auth.test", "/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "agent@mairie-exemple.fr"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    let p = Page::of(r);
    assert_eq!(p.status, 429);
    assert!(
        p.text_at("#login-error")
            .is_some_and(|e| e.contains("depuis votre connexion")),
        "{p:?}"
    );
}

#[test]
fn a_delivery_failure_is_reported_and_audited() {
    // Nothing listens on port 1 (and an ephemeral port could be taken by a parallel test).
    let dead = 1u16;
    let t = TestGateway::start_with(Options {
        extra_config: format!("[mail]\ntransport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {dead}\nsmtp_security = \"none\"\nsmtp_timeout_seconds = 2\n"),
        ..Default::default()
    });
    let uid = t.user_id("agent@mairie-exemple.fr");
    // Triggered by a référent: the error comes back to the caller.
    let e = t
        .block_on(convergences::lifecycle::send_password_link(
            &t.gw,
            uid,
            Purpose::Reset,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("could not be delivered"), "{e}");
    // Self-service: the page stays neutral, the failure is audited.
    let b = t.browser();
    let (status, _) = request(&b, "/mot-de-passe-oublie", "referent@mairie-exemple.fr");
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.block_on(t.gw.dir.count_audit("mail_failed")).unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no mail_failed audit event"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn referents_are_reminded_of_expiring_and_unused_accounts_once_a_day() {
    let (t, sink) = gateway_with_mail("");
    let soon = new_agent(&t, "bientot.fini@mairie-exemple.fr");
    let in_ten_days = time::OffsetDateTime::now_utc().date() + time::Duration::days(10);
    let d = format!(
        "{:04}-{:02}-{:02}",
        in_ten_days.year(),
        u8::from(in_ten_days.month()),
        in_ten_days.day()
    );
    t.block_on(t.gw.dir.set_validity(soon, None, Some(&d)))
        .unwrap();
    let sent = t
        .block_on(convergences::lifecycle::send_reminders(&t.gw, 30, 0))
        .unwrap();
    assert_eq!(sent, 1, "one référent in the demo directory");
    let mail = sink.wait_for("referent@mairie-exemple.fr", 1).remove(0);
    let text = mail.text();
    assert!(
        text.contains(&format!("bientot.fini@mairie-exemple.fr> (fin le {d})")),
        "{text}"
    );
    assert!(text.contains("Comptes jamais utilisés"), "{text}");
    // Nobody outside the référent's subtree is listed.
    assert!(!text.contains("admin@cig-exemple.fr"), "{text}");
    let today = convergences::directory::today();
    assert!(t
        .block_on(t.gw.dir.claim_daily_job("reminders", &today))
        .unwrap());
    assert!(!t
        .block_on(t.gw.dir.claim_daily_job("reminders", &today))
        .unwrap());
}
