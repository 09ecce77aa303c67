//! Interoperability with a real OpenID Connect provider nobody here wrote: panva's certified
//! `oidc-provider` (tests/e2e/idp/, pinned), configured like ProConnect (signed userinfo, `acr`
//! values, the `siret` and `usual_name` claims, `client_secret_post`, PKCE, RP-initiated
//! logout). The gateway is driven as a browser drives it, on the back ends of the run: SQLite
//! and in-process sessions by default, PostgreSQL and Redis with TEST_DATABASE_URL and
//! TEST_REDIS_URL; tests/e2e/run.sh runs it both ways. Forged tokens, which a real provider
//! cannot be made to sign, are tested against the fake provider (identity_providers.rs).
//! Skipped only where Node.js is missing, unless CONVERGENCES_INTEROP=1 requires it.

use crate::harness::{absolute, csrf_of, free_port, Browser, Options, TestGateway};
use serde_json::{json, Value};
use std::io::BufRead;
use std::time::Duration;

const AGENT: &str = "agent@mairie-exemple.fr";
const CCAS_AGENT: &str = "agent.ccas@mairie-exemple.fr";

/// The provider, in its own process, with its accounts in a file it reads at each use.
struct RealIdp {
    issuer: String,
    accounts: std::path::PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for RealIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealIdp {
    /// Starts tests/e2e/idp on `port` for a gateway with these redirect URIs.
    fn start(port: u16, redirect_uris: &[String], post_logout: &str, accounts: &Value) -> RealIdp {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("accounts.json");
        std::fs::write(&file, accounts.to_string()).expect("accounts file");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/idp/run.sh");
        let mut child = std::process::Command::new(script)
            .env("IDP_PORT", port.to_string())
            .env("IDP_REDIRECT_URI", redirect_uris.join(" "))
            .env("IDP_POST_LOGOUT_URI", post_logout)
            .env("IDP_ACCOUNTS_FILE", &file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start the provider");
        let out = child.stdout.take().expect("provider output");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("idp ready") {
                    let _ = tx.send(());
                }
            }
        });
        // The first run may install the package (npm ci).
        rx.recv_timeout(Duration::from_secs(180))
            .expect("the provider is ready");
        RealIdp {
            issuer: format!("http://127.0.0.1:{port}"),
            accounts: file,
            child,
            _dir: dir,
        }
    }

    fn set_accounts(&self, accounts: &Value) {
        std::fs::write(&self.accounts, accounts.to_string()).expect("accounts file");
    }
}

/// The demo's agent as ProConnect describes her, and the people the refusals need.
fn accounts(agent_email: &str) -> Value {
    json!({
        "pc-agnes-0001": {
            "email": agent_email, "given_name": "Agnès", "usual_name": "Agent",
            "uid": "agnes-0001", "siret": "21750001600019"
        },
        "pc-no-acr": {
            "email": CCAS_AGENT, "given_name": "Céline", "usual_name": "Ccas", "acr": null
        },
        "pc-unverified": {
            "email": CCAS_AGENT, "given_name": "Céline", "usual_name": "Ccas",
            "email_verified": false
        },
        "pc-outsider": {
            "email": "agent@gmail.example", "given_name": "Oscar", "usual_name": "Dehors"
        }
    })
}

/// Two providers of the gateway at the same `oidc-provider`: "proconnect", registered as the
/// documentation registers ProConnect (`acr_values`, `trust_email`), and "mairie", a generic
/// provider that must say the address is verified.
fn providers(issuer: &str) -> String {
    let common = format!(
        "issuer = \"{issuer}\"\nclient_id = \"convergences-demo\"\nclient_secret = \"demo-secret-not-for-production\"\n"
    );
    format!(
        r#"
[[identity_providers]]
slug = "proconnect"
name = "ProConnect"
{common}scopes = ["openid", "email", "given_name", "usual_name", "uid", "siret"]
acr_values = ["eidas1", "eidas2", "eidas3"]
second_factor_acr = ["eidas2", "eidas3"]
trust_email = true
[[identity_providers]]
slug = "mairie"
name = "le fournisseur de la mairie"
{common}scopes = ["openid", "email", "given_name", "usual_name"]
trust_email = false
"#
    )
}

/// Where a trip through the provider ended, and the return URL it brought.
struct Trip {
    status: u16,
    url: String,
    html: String,
    callback: Option<String>,
}

