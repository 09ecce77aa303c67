//! `convergences demo` (docs/product.md#demo): the gateway with an embedded SQLite directory,
//! two built-in upstream applications that display what they receive, an OpenID Connect
//! relying party (`relying_party`), demo accounts, and on request an identity provider to sign
//! in with (`test_provider`).

pub mod relying_party;
pub mod test_provider;
pub mod upstream;

use crate::config::Config;
use crate::directory::structures::NewStructure;
use crate::directory::users::NewUser;
use crate::directory::{DResult, Directory};
use std::path::Path;

pub const DEMO_PASSWORD: &str = "Convergences-Demo-2026!";
/// The demo account whose login asks for a second factor, and its TOTP secret (demo only:
/// printed with the accounts, so that anyone can try the second step with an authenticator
/// application or `oathtool --totp -b JBSWY3DPEHPK3PXP`).
pub const DEMO_TOTP_ACCOUNT: &str = "securise@mairie-exemple.fr";
pub const DEMO_TOTP_SECRET: &str = "JBSWY3DPEHPK3PXP";

/// The demo configuration: the portal on `auth.localhost`, BIP and Net-Cotisations on their
/// own hosts, proxied to the given demo upstream ports, and the OpenID Connect relying party
/// on `rp.localhost:rp_port` (not proxied: it signs its users in through the provider).
pub fn config(
    listen: &str,
    data_dir: &Path,
    bip_port: u16,
    nc_port: u16,
    rp_port: u16,
) -> Result<Config, crate::config::ConfigError> {
    let rp_hash =
        crate::auth::password::hash_blocking(relying_party::CLIENT_SECRET).map_err(|e| {
            crate::config::ConfigError::Syntax {
                file: "(demo configuration)".into(),
                message: format!("cannot hash the relying party's secret: {e}"),
            }
        })?;
    let rp_entry = relying_party::app_entry(
        &format!("http://{}:{rp_port}", relying_party::HOST),
        &rp_hash,
        &format!("http://127.0.0.1:{rp_port}/backchannel-logout"),
    );
    let text = format!(
        r#"
[server]
listen = "{listen}"
portal_host = "auth.localhost"
data_dir = "{data}"
grace_period_seconds = 1
graceful_shutdown_timeout_seconds = 2

[security]
# The demo accounts sign in with a password alone; securise@ shows the second step.
second_factor_for_administrators = false
[support]
applications_email = "assistance@cig-exemple.fr"
correspondent_email = "correspondant@cig-exemple.fr"
correspondent_label = "Correspondant CIG (annuaire, référents, accès)"
dpo_email = "dpo@cig-exemple.fr"
guide_url = "https://convergences.cig-exemple.fr/guide-utilisateur"

[legal]
publisher = "Centre interdépartemental de gestion d'Exemple (CIG d'Exemple)"
publisher_address = "1 rue de l'Exemple, 93500 Exemple"
publisher_phone = "01 23 45 67 89"
publisher_registration = "SIRET 200 000 000 00010"
publication_director = "Camille Exemple, directrice générale des services"
host = "Hébergeur d'Exemple SAS"
host_address = "10 avenue des Serveurs, 75012 Paris"
host_phone = "01 98 76 54 32"
accessibility_status = "non_conforme"
accessibility_statement_date = "2026-11-30"
accessibility_contact_email = "accessibilite@cig-exemple.fr"

[[apps]]
slug = "bip"
name = "BIP"
description = "Banque d'informations statutaires pour la gestion du personnel territorial"
host = "bip.localhost"
support_email = "bip@cig-exemple.fr"
upstreams = ["127.0.0.1:{bip_port}"]

[[apps]]
slug = "netcotisations"
name = "Net-Cotisations"
description = "Déclaration et paiement des cotisations"
host = "netcotisations.localhost"
upstreams = ["127.0.0.1:{nc_port}"]
{rp_entry}
"#,
        data = data_dir
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    Config::from_toml("(demo configuration)", &text, &[])
}

/// The `[[identity_providers]]` entry of the demo's test provider at `issuer`: the built-in one
/// (`--with-test-provider`, src/demo/test_provider/) or an external one (`--test-provider ISSUER`,
/// e.g. tests/e2e/idp), registered like ProConnect.
pub fn test_provider_entry(issuer: &str) -> String {
    use test_provider::{CLIENT_ID, CLIENT_SECRET, NAME, SLUG};
    format!(
        r#"
[[identity_providers]]
slug = "{SLUG}"
name = "{NAME}"
issuer = "{}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "email", "given_name", "usual_name", "uid", "siret"]
acr_values = ["eidas1", "eidas2", "eidas3"]
second_factor_acr = ["eidas2", "eidas3"]
trust_email = true
"#,
        issuer.replace(['\\', '"'], "")
    )
}

/// The demo's test provider at `issuer`, parsed ([`test_provider_entry`]).
pub fn test_provider(
    issuer: &str,
) -> Result<Vec<crate::config::identity_providers::IdentityProvider>, crate::config::ConfigError> {
    Ok(Config::from_toml("--test-provider", &test_provider_entry(issuer), &[])?.identity_providers)
}

/// Creates the demo directory unless it already holds accounts.
pub async fn seed(dir: &Directory) -> DResult<bool> {
    if dir
        .user_id_by_email("admin@cig-exemple.fr")
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let hash = tokio::task::spawn_blocking(|| crate::auth::password::hash_blocking(DEMO_PASSWORD))
        .await
        .map_err(|e| crate::directory::DirectoryError::Invalid(e.to_string()))?
        .map_err(|e| crate::directory::DirectoryError::Invalid(e.to_string()))?;
    let cig = dir
        .create_structure(NewStructure {
            parent_id: None,
            short_name: "cig-exemple",
            long_name: "CIG d'Exemple",
            domains: &["cig-exemple.fr"],
        })
        .await?;
    let mairie = dir
        .create_structure(NewStructure {
            parent_id: None,
            short_name: "mairie-exemple",
            long_name: "Mairie d'Exemple",
            domains: &["mairie-exemple.fr"],
        })
        .await?;
    let ccas = dir
        .create_structure(NewStructure {
            parent_id: Some(mairie),
            short_name: "ccas",
            long_name: "CCAS d'Exemple",
            domains: &[],
        })
        .await?;
    let people = [
        (
            "admin@cig-exemple.fr",
            "Camille",
            "Administratrice",
            cig,
            true,
            "Correspondante CIG",
        ),
        (
            "referent@mairie-exemple.fr",
            "Régis",
            "Référent",
            mairie,
            false,
            "Responsable RH",
        ),
        (
            "agent@mairie-exemple.fr",
            "Agnès",
            "Agent",
            mairie,
            false,
            "Gestionnaire carrières",
        ),
        (
            "agent.ccas@mairie-exemple.fr",
            "Céline",
            "Ccas",
            ccas,
            false,
            "Agent administratif",
        ),
    ];
    let mut ids = Vec::new();
    for (email, first, last, structure, admin, job) in people {
        let id = dir
            .provision_user(NewUser {
                email,
                first_name: first,
                last_name: last,
                structure_id: structure,
                job_title: job,
                service: "Ressources humaines",
                app_identifier: "",
                platform_admin: admin,
                created_by: None,
            })
            .await?;
        dir.set_password_hash(id, &hash).await?;
        ids.push(id);
    }
    let (referent, agent) = (ids[1], ids[2]);
    dir.add_referent(referent, mairie).await?;
    for app in ["bip", "netcotisations"] {
        dir.assign_role(referent, app, "administrateur", mairie, None)
            .await?;
    }
    dir.assign_role(agent, "bip", "utilisateur", mairie, None)
        .await?;
    Ok(true)
}

/// Gives the référent a role on the OpenID Connect relying party, unless he has one (the
/// other accounts keep the tiles they always had).
pub async fn seed_relying_party(dir: &Directory) -> DResult<()> {
    let Some(id) = dir.user_id_by_email("referent@mairie-exemple.fr").await? else {
        return Ok(());
    };
    let Some(identity) = dir.identity(id).await? else {
        return Ok(());
    };
    if identity.has_app(relying_party::SLUG) {
        return Ok(());
    }
    dir.assign_role(
        id,
        relying_party::SLUG,
        "utilisateur",
        identity.structure_id,
        None,
    )
    .await
}

/// Adds the demo's account with a second factor, enrolled on its published TOTP secret, unless
/// it exists (sealing needs the gateway's factor keys, which the directory seed does not have).
pub async fn seed_second_factor_account(gw: &crate::state::Gateway) -> DResult<()> {
    let dir = &gw.dir;
    if dir.user_id_by_email(DEMO_TOTP_ACCOUNT).await?.is_some() {
        return Ok(());
    }
    let Some(mairie) = dir.structure_by_name("mairie-exemple").await? else {
        return Ok(());
    };
    let hash = tokio::task::spawn_blocking(|| crate::auth::password::hash_blocking(DEMO_PASSWORD))
        .await
        .map_err(|e| crate::directory::DirectoryError::Invalid(e.to_string()))?
        .map_err(|e| crate::directory::DirectoryError::Invalid(e.to_string()))?;
    let id = dir
        .provision_user(NewUser {
            email: DEMO_TOTP_ACCOUNT,
            first_name: "Sandrine",
            last_name: "Sécurisée",
            structure_id: mairie.id,
            job_title: "Gestionnaire paie",
            service: "Ressources humaines",
            app_identifier: "",
            platform_admin: false,
            created_by: None,
        })
        .await?;
    dir.set_password_hash(id, &hash).await?;
    dir.assign_role(id, "bip", "utilisateur", mairie.id, None)
        .await?;
    let secret = crate::auth::totp::from_base32(DEMO_TOTP_SECRET).unwrap_or_default();
    crate::second_factor::enrol_totp(gw, id, &secret, true).await?;
    Ok(())
}
