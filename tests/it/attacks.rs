//! Regression tests for the attacks of docs/security.md, each over a class of payloads: forged
//! grants through directory text, header spellings, return URLs a browser reads differently,
//! and cookies an application tries to set.

use crate::harness::{claims_of, csrf_of, encode, TestGateway, HANDSHAKE_COOKIE, PASSWORD};
use convergences::directory::structures::NewStructure;
use convergences::proxy::identity_encoding::{decode, decode_grants, decode_path};

/// Structure names a référent could choose to make a naive reader of the roles header, or of
/// the structure path, see something nobody granted.
const EVIL_NAMES: &[&str] = &[
    "x,administrateur@cig-exemple",
    "a@b",
    "Saint-Denis / CCAS",
    "100% \"cité\"; admin=1",
    "O'Neil, Dupont & fils",
    "plus+space tab",
    "%2C%40 déjà encodé",
];

#[test]
fn no_directory_text_can_forge_a_grant_in_the_identity_headers_or_the_assertion() {
    let t = TestGateway::start();
    let agent = t.user_id("agent@mairie-exemple.fr");
    let mairie = t
        .block_on(t.gw.dir.structure_by_name("mairie-exemple"))
        .unwrap()
        .unwrap();
    for name in EVIL_NAMES {
        let id = t
            .block_on(t.gw.dir.create_structure(NewStructure {
                parent_id: Some(mairie.id),
                short_name: name,
                long_name: name,
                domains: &[],
            }))
            .unwrap();
        t.block_on(t.gw.dir.assign_role(agent, "bip", "utilisateur", id, None))
            .unwrap();
    }
    t.gw.user_changed(agent);
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let echo = b.get_json(&t.url("bip.test", "/"));
    let roles = echo["headers"]["x-convergences-roles"][0].as_str().unwrap();

    // A naive reader: split on ',', then on '@', then on '/'.
    let entries: Vec<&str> = roles.split(',').collect();
    assert_eq!(entries.len(), EVIL_NAMES.len() + 1, "{roles}");
    for e in &entries {
        let parts: Vec<&str> = e.split('@').collect();
        assert_eq!(parts.len(), 2, "one role and one path: {e}");
        assert_eq!(parts[0], "utilisateur", "{e}");
        assert!(
            parts[1].bytes().all(|c| c.is_ascii_graphic() && c != b','),
            "{e}"
        );
    }
    // The documented decoding gives back exactly what was granted.
    let mut got = decode_grants(roles).unwrap();
    got.sort();
    let mut want: Vec<(String, Vec<String>)> = EVIL_NAMES
        .iter()
        .map(|n| {
            (
                "utilisateur".to_string(),
                vec!["mairie-exemple".to_string(), n.to_string()],
            )
        })
        .collect();
    want.push((
        "utilisateur".to_string(),
        vec!["mairie-exemple".to_string()],
    ));
    want.sort();
    assert_eq!(got, want);

    // The assertion pairs each role with its structure, in the same encoding.
    let jwt = echo["headers"]["x-convergences-assertion"][0]
        .as_str()
        .unwrap();
    let claims = claims_of(jwt);
    let grants = claims["grants"].as_array().unwrap();
    assert_eq!(grants.len(), EVIL_NAMES.len() + 1);
    for g in grants {
        assert_eq!(g["role"], "utilisateur");
        let path = decode_path(g["structure"].as_str().unwrap()).unwrap();
        assert_eq!(path[0], "mairie-exemple");
    }
    assert_eq!(claims["structure_path"], "mairie-exemple");

    // A user whose own structure has such a name: one value, decoded back whole.
    let evil = t
        .block_on(t.gw.dir.structure_by_name(EVIL_NAMES[0]))
        .unwrap()
        .unwrap();
    t.block_on(
        sqlx::query("UPDATE users SET structure_id = $1, first_name = $2 WHERE id = $3")
            .bind(evil.id)
            .bind("Zoé, \"la\" 1ère")
            .bind(agent)
            .execute(&t.gw.dir.pool),
    )
    .unwrap();
    t.gw.user_changed(agent);
    let echo = b.get_json(&t.url("bip.test", "/"));
    let structure = echo["headers"]["x-convergences-structure"][0]
        .as_str()
        .unwrap();
    assert_eq!(
        decode_path(structure).unwrap(),
        vec!["mairie-exemple", EVIL_NAMES[0]]
    );
    let name = echo["headers"]["x-convergences-name"][0].as_str().unwrap();
    assert_eq!(decode(name).unwrap(), "Zoé, \"la\" 1ère Agent");
}