/// Starts the sign-in at provider `slug`, chooses the account `sub` on the provider's page,
/// and follows every redirect back.
fn sign_in_as(b: &Browser, idp: &RealIdp, slug: &str, sub: &str) -> Trip {
    let mut url = b.t.url("auth.test", &format!("/login/fournisseur/{slug}"));
    let mut callback = None;
    let mut chosen = false;
    for _ in 0..20 {
        let r = b
            .client
            .get(&url)
            .header("accept", "text/html")
            .send()
            .expect("request");
        if r.status().is_redirection() {
            let loc = r.headers()["location"].to_str().expect("location");
            url = absolute(&url, loc);
            if url.contains("/retour?") {
                callback = Some(url.clone());
            }
            continue;
        }
        let status = r.status().as_u16();
        let html = r.text().expect("page").replace("&#39;", "'");
        if url.starts_with(&idp.issuer) && url.contains("/interaction/") && !chosen {
            chosen = true;
            let path = reqwest::Url::parse(&url).expect("url").path().to_string();
            let r = b
                .client
                .post(format!("{}{path}/login", idp.issuer))
                .form(&[("account", sub)])
                .send()
                .expect("choose the account");
            assert!(r.status().is_redirection(), "{}", r.status());
            url = absolute(&url, r.headers()["location"].to_str().unwrap());
            continue;
        }
        return Trip {
            status,
            url,
            html,
            callback,
        };
    }
    panic!("too many redirects");
}

fn signed_in(b: &Browser) -> bool {
    let (r, url) = b.visit(&b.t.url("auth.test", "/"));
    r.status() == 200 && !url.contains("/login")
}

fn links_of(t: &TestGateway, email: &str) -> usize {
    let id = t.user_id(email);
    t.block_on(t.gw.dir.identity_links(id)).unwrap().len()
}

fn refused(t: &TestGateway, trip: &Trip, status: u16, text: &str) {
    assert_eq!(trip.status, status, "{}", trip.html);
    assert!(
        trip.url
            .starts_with(&t.url("auth.test", "/login/fournisseur/")),
        "{}",
        trip.url
    );
    assert!(
        trip.html.contains(text),
        "expected {text:?} in {}",
        trip.html
    );
}

