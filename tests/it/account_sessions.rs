//! Sessions and sign-ins (docs/security.md#sessions, #sign-in-history): the user's list of live
//! sessions with their browsers, ending one or all others (across instances on Redis), ids that
//! cannot be forged, the référent's "Fermer toutes les sessions" within his scope only, the
//! sign-in history without account enumeration, the new-browser and password-change mails,
//! retention and deletion with the account.

use crate::aia::outbox;
use crate::harness::within;
use crate::harness::{csrf_of, Browser, Options, Page, TestGateway, PASSWORD};
use crate::scale::needs_redis;
use sqlx::Row;
use std::time::Duration;

const AGENT: &str = "agent@mairie-exemple.fr";
const REFERENT: &str = "referent@mairie-exemple.fr";

const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";

const PAGE: &str = "/aia/profil/sessions";
const NEW_BROWSER_MAIL: &str = "un navigateur que vous n'avez pas utilisé";

fn signed_in<'a>(t: &'a TestGateway, email: &str, agent: &str) -> Browser<'a> {
    let b = t.browser_as(agent);
    assert_eq!(b.login(email, PASSWORD).0, 303, "login {email}");
    b
}

fn sessions_page(b: &Browser) -> String {
    let (r, url) = b.visit(&b.t.url("auth.test", PAGE));
    assert!(url.ends_with(PAGE), "{url}");
    assert_eq!(r.status(), 200);
    r.text().unwrap()
}

