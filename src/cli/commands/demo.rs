//! `convergences demo`: the whole product on one machine with nothing to install.

use crate::server::{self, StartError};
use std::net::TcpListener;
use std::path::PathBuf;

/// Which identity provider the demo offers besides passwords.
pub enum TestProvider {
    None,
    /// `--with-test-provider`: the built-in one (src/demo/test_provider/).
    BuiltIn,
    /// `--test-provider ISSUER`: one that runs elsewhere (e.g. tests/e2e/idp).
    External(String),
}

/// A loopback listener on the port `offset` after the gateway's when it is free (the browser
/// reaches these servers directly, so a stable address helps), else on any free port.
fn near(listen: &str, offset: u16) -> Option<TcpListener> {
    let port = listen
        .parse::<std::net::SocketAddr>()
        .ok()
        .and_then(|a| a.port().checked_add(offset))?;
    TcpListener::bind(("127.0.0.1", port)).ok()
}

/// `demo`: a temporary (or given) data folder, the two demo applications on free local ports,
/// the OpenID Connect relying party, the test identity provider if asked, and a seeded
/// directory once the gateway is up (docs/product.md#demo).
pub fn run(
    listen: &str,
    data_dir: Option<PathBuf>,
    test_provider: TestProvider,
) -> Result<(), StartError> {
    use crate::demo::upstream::{router, DemoApp};
    let e = |m: String| StartError::Other(m);
    let (data_dir, _keep) = match data_dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("convergences-demo-")
                .tempdir()
                .map_err(|x| e(format!("cannot create a temporary folder: {x}")))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(|x| e(format!("demo upstream: {x}")));
    let (bip, nc) = (bind()?, bind()?);
    // The relying party: 8081 for the usual 8080.
    let rp = match near(listen, 1) {
        Some(l) => l,
        None => bind()?,
    };
    let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let rp_port = port(&rp);
    let mut config = crate::demo::config(listen, &data_dir, port(&bip), port(&nc), rp_port)?;
    // The built-in provider: 8082 for the usual 8080. Its issuer must not change between runs
    // of a kept data folder (links remember it), hence the stable port when free.
    let mut idp = None;
    let issuer = match test_provider {
        TestProvider::None => None,
        TestProvider::External(issuer) => Some(issuer),
        TestProvider::BuiltIn => {
            let listener = match near(listen, 2) {
                Some(l) => l,
                None => bind()?,
            };
            let settings = crate::demo::test_provider::Settings {
                issuer: format!("http://127.0.0.1:{}", port(&listener)),
                portal_url: config.public_url.clone(),
                key_dir: data_dir.join("test-provider"),
            };
            let issuer = settings.issuer.clone();
            let app = crate::demo::test_provider::router(settings)
                .map_err(|x| e(format!("demo test provider: {x}")))?;
            idp = Some((listener, app));
            Some(issuer)
        }
    };
    let idp_built_in = idp.is_some();
    if let Some(issuer) = &issuer {
        config
            .identity_providers
            .extend(crate::demo::test_provider(issuer)?);
    }
    let public = config.public_url.clone();
    let on_ready = Box::new(
        move |gw: &std::sync::Arc<crate::state::Gateway>, rt: &tokio::runtime::Runtime| {
            let seeded = rt.block_on(async {
                crate::demo::seed(&gw.dir).await?;
                crate::demo::seed_relying_party(&gw.dir).await?;
                crate::demo::seed_second_factor_account(gw).await
            });
            if let Err(x) = &seeded {
                eprintln!("error: cannot seed the demo directory: {x}");
            }
            for (listener, slug, name) in [
                (bip, "bip", "BIP"),
                (nc, "netcotisations", "Net-Cotisations"),
            ] {
                let app = DemoApp {
                    slug: slug.into(),
                    name: name.into(),
                    portal_url: gw.config.public_url.clone(),
                    issuer: gw.signer.issuer.clone(),
                    jwks: gw.signer.jwks_json().to_string(),
                };
                rt.spawn(async move {
                    let _ = listener.set_nonblocking(true);
                    if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                        let _ = axum::serve(l, router(app)).await;
                    }
                });
            }
            let mut gateway = gw.config.listen;
            if gateway.ip().is_unspecified() {
                gateway.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let settings = crate::demo::relying_party::Settings {
                base: format!("http://{}:{rp_port}", crate::demo::relying_party::HOST),
                issuer: gw.config.public_url.clone(),
                portal_host: gw.config.portal_host.clone(),
                gateway,
            };
            match crate::demo::relying_party::router(settings) {
                Ok(app) => {
                    rt.spawn(async move {
                        let _ = rp.set_nonblocking(true);
                        if let Ok(l) = tokio::net::TcpListener::from_std(rp) {
                            let _ = axum::serve(l, app).await;
                        }
                    });
                }
                Err(x) => eprintln!("error: cannot start the demo relying party: {x}"),
            }
            if let Some((listener, app)) = idp {
                rt.spawn(async move {
                    let _ = listener.set_nonblocking(true);
                    if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                        let _ = axum::serve(l, app).await;
                    }
                });
            }
            let port_suffix = public
                .rsplit_once(':')
                .map(|(_, p)| format!(":{p}"))
                .unwrap_or_default();
            println!();
            println!(
                "Convergences demo is running (data in {}).",
                gw.config.data_dir.display()
            );
            println!("  Portal:           {public}/");
            println!("  BIP:              http://bip.localhost{port_suffix}/");
            println!("  Net-Cotisations:  http://netcotisations.localhost{port_suffix}/");
            println!(
                "  Démo OpenID Connect: http://{}:{rp_port}/ (client {}, secret {}: demo only)",
                crate::demo::relying_party::HOST,
                crate::demo::relying_party::CLIENT_ID,
                crate::demo::relying_party::CLIENT_SECRET
            );
            println!("  JWKS:             {public}/.well-known/jwks.json");
            if let Some(issuer) = &issuer {
                println!(
                    "  Test identity provider: {issuer}/ (« S'identifier avec {} » on the login page{})",
                    crate::demo::test_provider::NAME,
                    if idp_built_in { "; pick a demo account, no password: demo only" } else { "" }
                );
            }
            println!("Accounts (password {}):", crate::demo::DEMO_PASSWORD);
            println!("  admin@cig-exemple.fr           platform administrator");
            println!("  referent@mairie-exemple.fr     référent of Mairie d'Exemple, administrateur of BIP and Net-Cotisations, utilisateur of Démo OpenID Connect");
            println!("  agent@mairie-exemple.fr        utilisateur of BIP");
            println!("  agent.ccas@mairie-exemple.fr   CCAS d'Exemple, no application yet");
            println!(
                "  {}     utilisateur of BIP, asks for a second factor: TOTP secret {} (demo only; `oathtool --totp -b {}`)",
                crate::demo::DEMO_TOTP_ACCOUNT,
                crate::demo::DEMO_TOTP_SECRET,
                crate::demo::DEMO_TOTP_SECRET
            );
            println!(
                "Without a browser: curl -H 'Host: auth.localhost' http://{}/login",
                gw.config.listen
            );
            println!("Stop with Ctrl-C.");
        },
    );
    server::run(config, None, Some(on_ready))
}
