//! `admin` tasks that need no web interface: the first platform administrator, référents and
//! roles for existing accounts, the daily jobs run by hand. Accounts, référents and roles
//! changed here are audited with the actor `cli`, as the portal audits its users' changes
//! (docs/product.md#audit-journal).

use super::{failed, with_directory};
use crate::config::Config;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::directory::model::Identity;
use crate::directory::structures::NewStructure;
use crate::directory::tokens::Purpose;
use crate::directory::users::{normalize_email, NewUser};
use crate::directory::Directory;
use crate::server::{self, StartError};

pub fn purge_audit(config: &Config, older_than_days: Option<u32>) -> Result<(), StartError> {
    let days = older_than_days.unwrap_or(config.audit_retention_days);
    if days == 0 {
        return Err(failed("--older-than-days must be at least 1"));
    }
    let n = with_directory(config, |dir| async move {
        dir.purge_audit(days).await.map_err(failed)
    })?;
    println!("{n} audit event(s) older than {days} days deleted.");
    Ok(())
}

/// Needs the whole gateway, not only the directory: reminders go out through its mailer.
pub fn send_reminders(
    config: &Config,
    days: Option<u32>,
    unused_days: Option<u32>,
) -> Result<(), StartError> {
    let days = days.unwrap_or(config.reminders.expiring_within_days);
    let unused = unused_days.unwrap_or(config.reminders.unused_for_days);
    let rt = server::control_runtime()?;
    let sent = rt.block_on(async {
        let gw = server::build_gateway(config.clone()).await?;
        crate::lifecycle::send_reminders(&gw, days, unused)
            .await
            .map_err(failed)
    })?;
    println!("{sent} reminder message(s) sent.");
    Ok(())
}

/// The role must be one the configuration declares for the application, checked before the
/// database is opened.
pub fn assign_role(
    config: &Config,
    email: &str,
    app: &str,
    role: &str,
    structure: Option<&str>,
) -> Result<(), StartError> {
    let Some(declared) = config.apps.iter().find(|a| a.slug == app) else {
        return Err(failed(format!(
            "--app: no application {app:?} in {}",
            config.source
        )));
    };
    if !declared.roles.iter().any(|r| r == role) {
        return Err(failed(format!(
            "--role: application {app} has no role {role:?} (roles: {})",
            declared.roles.join(", ")
        )));
    }
    with_directory(config, |dir| async move {
        let user = existing_user(&dir, email).await?;
        let structure_id = match structure {
            None => user.structure_id,
            Some(name) => structure_id(&dir, name).await?,
        };
        dir.assign_role(user.user_id, app, role, structure_id, None)
            .await
            .map_err(failed)?;
        let details = format!("{app}:{role}");
        dir.audit(AuditEvent {
            actor: "cli",
            target: &user.email,
            structure_id: Some(structure_id),
            details: &details,
            ..AuditEvent::of(AuditAction::RoleAssigned)
        })
        .await
        .map_err(failed)?;
        println!("{} now holds {role} on {app}.", user.email);
        Ok(())
    })
}

pub fn designate_referent(config: &Config, email: &str, structure: &str) -> Result<(), StartError> {
    with_directory(config, |dir| async move {
        let user = existing_user(&dir, email).await?;
        let structure_id = structure_id(&dir, structure).await?;
        dir.add_referent(user.user_id, structure_id)
            .await
            .map_err(failed)?;
        dir.audit(AuditEvent {
            actor: "cli",
            target: &user.email,
            structure_id: Some(structure_id),
            ..AuditEvent::of(AuditAction::ReferentDesignated)
        })
        .await
        .map_err(failed)?;
        println!(
            "{} is now référent administrateur of {structure}.",
            user.email
        );
        Ok(())
    })
}

