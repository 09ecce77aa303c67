//! The `convergences` command line (docs/product.md#operator-interface).

use crate::config::Config;
use crate::directory::structures::NewStructure;
use crate::directory::tokens::Purpose;
use crate::directory::users::NewUser;
use crate::server::{self, StartError};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "convergences",
    version,
    about = "Single sign-on gateway and identity directory (AIA)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// Configuration file.
    #[arg(
        long,
        env = "CONVERGENCES_CONFIG",
        default_value = "config/convergences.toml"
    )]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: proxy, portal and directory, as the configuration says.
    Serve(ConfigArg),
    /// Run a self-contained demonstration: embedded SQLite, two demo applications and demo
    /// accounts (password Convergences-Demo-2026!). Nothing to install.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Folder for the demo database and keys (default: a new temporary folder).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Validate the configuration file and report every problem, then exit.
    CheckConfig(ConfigArg),
    /// Apply pending database migrations, then exit.
    Migrate(ConfigArg),
    /// Operator tasks that do not need the web interface.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Import structures from a CSV file (columns: Nom de la structure;Nom long;Structure
    /// parente;Domaines autorisés;Adresse postale). Nothing is imported if any line is bad.
    ImportStructures {
        #[command(flatten)]
        config: ConfigArg,
        /// The CSV file (`;`, UTF-8).
        file: PathBuf,
        /// Import the good lines and report the bad ones instead of importing nothing.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Import accounts from a CSV file in the format of the directory's users export. Nothing
    /// is imported if any line is bad.
    ImportUsers {
        #[command(flatten)]
        config: ConfigArg,
        /// The CSV file (`;`, UTF-8, as exported by the AIA).
        file: PathBuf,
        /// Import the good lines and report the bad ones instead of importing nothing.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Delete audit events older than the retention (audit.retention_days, or --older-than-days).
    PurgeAudit {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        older_than_days: Option<u32>,
    },
    /// E-mail each référent the accounts of their structures that expire soon or were never
    /// used (what `serve` does once a day), now.
    SendReminders {
        #[command(flatten)]
        config: ConfigArg,
        /// Accounts whose validity ends within this many days (default: reminders.expiring_within_days).
        #[arg(long)]
        days: Option<u32>,
        /// Accounts never used and created more than this many days ago (default: reminders.unused_for_days).
        #[arg(long)]
        unused_days: Option<u32>,
    },
    /// Grant a role of an application to an existing account, on behalf of its own structure
    /// (or --structure).
    AssignRole {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        email: String,
        /// Application slug, as in [[apps]].
        #[arg(long)]
        app: String,
        #[arg(long)]
        role: String,
        /// Short name of the structure on whose behalf the role is held.
        #[arg(long)]
        structure: Option<String>,
    },
    /// Make an existing account référent administrateur of a structure (and so of every
    /// structure below it).
    DesignateReferent {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        email: String,
        /// Short name of the structure.
        #[arg(long)]
        structure: String,
    },
    /// Create a platform administrator and print a one-time link to set its password.
    CreatePlatformAdmin {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Short name of the structure the account belongs to; created at the top of the tree
        /// (with the e-mail's domain allowed) if it does not exist.
        #[arg(long, default_value = "plateforme")]
        structure: String,
        /// Validity of the link, in hours.
        #[arg(long, default_value_t = 24)]
        link_hours: i64,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let json = matches!(&cli.command, Command::Serve(c) if Config::load(&c.config).map(|c| c.log_json).unwrap_or(false));
    let _logs = crate::telemetry::init_logs(json);
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn run(cli: Cli) -> Result<(), StartError> {
    match cli.command {
        Command::Serve(c) => server::run(Config::load(&c.config)?, None, None),
        Command::Demo { listen, data_dir } => demo(&listen, data_dir),
        Command::CheckConfig(c) => {
            let config = Config::load(&c.config)?;
            println!(
                "{}: OK ({} application(s), portal {}, database {})",
                c.config.display(),
                config.apps.len(),
                config.public_url,
                server::redact_url(&config.database_url)
            );
            Ok(())
        }
        Command::Migrate(c) => {
            let config = Config::load(&c.config)?;
            let rt = server::control_runtime()?;
            rt.block_on(server::open_directory(&config))?;
            println!(
                "migrations applied to {}",
                server::redact_url(&config.database_url)
            );
            Ok(())
        }
        Command::Admin(AdminCommand::ImportStructures {
            config,
            file,
            skip_invalid,
        }) => import(&config.config, &file, skip_invalid, false),
        Command::Admin(AdminCommand::ImportUsers {
            config,
            file,
            skip_invalid,
        }) => import(&config.config, &file, skip_invalid, true),
        Command::Admin(AdminCommand::PurgeAudit {
            config,
            older_than_days,
        }) => {
            let config = Config::load(&config.config)?;
            let days = older_than_days.unwrap_or(config.audit_retention_days);
            if days == 0 {
                return Err(StartError::Other(
                    "--older-than-days must be at least 1".into(),
                ));
            }
            let rt = server::control_runtime()?;
            let n = rt.block_on(async {
                let dir = server::open_directory(&config).await?;
                dir.purge_audit(days)
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))
            })?;
            println!("{n} audit event(s) older than {days} days deleted.");
            Ok(())
        }
        Command::Admin(AdminCommand::SendReminders {
            config,
            days,
            unused_days,
        }) => {
            let config = Config::load(&config.config)?;
            let days = days.unwrap_or(config.reminders.expiring_within_days);
            let unused = unused_days.unwrap_or(config.reminders.unused_for_days);
            let rt = server::control_runtime()?;
            let sent = rt.block_on(async {
                let gw = server::build_gateway(config).await?;
                crate::lifecycle::send_reminders(&gw, days, unused)
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))
            })?;
            println!("{sent} reminder message(s) sent.");
            Ok(())
        }
        Command::Admin(AdminCommand::AssignRole {
            config,
            email,
            app,
            role,
            structure,
        }) => {
            let config = Config::load(&config.config)?;
            let rt = server::control_runtime()?;
            rt.block_on(assign_role(
                &config,
                &email,
                &app,
                &role,
                structure.as_deref(),
            ))
        }
        Command::Admin(AdminCommand::DesignateReferent {
            config,
            email,
            structure,
        }) => {
            let config = Config::load(&config.config)?;
            let rt = server::control_runtime()?;
            rt.block_on(designate_referent(&config, &email, &structure))
        }
        Command::Admin(AdminCommand::CreatePlatformAdmin {
            config,
            email,
            first_name,
            last_name,
            structure,
            link_hours,
        }) => {
            let config = Config::load(&config.config)?;
            let rt = server::control_runtime()?;
            rt.block_on(create_platform_admin(
                &config,
                &email,
                &first_name,
                &last_name,
                &structure,
                link_hours,
            ))
        }
    }
}

