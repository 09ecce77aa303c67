//! What the command line accepts (clap): the subcommands, their options and their `--help`
//! texts. What each does is in `commands/`.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "convergences",
    version,
    about = "Single sign-on gateway and identity directory (AIA)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(clap::Args)]
pub(super) struct ConfigArg {
    /// Configuration file.
    #[arg(
        long,
        env = "CONVERGENCES_CONFIG",
        default_value = "config/convergences.toml"
    )]
    pub(super) config: PathBuf,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
        /// Offer sign-in through this OpenID Connect provider (a loopback test provider, e.g.
        /// the one of tests/e2e/idp), registered with the client id `convergences-demo`.
        #[arg(long, value_name = "ISSUER", conflicts_with = "with_test_provider")]
        test_provider: Option<String>,
        /// Start the built-in test identity provider on a loopback port and offer sign-in
        /// through it ("S'identifier avec le fournisseur de test"): choose a demo account on its
        /// page, no password. Demo only.
        #[arg(long)]
        with_test_provider: bool,
    },
    /// Validate the configuration file and report every problem, then exit.
    CheckConfig(ConfigArg),
    /// Apply pending database migrations, then exit.
    Migrate(ConfigArg),
    /// Generate a secret for an OpenID Connect client and print it with its hash: the hash goes
    /// in `client_secret_hash` ([apps.oidc]), the secret to the application only.
    HashSecret,
    /// Operator tasks that do not need the web interface.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
pub(super) enum AdminCommand {
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
    /// Remove every second factor of an account (authenticator application, passkeys,
    /// recovery codes) and end its sessions: the break-glass for the last platform
    /// administrator who lost them. Audited; the account's owner is told by mail.
    ResetFactors {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        email: String,
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

impl AdminCommand {
    /// Every `admin` subcommand starts from the configuration file.
    pub(super) fn config_file(&self) -> &Path {
        match self {
            AdminCommand::ImportStructures { config, .. }
            | AdminCommand::ImportUsers { config, .. }
            | AdminCommand::PurgeAudit { config, .. }
            | AdminCommand::SendReminders { config, .. }
            | AdminCommand::AssignRole { config, .. }
            | AdminCommand::DesignateReferent { config, .. }
            | AdminCommand::ResetFactors { config, .. }
            | AdminCommand::CreatePlatformAdmin { config, .. } => &config.config,
        }
    }
}
