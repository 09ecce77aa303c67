//! Single sign-on across hosts (docs/gateway.md#sso-handshake) and the cookies it rests on,
//! from the outside: the handshake's codes, the application cookies and the session cookie.

use crate::harness::{csrf_of, encode, TestGateway, HANDSHAKE_COOKIE, PASSWORD};
use crate::page::Page;

#[test]
fn single_sign_on_handshake_works_across_two_application_hosts() {
    let t = TestGateway::start();
    let b = t.browser();
    // Start at the application, not at the portal: login once, land back on the app.
    let (page, url) = b.visit(&t.url("bip.test", "/start?x=1"));
    assert!(
        url.starts_with(&t.url("auth.test", "/login?return_to=")),
        "{url}"
    );
    let csrf = csrf_of(&page.text().unwrap());
    let return_to = reqwest::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let r = b
        .client
        .post(t.url("auth.test", "/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "referent@mairie-exemple.fr"),
            ("password", PASSWORD),
            ("return_to", return_to.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let next = r.headers()["location"].to_str().unwrap().to_string();
    let echo = b.get_json(&t.url("auth.test", &next));
    assert_eq!(echo["path"], "/start?x=1");
    assert_eq!(
        echo["headers"]["x-convergences-user"][0],
        encode("referent@mairie-exemple.fr")
    );
    // Second host: no password asked, the portal session answers the handshake.
    let echo = b.get_json(&t.url("nc.test", "/"));
    assert_eq!(
        echo["headers"]["x-convergences-user"][0],
        encode("referent@mairie-exemple.fr")
    );
    assert_eq!(
        echo["headers"]["x-convergences-roles"][0],
        "administrateur@mairie-exemple"
    );

    // A handshake code works once and only for its application.
    let live = t.block_on(t.gw.sessions.store.get(&[0u8; 32])).unwrap();
    assert!(live.is_none());
    let c = t.client(false);
    let r = c
        .get(t.url(
            "bip.test",
            "/_convergences/callback?code=forged&return_to=/",
        ))
        .send()
        .unwrap();
    assert_eq!(
        Page::of(r).assert_error(400).heading,
        "Lien de connexion expiré"
    );
}

#[test]
fn handshake_codes_are_single_use_and_bound_to_their_application() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    let (r, handshake) = b.authorize("bip", &t.url("bip.test", "/"));
    assert_eq!(r.status(), 303);
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        callback.starts_with(&t.url("bip.test", "/_convergences/callback?code=")),
        "{callback}"
    );
    // Replayed on the other application's host: refused (and consumed).
    let app_host = t.client(false);
    let on_nc = callback.replace("bip.test", "nc.test");
    let get = |url: &str| {
        app_host
            .get(url)
            .header("cookie", &handshake)
            .send()
            .unwrap()
    };
    assert_eq!(get(&on_nc).status(), 400);
    assert_eq!(
        get(&callback).status(),
        400,
        "consumed by the failed attempt"
    );
    // A fresh code works once.
    let (r, handshake) = b.authorize("bip", &t.url("bip.test", "/"));
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let first = app_host
        .get(&callback)
        .header("cookie", &handshake)
        .send()
        .unwrap();
    assert_eq!(first.status(), 302);
    let set_cookies: Vec<String> = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let app_cookie = set_cookies
        .iter()
        .find(|c| c.starts_with("convergences_app="))
        .expect("the application cookie");
    assert!(
        app_cookie.contains("HttpOnly") && app_cookie.contains("SameSite=Lax"),
        "{app_cookie}"
    );
    assert!(!app_cookie.contains("Domain"), "host-only: {app_cookie}");
    assert!(
        set_cookies
            .iter()
            .any(|c| c.starts_with("convergences_handshake=;") && c.contains("Max-Age=0")),
        "the handshake cookie is removed: {set_cookies:?}"
    );
    assert_eq!(
        app_host
            .get(&callback)
            .header("cookie", &handshake)
            .send()
            .unwrap()
            .status(),
        400,
        "second use"
    );
}

#[test]
fn a_handshake_code_only_works_in_the_browser_that_started_the_handshake() {
    // Login CSRF: an attacker mints a code in his own session and sends the callback link to
    // a victim, whose browser would then use the application as the attacker.
    let t = TestGateway::start();
    let attacker = t.browser();
    attacker.login("referent@mairie-exemple.fr", PASSWORD);
    let victim = t.browser();
    victim.login("agent@mairie-exemple.fr", PASSWORD);
    let victim_host = t.client(false);
    let attempts: Vec<Option<String>> = vec![
        None,                                                   // no handshake cookie at all
        Some(format!("{HANDSHAKE_COOKIE}=")),                   // an empty one
        Some(format!("{HANDSHAKE_COOKIE}={}", "A".repeat(43))), // the victim's own, another value
        Some(format!("{HANDSHAKE_COOKIE}={}", "x".repeat(500))),
    ];
    for cookie in attempts {
        let (r, _attackers_cookie) = attacker.authorize("bip", &t.url("bip.test", "/"));
        let callback = r.headers()["location"].to_str().unwrap().to_string();
        let mut req = victim_host.get(&callback);
        if let Some(c) = &cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().unwrap();
        assert!(r.headers().get("set-cookie").is_none(), "{cookie:?}");
        assert_eq!(
            Page::of(r).assert_error(400).heading,
            "Lien de connexion expiré",
            "{cookie:?}"
        );
    }
    // The portal refuses to mint a code without a well-formed browser binding.
    for hs in ["", "short", &"A".repeat(44), "%00"] {
        let enc: String =
            form_urlencoded::byte_serialize(t.url("bip.test", "/").as_bytes()).collect();
        let r = attacker
            .client
            .get(t.url(
                "auth.test",
                &format!("/sso/authorize?app=bip&return_to={enc}&hs={hs}"),
            ))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "hs={hs:?}");
    }
    // Through the real flow the victim's browser gets its own session on the application.
    let echo = victim.get_json(&t.url("bip.test", "/"));
    assert_eq!(
        echo["headers"]["x-convergences-user"][0],
        encode("agent@mairie-exemple.fr")
    );
}