fn import(
    config: &std::path::Path,
    file: &std::path::Path,
    skip_invalid: bool,
    users: bool,
) -> Result<(), StartError> {
    let config = Config::load(config)?;
    let name = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| StartError::Other(format!("{name}: {e}")))?;
    let rt = server::control_runtime()?;
    let report = rt.block_on(async {
        let dir = server::open_directory(&config).await?;
        let report = if users {
            crate::import::import_users(&dir, &bytes, skip_invalid).await
        } else {
            crate::import::import_structures(&dir, &bytes, skip_invalid).await
        }
        .map_err(|e| StartError::Other(format!("{name}: {e}")))?;
        if report.imported > 0 {
            let details = format!("{} from {name}", report.imported);
            dir.audit(crate::directory::audit::AuditEvent {
                actor: "cli",
                action: if users {
                    "users_imported"
                } else {
                    "structures_imported"
                },
                details: &details,
                ..Default::default()
            })
            .await
            .map_err(|e| StartError::Other(e.to_string()))?;
        }
        Ok::<_, StartError>(report)
    })?;
    for e in &report.errors {
        eprintln!("{name}: line {}: {}", e.line, e.message);
    }
    let what = if users { "account(s)" } else { "structure(s)" };
    if !report.errors.is_empty() && !skip_invalid {
        return Err(StartError::Other(format!(
            "{name}: {} bad line(s), nothing imported (fix them, or use --skip-invalid)",
            report.errors.len()
        )));
    }
    println!("{} {what} imported from {name}.", report.imported);
    if users && report.imported > 0 {
        println!("The agents choose their password through « Première visite ? » on the portal.");
    }
    Ok(())
}

async fn existing_user(
    dir: &crate::directory::Directory,
    email: &str,
) -> Result<crate::directory::model::Identity, StartError> {
    let e = |m: String| StartError::Other(m);
    let id = dir
        .user_id_by_email(email)
        .await
        .map_err(|x| e(x.to_string()))?
        .ok_or_else(|| e(format!("--email: no account {email:?}")))?;
    dir.identity(id)
        .await
        .map_err(|x| e(x.to_string()))?
        .ok_or_else(|| e(format!("--email: no account {email:?}")))
}

