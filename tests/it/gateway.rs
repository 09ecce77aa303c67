//! The gateway contract (docs/gateway.md) from the outside: what browsers, API clients and
//! applications see.

use crate::harness::{csrf_of, encode, TestGateway, HANDSHAKE_COOKIE, PASSWORD};
use crate::page::Page;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

#[test]
fn login_failure_is_the_same_for_unknown_accounts_and_success_shows_the_portal() {
    let t = TestGateway::start();
    let b = t.browser();
    let (status, _) = b.login("agent@mairie-exemple.fr", "Wrong-password-2026!");
    assert_eq!(status, 401);
    let (status_unknown, _) = b.login("nobody@mairie-exemple.fr", "Wrong-password-2026!");
    assert_eq!(status_unknown, 401);
    // Same message for both, and still on the login form.
    for email in ["agent@mairie-exemple.fr", "nobody@mairie-exemple.fr"] {
        let (page, _) = b.visit(&t.url("auth.test", "/login"));
        let csrf = csrf_of(&page.text().unwrap());
        let r = b
            .client
            .post(t.url("auth.test", "/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", "Bad-password-2026!"),
            ])
            .send()
            .unwrap();
        let p = Page::of(r);
        assert_eq!(p.h1(), "Se connecter", "{p:?}");
        assert_eq!(
            p.text_at("#login-error").as_deref(),
            Some("Adresse e-mail ou mot de passe incorrect."),
            "{p:?}"
        );
        assert!(!p.has(".user-name"), "{p:?}");
        assert!(!p.text().contains("Connecté en tant que"), "{p:?}");
    }
    assert_eq!(t.block_on(t.gw.dir.count_audit("login_failed")).unwrap(), 4);

    let (status, location) = b.login("Agent@Mairie-Exemple.fr", PASSWORD);
    assert_eq!((status, location.as_str()), (303, "/"));
    let p = b.open("/");
    assert_eq!(p.h1(), "Vos applications", "{p:?}");
    assert_eq!(
        p.text_at(".user-name").as_deref(),
        Some("Connecté en tant que Agnès Agent"),
        "{p:?}"
    );
    assert_eq!(
        p.text_at(".user-name strong").as_deref(),
        Some("Agnès Agent")
    );
    assert!(p.has_link("Déconnexion"), "{p:?}");
    assert_eq!(t.block_on(t.gw.dir.count_audit("login")).unwrap(), 1);
}

#[test]
fn login_without_csrf_token_is_refused() {
    let t = TestGateway::start();
    let b = t.browser();
    let r = b
        .client
        .post(t.url("auth.test", "/login"))
        .form(&[("email", "agent@mairie-exemple.fr"), ("password", PASSWORD)])
        .send()
        .unwrap();
    let p = Page::of(r);
    assert_eq!(p.status, 400);
    assert_eq!(p.h1(), "Se connecter", "{p:?}");
    assert!(
        p.text_at("#login-error")
            .is_some_and(|e| e.starts_with("Le formulaire a expiré")),
        "{p:?}"
    );
    assert_eq!(t.block_on(t.gw.dir.count_audit("login")).unwrap(), 0);
}

#[test]
fn tiles_match_roles() {
    let t = TestGateway::start();
    let cases: [(&str, &[&str]); 3] = [
        (
            "agent@mairie-exemple.fr",
            &["BIP", "Annuaire des identités et des accès"],
        ),
        (
            "referent@mairie-exemple.fr",
            &[
                "BIP",
                "Net-Cotisations",
                "Annuaire des identités et des accès",
            ],
        ),
        (
            "agent.ccas@mairie-exemple.fr",
            &["Annuaire des identités et des accès"],
        ),
    ];
    for (email, expected) in cases {
        let b = t.browser();
        assert_eq!(b.login(email, PASSWORD).0, 303);
        assert_eq!(b.open("/").texts(".tile-name"), *expected, "{email}");
    }
    // Tiles are plain links to the application entries.
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let p = b.open("/");
    assert!(
        p.attrs("a.tile", "href")
            .contains(&format!("http://bip.test:{}/", t.port)),
        "{p:?}"
    );
}