#[test]
fn an_application_cookie_only_opens_its_own_application() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    // The referent holds a role on both applications; a BIP cookie must still not open NC.
    b.get_json(&t.url("bip.test", "/"));
    let bip_cookie = b.cookies(&t.url("bip.test", "/"));
    assert!(bip_cookie.contains("convergences_app="), "{bip_cookie}");
    let r = t
        .client(false)
        .get(t.url("nc.test", "/"))
        .header("cookie", &bip_cookie)
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "a BIP cookie on the NC host");
    let r = t
        .client(false)
        .get(t.url("bip.test", "/"))
        .header("cookie", &bip_cookie)
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "and still works on BIP");
}

#[test]
fn the_session_id_is_rotated_at_login_and_cookies_follow_the_rules() {
    let t = TestGateway::start();
    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", "/login"));
    let csrf = csrf_of(&page.text().unwrap());
    let pre_session = b.cookies(&t.url("auth.test", "/login"));
    assert!(
        pre_session.starts_with("convergences_csrf="),
        "{pre_session}"
    );
    let r = b
        .client
        .post(t.url("auth.test", "/login"))
        .header(
            "cookie",
            format!("{pre_session}; convergences_session=planted-by-attacker"),
        )
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "agent@mairie-exemple.fr"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("convergences_session="))
        .expect("session cookie");
    assert!(!session.contains("planted-by-attacker"));
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/")
    );
    assert!(!session.contains("Secure"), "plain HTTP here");
    assert!(!session.contains("Domain"), "host-only by default");
    let token = session
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("convergences_session=");
    assert!(token.len() >= 43, "256-bit token");
    // Security headers on portal pages.
    let r = t
        .client(false)
        .get(t.url("auth.test", "/login"))
        .send()
        .unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
}
