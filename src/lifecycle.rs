//! Account lifecycle actions shared by the portal, the directory screens and the CLI: first-visit
//! and reset links sent by e-mail, and the expiry reminder sent to référents.

use crate::directory::audit_action::AuditAction;
use crate::directory::tokens::Purpose;
use crate::mail::Mail;
use crate::state::Gateway;
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("the message could not be delivered: {0}")]
    Delivery(#[from] crate::mail::MailError),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
}

/// A self-service request for the same account and purpose is ignored for this long after the
/// previous link, so that nobody can flood a mailbox.
pub const RESEND_AFTER_SECONDS: i64 = 60;

#[derive(Template)]
#[template(path = "mail/link.txt")]
struct LinkText<'a> {
    first_name: &'a str,
    intro: &'a str,
    hours: u64,
    link: &'a str,
    email: &'a str,
    signature: &'a str,
}

#[derive(Template)]
#[template(path = "mail/link.html")]
struct LinkHtml<'a> {
    subject: &'a str,
    first_name: &'a str,
    intro: &'a str,
    hours: u64,
    link: &'a str,
    email: &'a str,
    signature: &'a str,
}

/// The end of every message: the portal and the `[support]` contacts.
fn signature(gw: &Gateway) -> String {
    crate::mail::signature::text(&gw.config.support, &gw.config.public_url)
}

/// Creates a one-time link for the user and e-mails it. Returns the link; a delivery failure is
/// an error the caller must report (the link is then void: a newer one can be requested).
pub async fn send_password_link(
    gw: &Gateway,
    user_id: i64,
    purpose: Purpose,
) -> Result<String, LifecycleError> {
    let ident = gw
        .dir
        .identity(user_id)
        .await?
        .ok_or(crate::directory::DirectoryError::NotFound)?;
    let ttl = gw.config.link_ttl.as_secs();
    let token = gw.dir.create_token(user_id, purpose, ttl as i64).await?;
    let link = format!("{}/mot-de-passe/{token}", gw.config.public_url);
    let (subject, intro) = match purpose {
        Purpose::FirstVisit => (
            "Convergences : création de votre mot de passe",
            "Vous avez demandé à accéder pour la première fois au portail Convergences.",
        ),
        Purpose::Reset => (
            "Convergences : réinitialisation de votre mot de passe",
            "Une réinitialisation de votre mot de passe Convergences a été demandée. Votre mot de passe actuel reste valable tant que vous n'en avez pas choisi un nouveau.",
        ),
    };
    let hours = ttl / 3600;
    let text = LinkText {
        first_name: &ident.first_name,
        intro,
        hours,
        link: &link,
        email: &ident.email,
        signature: &signature(gw),
    }
    .render()?;
    let html = LinkHtml {
        subject,
        first_name: &ident.first_name,
        intro,
        hours,
        link: &link,
        email: &ident.email,
        signature: &crate::mail::signature::html(&gw.config.support, &gw.config.public_url),
    }
    .render()?;
    gw.mailer
        .send(Mail {
            to: ident.email.clone(),
            subject: subject.to_string(),
            text,
            html: Some(html),
            link: Some(link.clone()),
        })
        .await?;
    Ok(link)
}

/// Self-service ("Première visite ?", "Mot de passe oublié ?"): sends a link only when the
/// account exists and is in the right state, and never says which happened. Runs detached from
/// the request so that its duration does not reveal whether a message was sent; failures are
/// logged and audited.
pub fn request_link(
    gw: std::sync::Arc<Gateway>,
    email: String,
    purpose: Purpose,
    client_ip: String,
) {
    tokio::spawn(async move {
        if let Err(e) = request_link_now(&gw, &email, purpose, &client_ip).await {
            tracing::error!(error = %e, ?purpose, "self-service link could not be sent");
            let _ = gw
                .dir
                .audit(crate::directory::audit::AuditEvent {
                    actor: &email,
                    client_ip: &client_ip,
                    details: &e.to_string(),
                    ..crate::directory::audit::AuditEvent::of(AuditAction::MailFailed)
                })
                .await;
        }
    });
}

async fn request_link_now(
    gw: &Gateway,
    email: &str,
    purpose: Purpose,
    client_ip: &str,
) -> Result<(), LifecycleError> {
    let Some(user_id) = gw.dir.user_id_by_email(email).await? else {
        return Ok(());
    };
    let Some(ident) = gw.dir.identity(user_id).await? else {
        return Ok(());
    };
    let today = crate::directory::today();
    let in_dates = ident
        .valid_from
        .as_deref()
        .is_none_or(|f| f <= today.as_str())
        && ident
            .valid_until
            .as_deref()
            .is_none_or(|u| today.as_str() <= u);
    let eligible = !ident.locked
        && in_dates
        && match purpose {
            Purpose::FirstVisit => !ident.has_password,
            Purpose::Reset => ident.has_password,
        };
    // An account whose structure turned password sign-in off gets no link: it would set a
    // password it may not use (docs/identity-providers.md#password-sign-in-turned-off).
    if !eligible || gw.password_refused(user_id).await? {
        return Ok(());
    }
    if let Some(at) = gw.dir.last_token_at(user_id, purpose).await? {
        if crate::directory::now() - at < RESEND_AFTER_SECONDS {
            return Ok(());
        }
    }
    send_password_link(gw, user_id, purpose).await?;
    gw.dir
        .audit(crate::directory::audit::AuditEvent {
            actor_id: Some(user_id),
            actor: &ident.email,
            target: &ident.email,
            structure_id: Some(ident.structure_id),
            client_ip,
            ..crate::directory::audit::AuditEvent::of(match purpose {
                Purpose::FirstVisit => AuditAction::FirstVisitLinkSent,
                Purpose::Reset => AuditAction::ResetLinkSent,
            })
        })
        .await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "mail/email_changed.txt")]