/// The listing ids the page offers to end ("Déconnecter" forms).
fn listing_ids(html: &str) -> Vec<String> {
    html.split("name=\"id\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
    b.client
        .post(b.t.url("auth.test", path))
        .form(form)
        .send()
        .unwrap()
}

/// `b`'s CSRF token, from a page that always has a form (the logout confirmation).
fn csrf(b: &Browser) -> String {
    let (page, _) = b.visit(&b.t.url("auth.test", "/logout"));
    csrf_of(&page.text().unwrap())
}

/// Ends one session from `b`'s page, with `b`'s CSRF token.
fn end_one(b: &Browser, id: &str) -> reqwest::blocking::Response {
    let csrf = csrf(b);
    post(
        b,
        "/aia/profil/sessions/deconnecter",
        &[("csrf", csrf.as_str()), ("id", id)],
    )
}

/// Whether `b`'s session still opens an application (on gateway `t`).
fn live_on(b: &Browser, t: &TestGateway) -> bool {
    let r = b
        .client
        .get(t.url("bip.test", "/"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    match r.status().as_u16() {
        200 => true,
        401 => false,
        s => panic!("unexpected status {s}"),
    }
}

/// Whether `b`'s portal session is live: the profile answers, else it sends to the login form.
fn live(b: &Browser) -> bool {
    let r = b
        .client
        .get(b.t.url("auth.test", "/aia/profil"))
        .send()
        .unwrap();
    match r.status().as_u16() {
        200 => true,
        303 => false,
        s => panic!("unexpected status {s}"),
    }
}

fn session_cookie(b: &Browser) -> String {
    let name = &b.t.gw.cookies.session;
    b.cookies(&b.t.url("auth.test", "/"))
        .split("; ")
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .expect("a session cookie")
        .to_string()
}

fn audit_count(t: &TestGateway, action: &str, target: &str) -> i64 {
    t.block_on(async {
        sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = $1 AND target = $2")
            .bind(action)
            .bind(target)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap()
    })
}

fn sign_in_rows(t: &TestGateway, user_id: i64) -> i64 {
    t.block_on(async {
        sqlx::query("SELECT COUNT(*) AS n FROM sign_ins WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&t.gw.dir.pool)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap()
    })
}

fn new_browser_mails(t: &TestGateway, to: &str) -> usize {
    outbox(t)
        .iter()
        .filter(|(rcpt, text)| rcpt == to && text.contains(NEW_BROWSER_MAIL))
        .count()
}

#[test]
fn the_list_shows_each_session_with_its_browser_and_marks_the_current_one() {
    let t = TestGateway::start();
    let firefox = signed_in(&t, AGENT, FIREFOX);
    let _chrome = signed_in(&t, AGENT, CHROME_ANDROID);
    let _someone_else = signed_in(&t, REFERENT, SAFARI_MAC);
    let html = sessions_page(&firefox);
    // [Navigateur, Système, Adresse IP, Ouverte le, Dernière activité, action]
    let rows = Page::from_body(200, html.clone()).table_rows("sessions");
    let mut seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Chrome 120", "Android 14", "127.0.0.1"),
            ("Firefox 128 Cette session", "Windows 10", "127.0.0.1"),
        ],
        "one row per session of this account, another user's not listed"
    );
    assert!(
        !html.contains("Safari"),
        "another user's session is not listed"
    );
    assert_eq!(html.matches("Cette session").count(), 1);
    // One "Déconnecter" form: for the other session, not for this one.
    assert_eq!(listing_ids(&html).len(), 1);
    // Neither the cookie nor the storage key appears in the page.
    let token = session_cookie(&firefox);
    let key = convergences::session::key_of(&token);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
    for secret in [&token, &hex, &b64, &hex[..16].to_string()] {
        assert!(!html.contains(secret.as_str()), "the page shows {secret}");
    }
    // The security page links to it.
    let (r, _) = firefox.visit(&t.url("auth.test", "/aia/profil/securite"));
    assert!(r.text().unwrap().contains(PAGE));
    // Anonymous: the login form, then back here.
    let anon = t.browser();
    let r = anon.client.get(t.url("auth.test", PAGE)).send().unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?return_to="));
}

#[test]
fn ending_one_session_and_all_others_keeps_the_current_one() {
    let t = TestGateway::start();
    let a = signed_in(&t, AGENT, FIREFOX);
    let b = signed_in(&t, AGENT, CHROME_ANDROID);
    let c = signed_in(&t, AGENT, SAFARI_MAC);
    let html = sessions_page(&a);
    assert_eq!(listing_ids(&html).len(), 2);
    // End the Chrome one by its id.
    let chrome_row = html
        .split("<tr")
        .find(|r| r.contains("Chrome 120"))
        .unwrap();
    let chrome_id = listing_ids(chrome_row).remove(0);
    let r = end_one(&a, &chrome_id);
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/aia/profil/sessions?ok=une");
    assert!(live(&a) && !live(&b) && live(&c));
    let (r, _) = a.visit(&t.url("auth.test", "/aia/profil/sessions?ok=une"));
    assert!(r.text().unwrap().contains("La session a été déconnectée."));
    // Used once, the id ends nothing more.
    let r = end_one(&a, &chrome_id);
    assert_eq!(r.status(), 404);
    assert!(live(&a) && live(&c));

    // "Déconnecter toutes les autres sessions".
    let d = signed_in(&t, AGENT, CHROME_ANDROID);
    let csrf = csrf(&a);
    let r = post(
        &a,
        "/aia/profil/sessions/deconnecter-autres",
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), 303);
    assert!(live(&a), "the current session stays");
    assert!(!live(&c) && !live(&d));
    let html = sessions_page(&a);
    assert!(
        html.contains("Aucune autre session n'est ouverte."),
        "{html}"
    );
    assert_eq!(audit_count(&t, "sessions_ended", AGENT), 1);
    assert_eq!(audit_count(&t, "session_ended", AGENT), 1);

    // Without a valid CSRF token nothing ends.
    let e = signed_in(&t, AGENT, FIREFOX);
    let r = post(
        &a,
        "/aia/profil/sessions/deconnecter-autres",
        &[("csrf", "forged")],
    );
    assert_eq!(r.status(), 400);
    assert!(live(&e));
    // The current session has no button, but its id ends it like a logout.
    let own = convergences::session::listing_id(
        &t.gw.secret,
        &convergences::session::key_of(&session_cookie(&e)),
    );
    assert!(!sessions_page(&e).contains(&own));
    let r = end_one(&e, &own);
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?logged_out=1");
    assert!(!live(&e) && live(&a));
}

#[test]
fn an_id_from_another_account_or_made_up_ends_nothing() {
    let t = TestGateway::start();
    let agent = signed_in(&t, AGENT, FIREFOX);
    let victim = signed_in(&t, REFERENT, FIREFOX);
    let victim_other = signed_in(&t, REFERENT, CHROME_ANDROID);
    // The référent's page shows the id of his other session; the agent presents it.
    let victim_ids = listing_ids(&sessions_page(&victim));
    assert_eq!(victim_ids.len(), 1);
    let mut forged: Vec<String> = victim_ids.clone();
    // The id of the victim's current session, computed as the server does but with a wrong
    // key, and junk of every shape.
    let key = convergences::session::key_of(&session_cookie(&victim));
    forged.push(convergences::session::listing_id(b"not the secret", &key));
    forged.push(convergences::session::listing_id(&t.gw.secret, &[0u8; 32]));
    for junk in [
        "",
        " ",
        "x",
        &"A".repeat(22),
        &"é".repeat(40),
        &"A".repeat(5000),
        "%00",
    ] {
        forged.push(junk.to_string());
    }
    for id in &forged {
        let r = end_one(&agent, id);
        assert_eq!(r.status(), 404, "{id:?}");
        assert!(r.text().unwrap().contains("ne vous appartient pas"));
    }
    assert!(live(&victim) && live(&victim_other) && live(&agent));
    // The real holder can use it.
    assert_eq!(end_one(&victim, &victim_ids[0]).status(), 303);
    assert!(!live(&victim_other));
    // Anonymous: nothing, and the login form.
    let anon = t.browser();
    let r = post(
        &anon,
        "/aia/profil/sessions/deconnecter",
        &[("csrf", ""), ("id", &victim_ids[0])],
    );
    assert_eq!(r.status(), 303);
    assert!(live(&victim));
}

#[test]
fn ending_a_session_on_one_instance_is_refused_on_the_other_within_a_second() {
    if !needs_redis() {
        return;
    }
    let a = TestGateway::start();
    let b = TestGateway::start_with(Options {
        share: Some(a.shared()),
        ..Default::default()
    });
    let here = signed_in(&a, AGENT, FIREFOX);
    // A browser signed in through instance B.
    let there = b.browser_as(CHROME_ANDROID);
    assert_eq!(there.login(AGENT, PASSWORD).0, 303);
    // The application cookie comes through the handshake (on the public URL's instance, A);
    // the session itself was opened on B.
    there.get_json(&a.url("bip.test", "/"));
    assert!(live_on(&there, &b));
    // Instance A lists the session opened on B, and ends it.
    let html = sessions_page(&here);
    assert!(html.contains("Chrome 120"), "{html}");
    let id = listing_ids(&html).remove(0);
    assert_eq!(end_one(&here, &id).status(), 303);
    let took = within(Duration::from_secs(1), || !live_on(&there, &b));
    eprintln!("ending a session from the list took effect on the other instance after {took:?}");
    here.get_json(&a.url("bip.test", "/"));
    assert!(
        live_on(&here, &a),
        "the session that ended the other one stays"
    );

    // "Déconnecter toutes les autres sessions" from B ends A's sessions on A.
    let there = b.browser_as(SAFARI_MAC);
    assert_eq!(there.login(AGENT, PASSWORD).0, 303);
    let csrf = csrf(&there);
    let r = post(
        &there,
        "/aia/profil/sessions/deconnecter-autres",
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), 303);
    within(Duration::from_secs(1), || !live_on(&here, &a));
}