fn jwks(t: &TestGateway) -> JwkSet {
    let r = t
        .client(false)
        .get(t.url("auth.test", "/.well-known/jwks.json"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

#[test]
fn proxied_request_carries_identity_headers_and_a_jwt_that_verifies_against_the_jwks() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let echo = b.get_json(&t.url("bip.test", "/dossiers?id=7"));
    assert_eq!(echo["app"], "bip");
    assert_eq!(echo["path"], "/dossiers?id=7");
    assert_eq!(
        header(&echo, "x-convergences-user"),
        Some(encode("agent@mairie-exemple.fr").as_str())
    );
    assert_eq!(
        header(&echo, "x-convergences-name"),
        Some("Agn%C3%A8s%20Agent"),
        "percent-encoded UTF-8"
    );
    assert_eq!(
        header(&echo, "x-convergences-structure"),
        Some("mairie-exemple")
    );
    assert_eq!(
        header(&echo, "x-convergences-roles"),
        Some("utilisateur@mairie-exemple")
    );
    let uid = header(&echo, "x-convergences-user-id").unwrap().to_string();
    assert_eq!(uid.len(), 36, "a stable UUID");

    let jwt = header(&echo, "x-convergences-assertion").unwrap();
    let set = jwks(&t);
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&["bip"]);
    v.set_issuer(&[format!("http://auth.test:{}", t.port)]);
    let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], uid.as_str());
    assert_eq!(claims["email"], "agent@mairie-exemple.fr");
    assert_eq!(claims["name"], "Agnès Agent");
    assert_eq!(claims["roles"], serde_json::json!(["utilisateur"]));
    assert_eq!(claims["structures"], serde_json::json!(["mairie-exemple"]));
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 60);

    // Another key does not verify it, and another audience is refused.
    let dir = tempfile::tempdir().unwrap();
    let other = convergences::proxy::assertion::Signer::load_or_generate(
        &dir.path().join("other.pem"),
        "x".into(),
        60,
    )
    .unwrap();
    let other_set: JwkSet = serde_json::from_str(other.jwks_json()).unwrap();
    let other_key = DecodingKey::from_jwk(&other_set.keys[0]).unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(jwt, &other_key, &v).is_err());
    v.set_audience(&["netcotisations"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v).is_err());
}

#[test]
fn client_identity_headers_and_gateway_cookies_never_reach_the_upstream() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    // Establish the app-host cookie through the handshake first.
    b.get_json(&t.url("bip.test", "/"));
    let r = b
        .client
        .get(t.url("bip.test", "/x"))
        .header("X-Convergences-User", "boss@cig-exemple.fr")
        .header("X-Convergences-Roles", "administrateur@cig-exemple")
        .header("x-convergences-anything", "1")
        .header(
            "Cookie",
            format!(
                "{}; theirs=1; convergences_session=forged",
                b.cookies(&t.url("bip.test", "/"))
            ),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // The upstream tried to set the gateway's cookie: the browser never sees that.
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("convergences_session")));
    let echo: serde_json::Value = r.json().unwrap();
    assert_eq!(
        echo["headers"]["x-convergences-user"],
        serde_json::json!([encode("agent@mairie-exemple.fr")])
    );
    assert_eq!(
        echo["headers"]["x-convergences-roles"],
        serde_json::json!(["utilisateur@mairie-exemple"])
    );
    assert!(echo["headers"]["x-convergences-anything"].is_null());
    let cookies = echo["headers"]["cookie"].to_string();
    assert!(cookies.contains("theirs=1"), "{cookies}");
    assert!(!cookies.contains("convergences_"), "{cookies}");

    // On the path-prefix application (portal host, shared cookie, custom user header).
    let r = b
        .client
        .get(t.url("auth.test", "/site/page"))
        .header("Remote-User", "boss")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "agent has no role on the site");
    t.block_on(t.gw.dir.assign_role(
        t.user_id("agent@mairie-exemple.fr"),
        "site",
        "utilisateur",
        2,
        None,
    ))
    .unwrap();
    t.gw.user_changed(t.user_id("agent@mairie-exemple.fr"));
    let r = b
        .client
        .get(t.url("auth.test", "/site/page"))
        .header("Remote-User", "boss")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().unwrap();
    assert_eq!(echo["app"], "site");
    assert_eq!(
        echo["headers"]["remote-user"],
        serde_json::json!([encode("agent@mairie-exemple.fr")])
    );
    assert!(!echo["headers"]["cookie"]
        .to_string()
        .contains("convergences_session"));
}

