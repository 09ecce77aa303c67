//! The demo's OpenID Connect relying party (src/demo/relying_party.rs), driven over HTTP like a
//! browser: sign-in from the provider, verified claims and UserInfo on its page, RP-initiated
//! logout back to it, back-channel logout, and the answers it must refuse.

use crate::harness::{within, Browser, Options, TestGateway, PASSWORD};
use crate::oidc_provider::{grant, hash, AGENT};
use convergences::demo::relying_party::{self, Settings};
use std::time::Duration;

struct Demo {
    t: TestGateway,
    base: String,
}

fn start() -> Demo {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let t = TestGateway::start_with(Options {
        extra_apps: relying_party::app_entry(
            &base,
            &hash(relying_party::CLIENT_SECRET),
            &format!("{base}/backchannel-logout"),
        ),
        ..Default::default()
    });
    grant(&t, AGENT, relying_party::SLUG, "utilisateur");
    let router = relying_party::router(Settings {
        base: base.clone(),
        issuer: t.gw.config.public_url.clone(),
        portal_host: "auth.test".into(),
        gateway: ([127, 0, 0, 1], t.port).into(),
    })
    .unwrap();
    listener.set_nonblocking(true).unwrap();
    crate::harness::rt().spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        let _ = axum::serve(l, router).await;
    });
    Demo { t, base }
}

fn page(b: &Browser, url: &str) -> (u16, String, String) {
    let (r, at) = b.visit(url);
    let status = r.status().as_u16();
    (status, r.text().unwrap(), at)
}

fn signed_in_at_rp(d: &Demo) -> Browser<'_> {
    let b = d.t.browser();
    assert_eq!(b.login(AGENT, PASSWORD).0, 303);
    let (status, html, at) = page(&b, &format!("{}/connexion", d.base));
    assert_eq!(status, 200, "{html}");
    assert_eq!(at, format!("{}/", d.base));
    assert!(html.contains("Jeton d'identité vérifié"), "{html}");
    b
}

#[test]
fn the_demo_client_signs_in_shows_verified_claims_and_logs_out_through_the_portal() {
    let d = start();
    let anon = d.t.browser();
    let (status, html, _) = page(&anon, &format!("{}/", d.base));
    assert_eq!(status, 200);
    assert!(html.contains("Se connecter avec le portail"), "{html}");
    // Not signed in at the portal: the provider asks for the password first.
    let (_, _, at) = page(&anon, &format!("{}/connexion", d.base));
    assert!(at.contains("/login?return_to="), "{at}");

    let b = signed_in_at_rp(&d);
    let (_, html, _) = page(&b, &format!("{}/", d.base));
    for want in [
        "Agnès",
        "eidas1",
        "mairie-exemple",
        "demo-rp",
        "Profil lu sur UserInfo",
    ] {
        assert!(html.contains(want), "{want}: {html}");
    }

    // Logout: the relying party, then the portal (id_token_hint: no confirmation), then back.
    let r = b
        .client
        .post(format!("{}/deconnexion", d.base))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let end = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        end.starts_with(&d.t.url("auth.test", "/oidc/logout?id_token_hint=")),
        "{end}"
    );
    let (status, html, at) = page(&b, &end);
    assert_eq!(status, 200);
    assert_eq!(at, format!("{}/deconnecte?state=deconnexion", d.base));
    assert!(html.contains("Vous êtes déconnecté"), "{html}");
    let (_, _, at) = page(&b, &d.t.url("auth.test", "/"));
    assert!(at.contains("/login"), "the portal session ended too: {at}");
    let (_, html, _) = page(&b, &format!("{}/", d.base));
    assert!(html.contains("Se connecter avec le portail"));
}

#[test]
fn a_portal_logout_reaches_the_demo_client_by_the_back_channel() {
    let d = start();
    let b = signed_in_at_rp(&d);
    b.logout();
    let waited = within(Duration::from_secs(10), || {
        let (_, html, _) = page(&b, &format!("{}/", d.base));
        html.contains("Se connecter avec le portail")
    });
    assert!(
        waited < Duration::from_secs(10),
        "the relying party's session ended"
    );
}

/// What the demo client refuses: an answer it did not ask for in this browser, a `state` that
/// is not its own, an answer from another issuer; and a level it asked for but did not get.
#[test]
fn the_demo_client_refuses_answers_it_did_not_ask_for() {
    let d = start();
    let b = d.t.browser();
    b.login(AGENT, PASSWORD);
    // No sign-in started in this browser.
    let (status, html, _) = page(&b, &format!("{}/callback?code=abc&state=xyz", d.base));
    assert_eq!(status, 400);
    assert!(html.contains("Aucune connexion n"), "{html}");
    // A sign-in started, answered with another state: refused, and the sign-in is spent.
    let r = b
        .client
        .get(format!("{}/connexion", d.base))
        .send()
        .unwrap();
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let r = b.client.get(&authorize).send().unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let forged = callback.replace("state=", "state=x");
    let (status, html, _) = page(&b, &forged);
    assert_eq!(status, 400);
    assert!(html.contains("(state)"), "{html}");
    let (status, _, _) = page(&b, &callback);
    assert_eq!(status, 400, "the genuine answer comes too late");
    // Another issuer named in the answer.
    let r = b
        .client
        .get(format!("{}/connexion", d.base))
        .send()
        .unwrap();
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let r = b.client.get(&authorize).send().unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let u = url::Url::parse(&callback).unwrap();
    let mut q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    for (k, v) in q.iter_mut() {
        if k == "iss" {
            *v = "http://evil.test".into();
        }
    }
    let mut evil = u.clone();
    evil.query_pairs_mut().clear().extend_pairs(&q);
    let (status, html, _) = page(&b, evil.as_str());
    assert_eq!(status, 400);
    assert!(html.contains("(iss)"), "{html}");
    // A second factor asked for: this account has none, so the portal asks to enrol one and
    // no code comes back.
    let (_, html, at) = page(&b, &format!("{}/connexion?niveau=eidas2", d.base));
    assert!(at.contains("/login/confirmer"), "{at}");
    assert!(html.contains("Activer la vérification en deux étapes"));
}
