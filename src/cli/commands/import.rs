//! `admin import-structures` and `admin import-users`: runs the CSV import (`crate::import`),
//! reports each bad line on stderr and audits what was imported.

use super::{failed, with_directory};
use crate::config::Config;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::server::StartError;
use std::path::Path;

#[derive(Clone, Copy)]
pub enum Kind {
    Structures,
    Users,
}

impl Kind {
    fn audit_action(self) -> AuditAction {
        match self {
            Kind::Structures => AuditAction::StructuresImported,
            Kind::Users => AuditAction::UsersImported,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Structures => "structure(s)",
            Kind::Users => "account(s)",
        }
    }
}

/// Messages name the file, and bad lines their number, so the operator can fix the file and run
/// the same command again: without `--skip-invalid`, nothing was imported.
pub fn run(config: &Config, file: &Path, skip_invalid: bool, kind: Kind) -> Result<(), StartError> {
    let name = file.display().to_string();
    let name = name.as_str();
    let bytes = std::fs::read(file).map_err(|e| failed(format!("{name}: {e}")))?;
    let max_depth = config.structures_max_depth;
    let report = with_directory(config, |dir| async move {
        let report = match kind {
            Kind::Users => crate::import::import_users(&dir, &bytes, skip_invalid).await,
            Kind::Structures => {
                crate::import::import_structures(&dir, &bytes, skip_invalid, max_depth).await
            }
        }
        .map_err(|e| failed(format!("{name}: {e}")))?;
        if report.imported > 0 {
            let details = format!("{} from {name}", report.imported);
            dir.audit(AuditEvent {
                actor: "cli",
                details: &details,
                ..AuditEvent::of(kind.audit_action())
            })
            .await
            .map_err(failed)?;
        }
        Ok(report)
    })?;
    for e in &report.errors {
        eprintln!("{name}: line {}: {}", e.line, e.message);
    }
    if !report.errors.is_empty() && !skip_invalid {
        return Err(failed(format!(
            "{name}: {} bad line(s), nothing imported (fix them, or use --skip-invalid)",
            report.errors.len()
        )));
    }
    println!("{} {} imported from {name}.", report.imported, kind.what());
    if matches!(kind, Kind::Users) && report.imported > 0 {
        println!("The agents choose their password through « Première visite ? » on the portal.");
    }
    Ok(())
}