#[test]
fn a_referent_closes_every_session_of_an_account_in_his_scope_only() {
    let t = TestGateway::start_empty();
    let x = t.world().boundary();
    let (agent, agent_id, referent_id) = (x.agent.email.as_str(), x.agent.id, x.referent.id);
    let a1 = signed_in(&t, agent, FIREFOX);
    let a2 = signed_in(&t, agent, CHROME_ANDROID);
    let referent = signed_in(&t, &x.referent.email, SAFARI_MAC);
    let other = signed_in(&t, &x.intruder.email, SAFARI_MAC);
    let card = referent.open(&format!("/aia/utilisateurs/{agent_id}"));
    assert!(
        card.texts("button")
            .contains(&"Fermer toutes les sessions".to_string()),
        "{card:?}"
    );
    let close = |b: &Browser, id: i64| {
        let csrf = csrf(b);
        post(
            b,
            &format!("/aia/utilisateurs/{id}/sessions/fermer"),
            &[("csrf", csrf.as_str())],
        )
    };
    // Another structure's référent: not found, whatever the id; nothing ends.
    for id in [agent_id, referent_id, 0, -1, i64::MAX] {
        let r = close(&other, id);
        assert_eq!(r.status(), 404, "id {id}");
    }
    // An agent has no such power, even on his own structure.
    let r = close(&a1, referent_id);
    assert!(r.status() == 403 || r.status() == 404, "{}", r.status());
    assert!(live(&a1) && live(&a2) && live(&referent));
    assert_eq!(audit_count(&t, "sessions_ended", agent), 0);
    // Malformed ids: 404, never a 500.
    let csrf = csrf(&referent);
    for bad in ["abc", "1.5", "%2e%2e"] {
        let r = post(
            &referent,
            &format!("/aia/utilisateurs/{bad}/sessions/fermer"),
            &[("csrf", csrf.as_str())],
        );
        assert_eq!(r.status(), 404, "{bad}");
    }
    // Without the CSRF token: refused.
    let r = post(
        &referent,
        &format!("/aia/utilisateurs/{agent_id}/sessions/fermer"),
        &[("csrf", "nope")],
    );
    assert_eq!(r.status(), 400);
    assert!(live(&a1));
    // The référent of the agent's structure.
    let r = close(&referent, agent_id);
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/aia/utilisateurs/{agent_id}?ok=sessions-fermees")
    );
    assert!(!live(&a1) && !live(&a2), "every session of the agent ends");
    assert!(live(&referent) && live(&other));
    assert_eq!(audit_count(&t, "sessions_ended", agent), 1);
    // His own sessions are managed from his profile.
    assert_eq!(close(&referent, referent_id).status(), 400);
    // The agent can sign in again at once: the account is not locked.
    assert_eq!(t.browser().login(agent, PASSWORD).0, 303);
}