async fn assign_role(
    config: &Config,
    email: &str,
    app: &str,
    role: &str,
    structure: Option<&str>,
) -> Result<(), StartError> {
    let e = |m: String| StartError::Other(m);
    let Some(declared) = config.apps.iter().find(|a| a.slug == app) else {
        return Err(e(format!(
            "--app: no application {app:?} in {}",
            config.source
        )));
    };
    if !declared.roles.iter().any(|r| r == role) {
        return Err(e(format!(
            "--role: application {app} has no role {role:?} (roles: {})",
            declared.roles.join(", ")
        )));
    }
    let dir = server::open_directory(config).await?;
    let user = existing_user(&dir, email).await?;
    let structure_id = match structure {
        None => user.structure_id,
        Some(name) => {
            dir.structure_by_name(name)
                .await
                .map_err(|x| e(x.to_string()))?
                .ok_or_else(|| e(format!("--structure: no structure {name:?}")))?
                .id
        }
    };
    dir.assign_role(user.user_id, app, role, structure_id, None)
        .await
        .map_err(|x| e(x.to_string()))?;
    let details = format!("{app}:{role}");
    dir.audit(crate::directory::audit::AuditEvent {
        actor: "cli",
        action: "role_assigned",
        target: &user.email,
        structure_id: Some(structure_id),
        details: &details,
        ..Default::default()
    })
    .await
    .map_err(|x| e(x.to_string()))?;
    println!("{} now holds {role} on {app}.", user.email);
    Ok(())
}

async fn designate_referent(
    config: &Config,
    email: &str,
    structure: &str,
) -> Result<(), StartError> {
    let e = |m: String| StartError::Other(m);
    let dir = server::open_directory(config).await?;
    let user = existing_user(&dir, email).await?;
    let s = dir
        .structure_by_name(structure)
        .await
        .map_err(|x| e(x.to_string()))?
        .ok_or_else(|| e(format!("--structure: no structure {structure:?}")))?;
    dir.add_referent(user.user_id, s.id)
        .await
        .map_err(|x| e(x.to_string()))?;
    dir.audit(crate::directory::audit::AuditEvent {
        actor: "cli",
        action: "referent_designated",
        target: &user.email,
        structure_id: Some(s.id),
        ..Default::default()
    })
    .await
    .map_err(|x| e(x.to_string()))?;
    println!(
        "{} is now référent administrateur of {structure}.",
        user.email
    );
    Ok(())
}

async fn create_platform_admin(
    config: &Config,
    email: &str,
    first_name: &str,
    last_name: &str,
    structure: &str,
    link_hours: i64,
) -> Result<(), StartError> {
    let e = |m: String| StartError::Other(m);
    let email = crate::directory::users::normalize_email(email);
    let Some((_, domain)) = email
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && d.contains('.'))
    else {
        return Err(e(format!("--email {email:?} is not an e-mail address")));
    };
    if first_name.trim().is_empty() || last_name.trim().is_empty() {
        return Err(e("--first-name and --last-name must not be empty".into()));
    }
    if !(1..=24 * 30).contains(&link_hours) {
        return Err(e("--link-hours must be between 1 and 720".into()));
    }
    let dir = server::open_directory(config).await?;
    let de = |x: crate::directory::DirectoryError| e(x.to_string());
    let structure_id = match dir.structure_by_name(structure).await.map_err(de)? {
        Some(s) => s.id,
        None => dir
            .create_structure(NewStructure {
                parent_id: None,
                short_name: structure,
                long_name: "Administration de la plateforme",
                domains: &[domain],
            })
            .await
            .map_err(de)?,
    };
    let id = dir
        .create_user(NewUser {
            email: &email,
            first_name,
            last_name,
            structure_id,
            job_title: "",
            service: "",
            app_identifier: "",
            platform_admin: true,
            created_by: None,
        })
        .await
        .map_err(de)?;
    let token = dir
        .create_token(id, Purpose::FirstVisit, link_hours * 3600)
        .await
        .map_err(de)?;
    dir.audit(crate::directory::audit::AuditEvent {
        actor: "cli",
        action: "platform_admin_created",
        target: &email,
        structure_id: Some(structure_id),
        ..Default::default()
    })
    .await
    .map_err(de)?;
    println!("Platform administrator {email} created.");
    println!("Set its password within {link_hours} h at:");
    println!("  {}/mot-de-passe/{token}", config.public_url);
    Ok(())
}

fn demo(listen: &str, data_dir: Option<PathBuf>) -> Result<(), StartError> {
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
    let config = crate::demo::config(listen, &data_dir, port(&bip), port(&nc))?;
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
