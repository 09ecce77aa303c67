//! The TLS listener (docs/gateway.md#tls): HTTPS with a test certificate, Secure cookies and
//! HSTS, and the plain listener redirecting to HTTPS.

use crate::harness::{app_cookie_of, csrf_of, encode, free_port, Options, TestGateway, PASSWORD};
use std::net::SocketAddr;

/// A self-signed certificate for the test hosts, made with the openssl command.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=auth.test",
        ])
        .args([
            "-addext",
            "subjectAltName=DNS:auth.test,DNS:bip.test,DNS:nc.test",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl on PATH (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Which protocol the HTTPS client speaks: whatever ALPN gives (HTTP/2, which the gateway
/// offers first), or HTTP/1.1 only (a client that offers nothing else).
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Negotiated,
    Http1Only,
}

#[test]
fn the_gateway_serves_https_with_secure_cookies_and_redirects_plain_http() {
    serves_https(Protocol::Http1Only);
}

#[test]
fn browsers_get_http2_over_tls_through_alpn_for_the_portal_and_the_applications() {
    serves_https(Protocol::Negotiated);
}

fn serves_https(protocol: Protocol) {
    let expected = match protocol {
        Protocol::Negotiated => reqwest::Version::HTTP_2,
        Protocol::Http1Only => reqwest::Version::HTTP_11,
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let tls_port = free_port();
    let t = TestGateway::start_with(Options {
        extra_config: format!(
            "[server.tls]\nlisten = \"127.0.0.1:{tls_port}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nredirect_http = true\n",
            cert.display(),
            key.display()
        ),
        ..Default::default()
    });
    assert_eq!(
        t.gw.config.public_url,
        format!("https://auth.test:{tls_port}")
    );
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], tls_port));
    let mut builder = reqwest::blocking::Client::builder()
        .add_root_certificate(root)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .resolve("auth.test", addr)
        .resolve("bip.test", addr);
    if protocol == Protocol::Http1Only {
        builder = builder.http1_only();
    }
    let client = builder.build().unwrap();
    let base = format!("https://auth.test:{tls_port}");
    let page = client.get(format!("{base}/login")).send().unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.version(), expected, "the portal's protocol");
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        csrf_cookie.starts_with("__Host-convergences_csrf=") && csrf_cookie.contains("Secure"),
        "host-only and unforgeable from other hosts under TLS: {csrf_cookie}"
    );
    let csrf = csrf_of(&page.text().unwrap());
    let r = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "agent@mairie-exemple.fr"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-convergences_session="))
        .unwrap();
    assert!(
        session.contains("Secure")
            && session.contains("HttpOnly")
            && session.contains("Path=/")
            && !session.contains("Domain"),
        "{session}"
    );
    // The application through TLS, after the handshake (also over HTTPS).
    let mut url = format!("https://bip.test:{tls_port}/dossier");
    let mut reached = false;
    for _ in 0..5 {
        let r = client
            .get(&url)
            .header("accept", "text/html")
            .send()
            .unwrap();
        if r.status().is_redirection() {
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            assert!(loc.starts_with("https://") || loc.starts_with('/'), "{loc}");
            url = reqwest::Url::parse(&url)
                .unwrap()
                .join(&loc)
                .unwrap()
                .to_string();
            continue;
        }
        assert_eq!(r.status(), 200);
        assert_eq!(r.version(), expected, "the application's protocol");
        let echo: serde_json::Value = r.json().unwrap();
        assert_eq!(
            echo["headers"]["x-convergences-user"][0],
            encode("agent@mairie-exemple.fr")
        );
        assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
        reached = true;
        break;
    }
    assert!(reached, "the application was not reached through TLS");
    // Plain HTTP: redirected to HTTPS, but for the health probes.
    let plain = t.client(false);
    let r = plain.get(t.url("bip.test", "/x?y=1")).send().unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        format!("https://bip.test:{tls_port}/x?y=1").as_str()
    );
    assert_eq!(
        plain
            .get(t.url("auth.test", "/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        plain
            .get(t.url("unknown.test", "/"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn an_unreadable_certificate_is_a_configuration_error() {
    let text = "[server]\nlisten = \"127.0.0.1:8080\"\n[server.tls]\nlisten = \"127.0.0.1:8443\"\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n";
    let e = convergences::config::Config::from_toml("conv.toml", text, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("key `server.tls.cert_file`: cannot read /nonexistent/cert.pem"),
        "{e}"
    );
    assert!(e.contains("key `server.tls.key_file`"), "{e}");
}

#[test]
fn upstreams_can_be_reached_over_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    // The TLS upstream: another gateway's HTTPS listener (it answers an unknown host with its
    // French 404 page, which is enough to prove the TLS connection was made and verified).
    let upstream_port = free_port();
    let upstream = TestGateway::start_with(Options {
        extra_config: format!(
            "[server.tls]\nlisten = \"127.0.0.1:{upstream_port}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..Default::default()
    });
    let app = |slug: &str, sni: &str| {
        format!(
            "[[apps]]\nslug = \"{slug}\"\nname = \"{slug}\"\nhost = \"{slug}.test\"\nupstreams = [\"127.0.0.1:{upstream_port}\"]\nupstream_tls = true\nupstream_sni = \"{sni}\"\nconnect_timeout_ms = 2000\n"
        )
    };
    let t = TestGateway::start_with(Options {
        server_extra: format!("upstream_ca_file = \"{}\"\n", cert.display()),
        extra_apps: format!(
            "{}{}",
            app("secure", "bip.test"),
            app("mismatch", "elsewhere.test")
        ),
        ..Default::default()
    });
    let referent = t.user_id("referent@mairie-exemple.fr");
    let mairie = t.structure_id("mairie-exemple");
    for slug in ["secure", "mismatch"] {
        t.block_on(
            t.gw.dir
                .assign_role(referent, slug, "utilisateur", mairie, None),
        )
        .unwrap();
    }
    t.gw.user_changed(referent);
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    let addr = SocketAddr::from(([127, 0, 0, 1], t.port));
    let through = |slug: &str| {
        // Handshake for that host, then the request with its cookie.
        let (r, handshake) = b.authorize(slug, &format!("http://{slug}.test:{}/", t.port));
        let callback = r.headers()["location"].to_str().unwrap().to_string();
        let c = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&format!("{slug}.test"), addr)
            .build()
            .unwrap();
        let cookie = app_cookie_of(&c.get(&callback).header("cookie", handshake).send().unwrap());
        c.get(format!("http://{slug}.test:{}/", t.port))
            .header("cookie", cookie)
            .send()
            .unwrap()
    };
    let r = through("secure");
    assert_eq!(r.status(), 404, "answered by the TLS upstream");
    assert!(r.text().unwrap().contains("Adresse inconnue"));
    // A certificate that does not match the name: refused, 502.
    let r = through("mismatch");
    assert_eq!(r.status(), 502);
    drop(upstream);
}