#[test]
fn the_history_records_attempts_on_existing_accounts_without_telling_who_exists() {
    let t = TestGateway::start();
    let agent_id = t.user_id(AGENT);
    // Wrong password for an account that exists and for one that does not: the same answer.
    let answer = |email: &str| {
        let b = t.browser_as(FIREFOX);
        let (page, _) = b.visit(&t.url("auth.test", "/login"));
        let csrf = csrf_of(&page.text().unwrap());
        let r = post(
            &b,
            "/login",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", "pas-le-bon"),
            ],
        );
        let status = r.status();
        let mut cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_string())
            .collect();
        cookies.sort();
        let body = r.text().unwrap().replace(&csrf, "").replace(email, "");
        (status, cookies, body)
    };
    let known = answer(AGENT);
    let unknown = answer("personne@mairie-exemple.fr");
    assert_eq!(known, unknown);
    assert_eq!(known.0, 401);
    assert!(
        !known.1.contains(&t.gw.cookies.browser),
        "no browser id for a failure"
    );
    assert_eq!(sign_in_rows(&t, agent_id), 1);
    // The successful sign-in, then the page shows both, newest first.
    let b = signed_in(&t, AGENT, CHROME_ANDROID);
    let rows = t.block_on(t.gw.dir.recent_sign_ins(agent_id)).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].success && rows[0].method == "password");
    assert!(!rows[1].success && rows[1].reason == "bad_password");
    assert_eq!(rows[1].agent, "Firefox 128 sur Windows 10");
    let html = sessions_page(&b);
    let history = &html[html.find("Dernières connexions").unwrap()..];
    assert!(history.contains("Réussie") && history.contains("Échec"));
    assert!(history.contains("mot de passe incorrect"));
    assert!(history.contains("Firefox 128 sur Windows 10"));
    // A locked account: the right password is recorded as refused, with its reason.
    t.block_on(t.gw.dir.set_locked(agent_id, true)).unwrap();
    t.gw.user_changed(agent_id);
    assert_eq!(t.browser().login(AGENT, PASSWORD).0, 401);
    let rows = t.block_on(t.gw.dir.recent_sign_ins(agent_id)).unwrap();
    assert_eq!(rows[0].reason, "unusable");
    // At most the last 20 are shown.
    t.block_on(t.gw.dir.set_locked(agent_id, false)).unwrap();
    t.gw.user_changed(agent_id);
    for _ in 0..22 {
        t.block_on(
            t.gw.dir
                .record_sign_in(convergences::directory::sign_ins::NewSignIn {
                    user_id: agent_id,
                    method: "password",
                    reason: "bad_password",
                    client_ip: "192.0.2.7",
                    agent: "Robot sur Système inconnu",
                    ..Default::default()
                }),
        )
        .unwrap();
    }
    let html = sessions_page(&b);
    let history = &html[html.find("id=\"sign-ins\"").unwrap()..];
    assert_eq!(
        history.matches("<tr>").count(),
        20 + 1,
        "20 rows and the header"
    );
}