#[test]
fn no_spelling_of_an_identity_or_forwarding_header_reaches_an_application() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    let referent = t.user_id("referent@mairie-exemple.fr");
    t.block_on(
        t.gw.dir
            .assign_role(referent, "site", "utilisateur", 2, None),
    )
    .unwrap();
    t.gw.user_changed(referent);
    b.get_json(&t.url("bip.test", "/"));
    let spoofs = [
        "X_Convergences_User",
        "x-convergences_user",
        "X.Convergences.Roles",
        "X_CONVERGENCES_ASSERTION",
        "Remote_User",
        "Remote.User",
        "Forwarded",
        "X-Forwarded-For",
        "X_Forwarded_For",
        "X-Forwarded-Host",
        "X_Forwarded_Host",
        "X-Forwarded-Proto",
        "X-Real-IP",
        "X_Real_IP",
        "Client-IP",
        "Client_IP",
        "True-Client-IP",
        "X-Client-IP",
        "X-Original-URL",
    ];
    for (host, path) in [("bip.test", "/x"), ("auth.test", "/site/x")] {
        let mut req = b.client.get(t.url(host, path));
        for name in spoofs {
            req = req.header(name, "spoofed");
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 200, "{host}");
        let echo: serde_json::Value = r.json().unwrap();
        let text = echo["headers"].to_string();
        assert!(!text.contains("spoofed"), "{host}: {text}");
        let h = |n: &str| echo["headers"][n][0].as_str().unwrap_or("").to_string();
        assert_eq!(h("x-forwarded-for"), "127.0.0.1");
        assert_eq!(h("x-real-ip"), "127.0.0.1");
        assert_eq!(h("x-forwarded-proto"), "http");
        let authority = format!("{}:{}", host, t.port);
        assert_eq!(h("x-forwarded-host"), authority);
        assert_eq!(
            h("forwarded"),
            format!("for=127.0.0.1;proto=http;host=\"{authority}\"")
        );
    }
}

/// Characters a browser drops, trims or reinterprets in a URL, and a few it does not but that
/// have no business in a return URL.
fn tricky_chars() -> Vec<char> {
    let mut v: Vec<char> = (0u8..0x20).map(char::from).collect();
    v.extend([
        '\u{7f}', ' ', '\\', '\u{85}', '\u{a0}', '\u{2028}', '\u{200b}', '\u{feff}',
    ]);
    v
}

fn tricky_returns() -> Vec<String> {
    let mut out = Vec::new();
    for c in tricky_chars() {
        out.push(format!("/{c}/evil.test/"));
        out.push(format!("{c}//evil.test/"));
        out.push(format!("/{c}{c}evil.test"));
        out.push(format!("/aia{c}"));
    }
    out
}