#[test]
fn interop_with_oidc_provider() {
    let required = std::env::var("CONVERGENCES_INTEROP").is_ok_and(|v| v == "1");
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(!required, "CONVERGENCES_INTEROP=1 but Node.js is missing");
        eprintln!("skipped here: needs Node.js");
        return;
    }
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let t = TestGateway::start_with(Options {
        extra_config: providers(&issuer),
        ..Default::default()
    });
    let uris: Vec<String> = ["proconnect", "mairie"]
        .iter()
        .map(|s| t.url("auth.test", &format!("/login/fournisseur/{s}/retour")))
        .collect();
    let idp = RealIdp::start(
        idp_port,
        &uris,
        &t.url("auth.test", "/login/fournisseur/deconnexion"),
        &accounts(AGENT),
    );
    for slug in ["proconnect", "mairie"] {
        let p = t.gw.providers.get(slug).expect("provider");
        t.block_on(p.refresh()).expect("discovery and keys read");
    }
    let b = t.browser();
    let (page, _) = b.visit(&t.url("auth.test", "/login"));
    let html = page.text().unwrap().replace("&#39;", "'");
    assert!(html.contains("S'identifier avec ProConnect"), "{html}");

    // First sign-in: linked by e-mail, the session is ProConnect's, the owner is told.
    let trip = sign_in_as(&b, &idp, "proconnect", "pc-agnes-0001");
    assert_eq!(
        (trip.status, trip.url.as_str()),
        (200, t.url("auth.test", "/").as_str()),
        "{}",
        trip.html
    );
    assert!(trip.html.contains("Agnès"), "{}", trip.html);
    let agent_id = t.user_id(AGENT);
    assert_eq!(
        t.block_on(t.gw.dir.linked_user(&issuer, "pc-agnes-0001"))
            .unwrap(),
        Some(agent_id)
    );
    let mails = crate::aia::outbox(&t);
    assert!(
        mails
            .iter()
            .any(|(to, text)| to == AGENT && text.contains("associé à votre identité ProConnect")),
        "{mails:?}"
    );
    // The state, once used, is refused when the return is replayed, and nothing changes.
    let replay = trip.callback.clone().expect("the return URL");
    let (r, _) = b.visit(&replay);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("a expiré ou a déjà servi"));
    let forged = t.url(
        "auth.test",
        "/login/fournisseur/proconnect/retour?code=abc&state=forged-state",
    );
    let (r, _) = b.visit(&forged);
    assert_eq!(r.status(), 400);

    // Logout reaches the provider, which confirms and sends the browser back.
    let (page, _) = b.visit(&t.url("auth.test", "/logout"));
    let csrf = csrf_of(&page.text().unwrap());
    let r = b
        .client
        .post(t.url("auth.test", "/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let at_idp = r.headers()["location"].to_str().unwrap().to_string();
    assert!(at_idp.starts_with(&issuer), "{at_idp}");
    assert!(at_idp.contains("id_token_hint="), "{at_idp}");
    let (r, url) = b.visit(&at_idp);
    let confirm = r.text().unwrap();
    let action_at = confirm.find("action=\"").expect("a logout form") + 8;
    let action = &confirm[action_at..action_at + confirm[action_at..].find('"').unwrap()];
    let xsrf_at = confirm.find("name=\"xsrf\" value=\"").expect("xsrf") + 19;
    let xsrf = &confirm[xsrf_at..xsrf_at + confirm[xsrf_at..].find('"').unwrap()];
    let r = b
        .client
        .post(absolute(&url, action))
        .form(&[("xsrf", xsrf), ("logout", "yes")])
        .send()
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with(&t.url("auth.test", "/login/fournisseur/deconnexion")),
        "{back}"
    );
    let (r, url) = b.visit(&back);
    assert_eq!(r.status(), 200);
    assert_eq!(url, t.url("auth.test", "/login?logged_out=1"));
    assert!(!signed_in(&b));

    // The e-mail changes at the provider: the `sub` still finds the same account, and no
    // second mail is sent.
    idp.set_accounts(&accounts("agnes.agent@ailleurs.example"));
    let b = t.browser();
    let trip = sign_in_as(&b, &idp, "proconnect", "pc-agnes-0001");
    assert_eq!(trip.status, 200, "{}", trip.html);
    assert!(signed_in(&b));
    assert_eq!(links_of(&t, AGENT), 1);
    assert_eq!(
        t.block_on(t.gw.dir.user_id_by_email("agnes.agent@ailleurs.example"))
            .unwrap(),
        None
    );
    let linked_mails = crate::aia::outbox(&t)
        .iter()
        .filter(|(_, text)| text.contains("associé à votre identité"))
        .count();
    assert_eq!(linked_mails, 1);

    // Refusals: a French page, no session, nothing linked or created.
    let ccas = t.user_id(CCAS_AGENT);
    let b = t.browser();
    let trip = sign_in_as(&b, &idp, "proconnect", "pc-no-acr");
    refused(&t, &trip, 403, "niveau d'authentification demandé");
    assert!(!signed_in(&b));
    let b = t.browser();
    let trip = sign_in_as(&b, &idp, "mairie", "pc-unverified");
    refused(&t, &trip, 403, "n'a pas confirmé votre adresse e-mail");
    assert!(!signed_in(&b));
    assert_eq!(links_of(&t, CCAS_AGENT), 0);
    assert_eq!(
        t.block_on(t.gw.dir.identity(ccas))
            .unwrap()
            .map(|i| i.has_provider_link),
        Some(false)
    );
    let mairie = t.structure_id("mairie-exemple");
    let outsider = t
        .block_on(
            t.gw.dir
                .provision_user(convergences::directory::users::NewUser {
                    email: "agent@gmail.example",
                    first_name: "Oscar",
                    last_name: "Dehors",
                    structure_id: mairie,
                    job_title: "",
                    service: "",
                    app_identifier: "",
                    platform_admin: false,
                    created_by: None,
                }),
        )
        .unwrap();
    let b = t.browser();
    let trip = sign_in_as(&b, &idp, "proconnect", "pc-outsider");
    refused(
        &t,
        &trip,
        403,
        "n'appartient pas aux domaines de votre structure",
    );
    assert!(!signed_in(&b));
    assert!(t
        .block_on(t.gw.dir.identity_links(outsider))
        .unwrap()
        .is_empty());
    // A locked account, although linked, is refused.
    t.block_on(t.gw.dir.set_locked(agent_id, true)).unwrap();
    t.gw.user_changed(agent_id);
    let b = t.browser();
    let trip = sign_in_as(&b, &idp, "proconnect", "pc-agnes-0001");
    refused(&t, &trip, 403, "verrouillé");
    assert!(!signed_in(&b));
    for sub in ["pc-no-acr", "pc-unverified", "pc-outsider"] {
        assert_eq!(
            t.block_on(t.gw.dir.linked_user(&issuer, sub)).unwrap(),
            None,
            "{sub}"
        );
    }
}