#[test]
fn a_second_step_failure_and_success_are_recorded_with_their_method() {
    let t = TestGateway::start();
    t.block_on(convergences::demo::seed_second_factor_account(&t.gw))
        .unwrap();
    let email = convergences::demo::DEMO_TOTP_ACCOUNT;
    let uid = t.user_id(email);
    let secret =
        convergences::auth::totp::from_base32(convergences::demo::DEMO_TOTP_SECRET).unwrap();
    let b = t.browser_as(FIREFOX);
    assert_eq!(b.login(email, PASSWORD).0, 303);
    let step = |code: &str| {
        let (page, _) = b.visit(&t.url("auth.test", "/login/verification"));
        let csrf = csrf_of(&page.text().unwrap());
        post(
            &b,
            "/login/verification",
            &[("csrf", &csrf), ("code", code)],
        )
        .status()
        .as_u16()
    };
    assert_eq!(step("000000"), 401);
    let code = convergences::auth::totp::code_at_step(&secret, convergences::directory::now() / 30);
    assert_eq!(step(&code), 303);
    let rows = t.block_on(t.gw.dir.recent_sign_ins(uid)).unwrap();
    let summary: Vec<(bool, &str, &str)> = rows
        .iter()
        .map(|r| (r.success, r.method.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![(true, "totp", ""), (false, "second_factor", "bad_code")]
    );
}

#[test]
fn a_sign_in_from_a_new_browser_is_mailed_once_and_not_for_a_known_one_or_the_first() {
    let t = TestGateway::start();
    // The very first sign-in of the account: no mail.
    let first = signed_in(&t, AGENT, FIREFOX);
    assert_eq!(new_browser_mails(&t, AGENT), 0);
    // The same browser again (it keeps its browser id): no mail.
    first.logout();
    assert_eq!(first.login(AGENT, PASSWORD).0, 303);
    assert_eq!(new_browser_mails(&t, AGENT), 0);
    // A new browser: one mail, naming it.
    let second = signed_in(&t, AGENT, CHROME_ANDROID);
    assert_eq!(new_browser_mails(&t, AGENT), 1);
    let (_, text) = outbox(&t)
        .into_iter()
        .find(|(_, text)| text.contains(NEW_BROWSER_MAIL))
        .unwrap();
    assert!(text.contains("Chrome 120 sur Android 14"), "{text}");
    // Known from now on.
    second.logout();
    assert_eq!(second.login(AGENT, PASSWORD).0, 303);
    assert_eq!(new_browser_mails(&t, AGENT), 1);
    // A made-up browser id counts as a new browser, and another account's id does not make
    // this browser known to this account.
    let referent = signed_in(&t, REFERENT, SAFARI_MAC);
    let borrowed = t.browser_as(SAFARI_MAC);
    let name = &t.gw.cookies.browser;
    let referent_id = referent
        .cookies(&t.url("auth.test", "/"))
        .split("; ")
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_string();
    borrowed.jar.add_cookie_str(
        &format!("{name}={referent_id}; Path=/"),
        &reqwest::Url::parse(&t.url("auth.test", "/")).unwrap(),
    );
    assert_eq!(borrowed.login(AGENT, PASSWORD).0, 303);
    assert_eq!(new_browser_mails(&t, AGENT), 2);
    let junk = t.browser_as(SAFARI_MAC);
    junk.jar.add_cookie_str(
        &format!("{name}=../../etc; Path=/"),
        &reqwest::Url::parse(&t.url("auth.test", "/")).unwrap(),
    );
    assert_eq!(junk.login(AGENT, PASSWORD).0, 303);
    assert_eq!(new_browser_mails(&t, AGENT), 3);
    // The cookie: host-only, HttpOnly, long-lived.
    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", "/login"));
    let csrf = csrf_of(&page.text().unwrap());
    let r = post(
        &b,
        "/login",
        &[("csrf", &csrf), ("email", AGENT), ("password", PASSWORD)],
    );
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
        .expect("the browser id is set at sign-in");
    assert!(
        set.contains("HttpOnly") && set.contains("Max-Age=34560000"),
        "{set}"
    );
    assert!(!set.to_lowercase().contains("domain="), "{set}");
}

#[test]
fn a_password_reset_is_mailed_to_the_owner() {
    let t = TestGateway::start();
    let uid = t.user_id(AGENT);
    let token = t
        .block_on(
            t.gw.dir
                .create_token(uid, convergences::directory::tokens::Purpose::Reset, 3600),
        )
        .unwrap();
    let b = t.browser_as(FIREFOX);
    let path = format!("/mot-de-passe/{token}");
    let (page, _) = b.visit(&t.url("auth.test", &path));
    let csrf = csrf_of(&page.text().unwrap());
    let new_password = "Un-Nouveau-Mot-De-Passe-2026!";
    let r = post(
        &b,
        &path,
        &[
            ("csrf", &csrf),
            ("password", new_password),
            ("confirmation", new_password),
        ],
    );
    assert_eq!(r.status(), 303);
    let mails: Vec<String> = outbox(&t)
        .into_iter()
        .filter(|(to, _)| to == AGENT)
        .map(|(_, text)| text)
        .collect();
    assert!(
        mails
            .iter()
            .any(|m| m.contains("mot de passe de votre compte Convergences vient d'être modifié")),
        "{mails:?}"
    );
    // The sign-in through the link is in the history.
    let rows = t.block_on(t.gw.dir.recent_sign_ins(uid)).unwrap();
    assert_eq!(rows[0].method, "link");
    assert!(rows[0].success);
}

#[test]
fn the_history_goes_with_the_account_and_after_the_retention_period() {
    let t = TestGateway::start();
    let agent_id = t.user_id(AGENT);
    let _ = signed_in(&t, AGENT, FIREFOX);
    let _ = t.browser().login(AGENT, "faux");
    assert_eq!(sign_in_rows(&t, agent_id), 2);
    // Older than the retention period: purged by the daily job.
    let old = convergences::directory::now()
        - (convergences::directory::sign_ins::RETENTION_DAYS + 1) * 86_400;
    t.block_on(async {
        sqlx::query("UPDATE sign_ins SET at = $1 WHERE id = (SELECT MIN(id) FROM sign_ins WHERE user_id = $2)")
            .bind(old)
            .bind(agent_id)
            .execute(&t.gw.dir.pool)
            .await
            .unwrap();
    });
    assert_eq!(t.block_on(t.gw.dir.purge_sign_ins()).unwrap(), 1);
    assert_eq!(sign_in_rows(&t, agent_id), 1);
    // Deleting the account (GDPR) deletes its history.
    let referent = signed_in(&t, REFERENT, SAFARI_MAC);
    let (page, _) = referent.visit(&t.url(
        "auth.test",
        &format!("/aia/utilisateurs/{agent_id}/supprimer"),
    ));
    let csrf = csrf_of(&page.text().unwrap());
    let r = post(
        &referent,
        &format!("/aia/utilisateurs/{agent_id}/supprimer"),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), 303);
    assert_eq!(sign_in_rows(&t, agent_id), 0);
}