struct EmailChangedText<'a> {
    first_name: &'a str,
    by: &'a str,
    old_email: &'a str,
    new_email: &'a str,
    signature: &'a str,
}

/// Tells the account's previous address that its e-mail was changed, and by whom: the login
/// and the reset links now go elsewhere, so the owner must hear of it where they still read
/// (an account taken over this way is noticed). Sent for every change, whoever makes it.
pub async fn notify_email_changed(
    gw: &Gateway,
    first_name: &str,
    old_email: &str,
    new_email: &str,
    by: &str,
) -> Result<(), LifecycleError> {
    let text = EmailChangedText {
        first_name,
        by,
        old_email,
        new_email,
        signature: &signature(gw),
    }
    .render()?;
    gw.mailer
        .send(Mail {
            to: old_email.to_string(),
            subject: "Convergences : l'adresse e-mail de votre compte a été modifiée".into(),
            text,
            html: None,
            link: None,
        })
        .await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "mail/reminder.txt")]
struct ReminderText<'a> {
    first_name: &'a str,
    expiring: &'a [String],
    unused: &'a [String],
    expiring_days: u32,
    unused_days: u32,
    portal_url: &'a str,
    signature: &'a str,
}

/// Sends each référent the accounts of their structures that expire within `expiring_days`
/// and those never used for `unused_days`. Returns how many messages went out; a failed
/// delivery is logged and the others still go.
pub async fn send_reminders(
    gw: &Gateway,
    expiring_days: u32,
    unused_days: u32,
) -> Result<usize, LifecycleError> {
    let today = time::OffsetDateTime::now_utc().date();
    let until = today + time::Duration::days(i64::from(expiring_days));
    let fmt = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let cutoff = crate::directory::now() - i64::from(unused_days) * 86_400;
    let batches = gw
        .dir
        .reminder_batches(&fmt(today), &fmt(until), cutoff)
        .await?;
    let mut sent = 0;
    let signature = signature(gw);
    for b in batches {
        let text = ReminderText {
            first_name: &b.referent_first_name,
            expiring: &b.expiring,
            unused: &b.unused,
            expiring_days,
            unused_days,
            portal_url: &gw.config.public_url,
            signature: &signature,
        }
        .render()?;
        let mail = Mail {
            to: b.referent_email.clone(),
            subject: "Convergences : comptes à vérifier dans vos structures".into(),
            text,
            html: None,
            link: None,
        };
        match gw.mailer.send(mail).await {
            Ok(()) => sent += 1,
            Err(e) => tracing::error!(error = %e, "reminder could not be delivered"),
        }
    }
    Ok(sent)
}

/// The daily task of `serve`: at the configured UTC hour, one instance (the one that claims the
/// day in the database) purges old audit events and sign-ins and, if enabled, sends the
/// reminders.
pub async fn daily_loop(gw: std::sync::Arc<Gateway>) {
    let r = gw.config.reminders.clone();
    loop {
        let now = time::OffsetDateTime::now_utc();
        let next = now
            .replace_time(time::Time::from_hms(r.hour as u8, 0, 0).unwrap_or(time::Time::MIDNIGHT));
        let next = if next <= now {
            next + time::Duration::days(1)
        } else {
            next
        };
        let wait = (next - now).unsigned_abs();
        tokio::time::sleep(wait).await;
        let today = crate::directory::today();
        match gw.dir.claim_daily_job("purge_audit", &today).await {
            Ok(true) => match gw.dir.purge_audit(gw.config.audit_retention_days).await {
                Ok(n) => tracing::info!(deleted = n, "old audit events purged"),
                Err(e) => tracing::error!(error = %e, "audit purge failed"),
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim the audit purge job"),
        }
        match gw.dir.claim_daily_job("purge_sign_ins", &today).await {
            Ok(true) => match gw.dir.purge_sign_ins().await {
                Ok(n) => tracing::info!(deleted = n, "old sign-ins purged"),
                Err(e) => tracing::error!(error = %e, "sign-in history purge failed"),
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim the sign-in purge job"),
        }
        if !r.enabled {
            continue;
        }
        match gw.dir.claim_daily_job("reminders", &today).await {
            Ok(true) => {
                match send_reminders(&gw, r.expiring_within_days, r.unused_for_days).await {
                    Ok(n) => tracing::info!(messages = n, "expiry reminders sent"),
                    Err(e) => tracing::error!(error = %e, "expiry reminders failed"),
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim the reminder job"),
        }
    }
}