#[test]
fn return_urls_a_browser_could_read_as_another_site_are_never_followed() {
    let t = TestGateway::start();
    // The login form does not carry them, and logging in with them lands on the portal.
    for bad in tricky_returns() {
        let b = t.browser();
        let enc: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let (page, _) = b.visit(&t.url("auth.test", &format!("/login?return_to={enc}")));
        // A NUL never reaches a handler: the French 400 page (docs/security.md).
        let nul = bad.contains('\0');
        assert_eq!(page.status(), if nul { 400 } else { 200 }, "{bad:?}");
        assert!(!page.text().unwrap().contains("evil.test"), "{bad:?}");
        let (page, _) = b.visit(&t.url("auth.test", "/login"));
        let csrf = csrf_of(&page.text().unwrap());
        let r = b
            .client
            .post(t.url("auth.test", "/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "agent@mairie-exemple.fr"),
                ("password", PASSWORD),
                ("return_to", bad.as_str()),
            ])
            .send()
            .unwrap();
        if nul {
            assert_eq!(r.status(), 400, "{bad:?}: never a 500");
            continue;
        }
        assert_eq!(r.status(), 303, "{bad:?}: never a 500");
        assert_eq!(r.headers()["location"], "/", "{bad:?}");
    }
    // At the application callback, with a valid code: the application's root instead.
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let app_host = t.client(false);
    for bad in tricky_returns().into_iter().step_by(3) {
        let (r, handshake) = b.authorize("bip", &t.url("bip.test", "/"));
        let callback = r.headers()["location"].to_str().unwrap().to_string();
        let code = callback
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let enc: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let r = app_host
            .get(t.url(
                "bip.test",
                &format!("/_convergences/callback?code={code}&return_to={enc}"),
            ))
            .header("cookie", handshake)
            .send()
            .unwrap();
        assert_eq!(r.status(), 302, "{bad:?}");
        assert_eq!(r.headers()["location"], "/", "{bad:?}");
    }
    // An absolute return URL with any of them is refused by the portal's handshake.
    for c in tricky_chars() {
        let bad = format!("http://bip.test:{}/{c}", t.port);
        let (r, _) = b.authorize("bip", &bad);
        assert_eq!(r.status(), 400, "{bad:?}");
    }
}

#[test]
fn an_application_can_neither_set_nor_shadow_the_gateways_cookies() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    b.get_json(&t.url("bip.test", "/"));
    let attempts = [
        "convergences_session=x; Domain=test; Path=/",
        "convergences_app=x",
        "convergences_csrf=x; Path=/login",
        "convergences_handshake=x; Max-Age=600",
        "__Host-convergences_session=x; Secure; Path=/",
        "__Secure-convergences_csrf=x; Secure",
        " convergences_csrf =x",
        "convergences_app",
    ];
    let mut query = String::from("/page?");
    for a in attempts {
        let enc: String = form_urlencoded::byte_serialize(a.as_bytes()).collect();
        query.push_str(&format!("set_cookie={enc}&"));
    }
    query.push_str("set_cookie=theirs%3D1");
    let r = b.client.get(t.url("bip.test", &query)).send().unwrap();
    assert_eq!(r.status(), 200);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        set,
        vec!["theirs=1".to_string()],
        "only the application's own"
    );
    // The handshake cookie is the gateway's too: never forwarded to the application.
    let r = b
        .client
        .get(t.url("bip.test", "/x"))
        .header(
            "cookie",
            format!(
                "{}; {HANDSHAKE_COOKIE}=abc; mine=2",
                b.cookies(&t.url("bip.test", "/"))
            ),
        )
        .send()
        .unwrap();
    let echo: serde_json::Value = r.json().unwrap();
    let cookies = echo["headers"]["cookie"].to_string();
    assert!(
        cookies.contains("mine=2") && !cookies.contains("convergences_"),
        "{cookies}"
    );
    assert_eq!(
        echo["headers"]["x-convergences-user"][0],
        encode("referent@mairie-exemple.fr")
    );
}

#[test]
fn a_made_up_pre_session_cookie_does_not_carry_a_login() {
    let t = TestGateway::start();
    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", "/login"));
    let csrf = csrf_of(&page.text().unwrap());
    let genuine = b.cookies(&t.url("auth.test", "/login"));
    // The token is bound to the genuine cookie: with any other value, the form has expired.
    for forged in [
        "convergences_csrf=abc",
        "convergences_csrf=",
        "convergences_csrf=a.1.b",
    ] {
        let r = t
            .client(false)
            .post(t.url("auth.test", "/login"))
            .header("cookie", forged)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "agent@mairie-exemple.fr"),
                ("password", PASSWORD),
            ])
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{forged}");
        assert!(r.text().unwrap().contains("Le formulaire a expiré"));
    }
    let r = t
        .client(false)
        .post(t.url("auth.test", "/login"))
        .header("cookie", genuine)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "agent@mairie-exemple.fr"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
}
