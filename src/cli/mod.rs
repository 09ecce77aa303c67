//! The `convergences` command line (docs/product.md#operator-interface). `args.rs` says what it
//! accepts; `commands/` does it, reaching the database only through `Directory`'s methods so
//! that the rules (and the SQL) stay in one place for the portal and the command line.

mod args;
mod commands;

pub use args::Cli;

use crate::config::Config;
use crate::server::StartError;
use args::{AdminCommand, Command};
use clap::Parser;
use commands::{admin, demo, gateway, import};

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
        Command::Serve(c) => gateway::serve(&c.config),
        Command::Demo {
            listen,
            data_dir,
            test_provider,
            with_test_provider,
        } => {
            let provider = match test_provider {
                Some(issuer) => demo::TestProvider::External(issuer),
                None if with_test_provider => demo::TestProvider::BuiltIn,
                None => demo::TestProvider::None,
            };
            demo::run(&listen, data_dir, provider)
        }
        Command::CheckConfig(c) => gateway::check_config(&c.config),
        Command::Migrate(c) => gateway::migrate(&c.config),
        Command::HashSecret => gateway::hash_secret(),
        Command::Admin(a) => {
            let config = Config::load(a.config_file())?;
            run_admin(&config, a)
        }
    }
}

fn run_admin(config: &Config, command: AdminCommand) -> Result<(), StartError> {
    match command {
        AdminCommand::ImportStructures {
            file, skip_invalid, ..
        } => import::run(config, &file, skip_invalid, import::Kind::Structures),
        AdminCommand::ImportUsers {
            file, skip_invalid, ..
        } => import::run(config, &file, skip_invalid, import::Kind::Users),
        AdminCommand::PurgeAudit {
            older_than_days, ..
        } => admin::purge_audit(config, older_than_days),
        AdminCommand::SendReminders {
            days, unused_days, ..
        } => admin::send_reminders(config, days, unused_days),
        AdminCommand::AssignRole {
            email,
            app,
            role,
            structure,
            ..
        } => admin::assign_role(config, &email, &app, &role, structure.as_deref()),
        AdminCommand::DesignateReferent {
            email, structure, ..
        } => admin::designate_referent(config, &email, &structure),
        AdminCommand::ResetFactors { email, .. } => admin::reset_factors(config, &email),
        AdminCommand::CreatePlatformAdmin {
            email,
            first_name,
            last_name,
            structure,
            link_hours,
            ..
        } => admin::create_platform_admin(
            config,
            &admin::NewPlatformAdmin {
                email: &email,
                first_name: &first_name,
                last_name: &last_name,
                structure: &structure,
                link_hours,
            },
        ),
    }
}