#[test]
fn without_session_browsers_are_redirected_and_api_clients_get_401() {
    let t = TestGateway::start();
    let c = t.client(false);
    let r = c
        .get(t.url("bip.test", "/dossiers?id=1"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let expected_return: String = form_urlencoded::byte_serialize(
        format!("http://bip.test:{}/dossiers?id=1", t.port).as_bytes(),
    )
    .collect();
    let (before, hs) = loc.split_once("&hs=").expect("a browser binding");
    assert_eq!(
        before,
        format!(
            "http://auth.test:{}/sso/authorize?app=bip&return_to={expected_return}",
            t.port
        )
    );
    // The binding is the hash of the handshake cookie set on the application host.
    let set = r.headers()["set-cookie"].to_str().unwrap();
    let value = set
        .strip_prefix(&format!("{HANDSHAKE_COOKIE}="))
        .and_then(|v| v.split(';').next())
        .expect("a handshake cookie");
    assert_eq!(hs, convergences::session::browser_binding(value));
    assert!(
        set.contains("HttpOnly") && set.contains("Max-Age="),
        "{set}"
    );
    // Path-prefix app shares the portal cookie: straight to the login form.
    let r = c
        .get(t.url("auth.test", "/site/"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&format!("http://auth.test:{}/login?return_to=", t.port)));
    // API client, or a POST: 401, no redirect.
    let r = c
        .get(t.url("bip.test", "/api/v1"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(t.url("bip.test", "/form"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    // A forged cookie is no session.
    let r = c
        .get(t.url("bip.test", "/api"))
        .header(
            "cookie",
            "convergences_app=forged; convergences_session=forged",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    // Unknown hosts get the French 404 page.
    let p = Page::of(c.get(t.url("unknown.test", "/")).send().unwrap());
    assert_eq!(p.assert_error(404).heading, "Adresse inconnue");
}

#[test]
fn a_user_without_role_gets_the_french_403_page() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let (r, url) = b.visit(&t.url("nc.test", "/"));
    assert_eq!(url, t.url("nc.test", "/"));
    let p = Page::of(r);
    assert_eq!(p.assert_error(403).heading, "Accès refusé");
    // The page's CSP allows the portal's stylesheet and nothing else.
    let r = b.client.get(t.url("nc.test", "/")).send().unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.starts_with(&format!(
            "default-src 'none'; style-src http://auth.test:{};",
            t.port
        )),
        "{csp}"
    );
    assert_eq!(
        p.link("Retour au portail"),
        Some(format!("http://auth.test:{}/", t.port)),
        "link back to the portal"
    );
}

#[test]
fn logout_refuses_the_next_proxied_request_on_every_host() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    t.block_on(t.gw.dir.assign_role(
        t.user_id("referent@mairie-exemple.fr"),
        "site",
        "utilisateur",
        2,
        None,
    ))
    .unwrap();
    t.gw.user_changed(t.user_id("referent@mairie-exemple.fr"));
    for (host, path, header) in [
        ("bip.test", "/", "x-convergences-user"),
        ("nc.test", "/", "x-convergences-user"),
        ("auth.test", "/site/", "remote-user"),
    ] {
        assert_eq!(
            b.get_json(&t.url(host, path))["headers"][header][0],
            encode("referent@mairie-exemple.fr")
        );
    }
    b.logout();
    for (host, path) in [("bip.test", "/"), ("nc.test", "/"), ("auth.test", "/site/")] {
        let r = b
            .client
            .get(t.url(host, path))
            .header("accept", "application/json")
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{host}{path} after logout");
        let (page, url) = b.visit(&t.url(host, path));
        assert!(url.starts_with(&t.url("auth.test", "/login")), "{url}");
        assert_eq!(Page::of(page).h1(), "Se connecter");
    }
    assert_eq!(t.block_on(t.gw.dir.count_audit("logout")).unwrap(), 1);
}

#[test]
fn return_urls_to_foreign_hosts_are_refused() {
    let t = TestGateway::start();
    let b = t.browser();
    let (status, location) = b.login_with_return(
        "agent@mairie-exemple.fr",
        PASSWORD,
        "http://evil.test/steal",
    );
    assert_eq!((status, location.as_str()), (303, "/"));
    let (status, location) = t.browser().login_with_return(
        "agent@mairie-exemple.fr",
        PASSWORD,
        &format!("http://bip.test:{}/ok", t.port),
    );
    assert_eq!(
        (status, location),
        (303, format!("http://bip.test:{}/ok", t.port))
    );
    for bad in [
        "http://evil.test/".to_string(),
        format!("http://bip.test.evil.test:{}/", t.port),
        format!("http://nc.test:{}/", t.port),
        "//evil.test/".to_string(),
    ] {
        let enc: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let r = b
            .client
            .get(t.url(
                "auth.test",
                &format!("/sso/authorize?app=bip&return_to={enc}"),
            ))
            .send()
            .unwrap();
        let e = Page::of(r).assert_error(400);
        assert_eq!(
            e.message, "Ce lien de connexion n'est pas valide. Repassez par le portail.",
            "{bad}"
        );
    }
}

#[test]
fn health_readiness_metrics_and_jwks_are_served_on_the_portal_host() {
    let token = "metrics-token-0123456789abcdef-0123456789";
    let t = TestGateway::start_with(crate::harness::Options {
        server_extra: format!("metrics_token = \"{token}\"\n"),
        ..Default::default()
    });
    let c = t.client(false);
    assert_eq!(
        c.get(t.url("auth.test", "/healthz"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "ok\n"
    );
    let r = c.get(t.url("auth.test", "/readyz")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "database: ok\nsessions: ok\n");
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    b.get_json(&t.url("bip.test", "/"));
    // /metrics needs the bearer token: none or a wrong one is a 401.
    let r = c.get(t.url("auth.test", "/metrics")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert!(!r.text().unwrap().contains("convergences_"));
    for wrong in [
        format!("Bearer {token}x"),
        format!("Bearer {}", &token[..token.len() - 1]),
        format!("Basic {token}"),
        token.to_string(),
    ] {
        let r = c
            .get(t.url("auth.test", "/metrics"))
            .header("authorization", wrong.as_str())
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{wrong}");
    }
    let m = c
        .get(t.url("auth.test", "/metrics"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.contains("convergences_requests_total{app=\"bip\",status=\"200\"}"),
        "{m}"
    );
    assert!(
        m.contains("convergences_logins_total{result=\"ok\"}"),
        "{m}"
    );
    assert!(
        m.contains("convergences_request_duration_seconds_bucket"),
        "{m}"
    );
    assert!(
        m.contains("convergences_identity_cache_total{result=\"hit\"}"),
        "{m}"
    );
    if crate::harness::redis_url().is_none() {
        assert!(m.contains("convergences_sessions_active "), "{m}");
    }
    let set = jwks(&t);
    assert_eq!(set.keys.len(), 1);
    assert!(set.keys[0].common.key_id.is_some());
    // The stylesheet is served by the gateway itself.
    let css = c
        .get(t.url("auth.test", "/_static/style.css"))
        .send()
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[test]
fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    // Not trusted: a client cannot choose its address.
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    b.get_json(&t.url("bip.test", "/"));
    let r = b
        .client
        .get(t.url("bip.test", "/"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .unwrap();
    let echo: serde_json::Value = r.json().unwrap();
    assert_eq!(
        echo["headers"]["x-forwarded-for"],
        serde_json::json!(["127.0.0.1"])
    );
    // Behind a trusted load balancer (here: the loopback), the forwarded client is used.
    let t = TestGateway::start_with(crate::harness::Options {
        trusted_proxies: Some("127.0.0.1/32".into()),
        ..Default::default()
    });
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    b.get_json(&t.url("bip.test", "/"));
    let r = b
        .client
        .get(t.url("bip.test", "/"))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
        .send()
        .unwrap();
    let echo: serde_json::Value = r.json().unwrap();
    assert_eq!(
        echo["headers"]["x-forwarded-for"],
        serde_json::json!(["203.0.113.7"])
    );
}

#[test]
fn a_failing_directory_fails_closed_with_a_503_and_recovers() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(b.get_json(&t.url("bip.test", "/"))["app"], "bip");
    let agent = t.user_id("agent@mairie-exemple.fr");
    // The directory cannot answer (table gone): nothing is let through unchecked.
    t.block_on(
        sqlx::query("ALTER TABLE role_assignments RENAME TO role_assignments_away")
            .execute(&t.gw.dir.pool),
    )
    .unwrap();
    t.gw.user_changed(agent);
    let r = b.client.get(t.url("bip.test", "/")).send().unwrap();
    assert_eq!(
        Page::of(r).assert_error(503).heading,
        "Service momentanément indisponible"
    );
    let r = b.client.get(t.url("auth.test", "/readyz")).send().unwrap();
    assert_eq!(r.status(), 200, "the database itself still answers");
    // Back: the next request works again, with no restart.
    t.block_on(
        sqlx::query("ALTER TABLE role_assignments_away RENAME TO role_assignments")
            .execute(&t.gw.dir.pool),
    )
    .unwrap();
    assert_eq!(
        b.client
            .get(t.url("bip.test", "/"))
            .send()
            .unwrap()
            .status(),
        200
    );
}