#[test]
fn the_personal_data_page_lists_what_is_kept_and_for_how_long() {
    let t = TestGateway::start();
    let (r, _) = t
        .browser()
        .visit(&t.url("auth.test", "/donnees-personnelles"));
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    for expected in [
        "Historique des connexions",
        &format!(
            "{} jours",
            convergences::directory::sign_ins::RETENTION_DAYS
        ),
        &format!("{} jours", t.gw.config.audit_retention_days),
        "Cookie d'identification du navigateur",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    let (login, _) = t.browser().visit(&t.url("auth.test", "/login"));
    assert!(login.text().unwrap().contains("/donnees-personnelles"));
}

#[test]
fn the_session_forms_count_in_the_per_address_quota() {
    // A small quota: one request back every 20 s, so none comes back during the test.
    let t = TestGateway::start_with(Options {
        security: "attempts_per_ip_per_minute = 3\n".into(),
        ..Default::default()
    });
    let a = signed_in(&t, AGENT, FIREFOX);
    let b = signed_in(&t, AGENT, CHROME_ANDROID);
    let csrf = csrf(&a);
    // Requests that end nothing use up the address's quota...
    let quota = t.gw.config.throttle.attempts_per_ip_per_minute as usize;
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < quota + 5 {
        let r = post(
            &a,
            "/aia/profil/sessions/deconnecter",
            &[("csrf", &csrf), ("id", "inconnu")],
        );
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(statuses.len(), quota + 1, "{statuses:?}");
    // ...then the real one is refused: the other session stays, and the page says why.
    let r = post(
        &a,
        "/aia/profil/sessions/deconnecter-autres",
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), 429);
    assert!(r.text().unwrap().contains("Trop de demandes"));
    assert!(live(&b));
}