/// Needs the whole gateway: the account's sessions end in the session store and its owner is
/// told through the mailer (docs/security.md#lost-factor).
pub fn reset_factors(config: &Config, email: &str) -> Result<(), StartError> {
    let rt = server::control_runtime()?;
    let removed = rt.block_on(async {
        let gw = server::build_gateway(config.clone()).await?;
        let user = existing_user(&gw.dir, email).await?;
        let removed = gw.dir.remove_factors(user.user_id).await.map_err(failed)?;
        gw.revoke_user(user.user_id).await.map_err(failed)?;
        gw.dir
            .audit(AuditEvent {
                actor: "cli",
                target: &user.email,
                structure_id: Some(user.structure_id),
                ..AuditEvent::of(AuditAction::FactorsReset)
            })
            .await
            .map_err(failed)?;
        if removed {
            crate::second_factor::notify(
                &gw,
                &user.email,
                &user.first_name,
                "La vérification en deux étapes de votre compte Convergences vient d'être réinitialisée par l'exploitant de la plateforme : vos applications d'authentification, clés de sécurité et codes de secours sont retirés. Connectez-vous avec votre mot de passe, puis activez-la à nouveau.",
            )
            .await;
        }
        Ok::<_, StartError>(removed)
    })?;
    if removed {
        println!("The second factors of {email} are removed and its sessions ended.");
    } else {
        println!("{email} had no second factor; its sessions are ended.");
    }
    Ok(())
}

/// `create-platform-admin`'s options.
pub struct NewPlatformAdmin<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    /// Short name; created at the top of the tree, with the e-mail's domain allowed, if missing.
    pub structure: &'a str,
    pub link_hours: i64,
}

/// The account gets no password: the printed first-visit link lets its owner choose one, so
/// that no password travels through a terminal or a shell history.
pub fn create_platform_admin(config: &Config, a: &NewPlatformAdmin) -> Result<(), StartError> {
    let email = normalize_email(a.email);
    let email = email.as_str();
    let Some((_, domain)) = email
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && d.contains('.'))
    else {
        return Err(failed(format!(
            "--email {email:?} is not an e-mail address"
        )));
    };
    if a.first_name.trim().is_empty() || a.last_name.trim().is_empty() {
        return Err(failed("--first-name and --last-name must not be empty"));
    }
    if !(1..=24 * 30).contains(&a.link_hours) {
        return Err(failed("--link-hours must be between 1 and 720"));
    }
    let token = with_directory(config, |dir| async move {
        let structure_id = match dir.structure_by_name(a.structure).await.map_err(failed)? {
            Some(s) => s.id,
            None => dir
                .create_structure(NewStructure {
                    parent_id: None,
                    short_name: a.structure,
                    long_name: "Administration de la plateforme",
                    domains: &[domain],
                })
                .await
                .map_err(failed)?,
        };
        let id = dir
            .provision_user(NewUser {
                email,
                first_name: a.first_name,
                last_name: a.last_name,
                structure_id,
                job_title: "",
                service: "",
                app_identifier: "",
                platform_admin: true,
                created_by: None,
            })
            .await
            .map_err(failed)?;
        let token = dir
            .create_token(id, Purpose::FirstVisit, a.link_hours * 3600)
            .await
            .map_err(failed)?;
        dir.audit(AuditEvent {
            actor: "cli",
            target: email,
            structure_id: Some(structure_id),
            ..AuditEvent::of(AuditAction::PlatformAdminCreated)
        })
        .await
        .map_err(failed)?;
        Ok(token)
    })?;
    println!("Platform administrator {email} created.");
    println!("Set its password within {} h at:", a.link_hours);
    println!("  {}/mot-de-passe/{token}", config.public_url);
    Ok(())
}

/// The account of `--email`, which must exist.
async fn existing_user(dir: &Directory, email: &str) -> Result<Identity, StartError> {
    let id = dir
        .user_id_by_email(email)
        .await
        .map_err(failed)?
        .ok_or_else(|| failed(format!("--email: no account {email:?}")))?;
    dir.identity(id)
        .await
        .map_err(failed)?
        .ok_or_else(|| failed(format!("--email: no account {email:?}")))
}

/// The id of the structure of `--structure`, by short name.
async fn structure_id(dir: &Directory, name: &str) -> Result<i64, StartError> {
    Ok(dir
        .structure_by_name(name)
        .await
        .map_err(failed)?
        .ok_or_else(|| failed(format!("--structure: no structure {name:?}")))?
        .id)
}
