//! `[mail]`: SMTP or the outbox folder (docs/product.md#mail).

use super::Problems;
use crate::config::file::MailSection;
use crate::config::model::{MailSettings, MailTransport, Secret, SmtpSecurity};
use std::path::Path;
use std::time::Duration;

/// `None` when the sender address is bad (a problem was recorded).
pub(super) fn check(m: &MailSection, data_dir: &Path, p: &mut Problems) -> Option<MailSettings> {
    let from = match m.from.parse::<lettre::message::Mailbox>() {
        Ok(mb) => Some(mb),
        Err(_) => {
            p.add(
                "mail.from",
                format!(
                    "{:?} is not an address such as \"Convergences <no-reply@example.fr>\"",
                    m.from
                ),
            );
            None
        }
    };
    let transport = match m.transport.as_str() {
        "outbox" => MailTransport::Outbox {
            dir: m
                .outbox_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("outbox")),
        },
        "smtp" => smtp(m, p),
        other => {
            p.add(
                "mail.transport",
                format!("{other:?} is not one of \"outbox\", \"smtp\""),
            );
            MailTransport::Outbox {
                dir: data_dir.join("outbox"),
            }
        }
    };
    from.map(|from| MailSettings { transport, from })
}

fn smtp(m: &MailSection, p: &mut Problems) -> MailTransport {
    let security = match m.smtp_security.as_str() {
        "starttls" => SmtpSecurity::StartTls,
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        other => {
            p.add(
                "mail.smtp_security",
                format!("{other:?} is not one of \"starttls\", \"tls\", \"none\""),
            );
            SmtpSecurity::StartTls
        }
    };
    let host = m.smtp_host.clone().unwrap_or_default();
    if host.is_empty() {
        p.add(
            "mail.smtp_host",
            "is required when mail.transport = \"smtp\"",
        );
    }
    if m.smtp_username.is_some() != m.smtp_password.is_some() {
        p.add(
            "mail.smtp_password",
            "mail.smtp_username and mail.smtp_password go together",
        );
    }
    MailTransport::Smtp {
        port: m.smtp_port.unwrap_or(match security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::None => 25,
        }),
        host,
        security,
        username: m.smtp_username.clone(),
        password: m.smtp_password.clone().map(Secret),
        timeout: Duration::from_secs(m.smtp_timeout_seconds.max(1)),
    }
}
