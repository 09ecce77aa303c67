//! `convergences demo`: the whole product on one machine with nothing to install.

use crate::server::{self, StartError};
use std::path::PathBuf;

/// `demo`: a temporary (or given) data folder, the two demo applications on free local ports,
/// and a seeded directory once the gateway is up (docs/product.md#demo).
pub fn run(
    listen: &str,
    data_dir: Option<PathBuf>,
    test_provider: Option<&str>,
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
    let bind =
        || std::net::TcpListener::bind("127.0.0.1:0").map_err(|x| e(format!("demo upstream: {x}")));
    let (bip, nc) = (bind()?, bind()?);
    let port = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut config = crate::demo::config(listen, &data_dir, port(&bip), port(&nc))?;
    if let Some(issuer) = test_provider {
        config
            .identity_providers
            .extend(crate::demo::test_provider(issuer)?);
    }
    let public = config.public_url.clone();
    let on_ready = Box::new(
        move |gw: &std::sync::Arc<crate::state::Gateway>, rt: &tokio::runtime::Runtime| {
            let seeded = rt.block_on(async {
                crate::demo::seed(&gw.dir).await?;
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
            println!("  JWKS:             {public}/.well-known/jwks.json");
            println!("Accounts (password {}):", crate::demo::DEMO_PASSWORD);
            println!("  admin@cig-exemple.fr           platform administrator");
            println!("  referent@mairie-exemple.fr     référent of Mairie d'Exemple, administrateur of BIP and Net-Cotisations");
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
