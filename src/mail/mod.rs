//! Outgoing mail: SMTP in production (lettre, STARTTLS/TLS, authentication), or an "outbox"
//! that writes each message as an .eml file in the data folder and logs its link, so that a
//! single machine works with no mail server (docs/product.md#mail).

pub mod signature;

use crate::config::{MailSettings, MailTransport, SmtpSecurity};
use lettre::message::{header::ContentTransferEncoding, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid recipient {0:?}")]
    Recipient(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("cannot write to the outbox {path}: {source}")]
    Outbox {
        path: String,
        source: std::io::Error,
    },
}

/// A message ready to send: French plain text and HTML alternatives.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A link to log when the outbox is used (the demo's way to follow it).
    pub link: Option<String>,
}

enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// Must be called on a Tokio runtime (lettre's pool starts tasks).
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailError> {
        let transport = match &settings.transport {
            MailTransport::Outbox { dir } => Transport::Outbox(dir.clone()),
            MailTransport::Smtp {
                host,
                port,
                security,
                username,
                password,
                timeout,
            } => {
                let builder = match security {
                    SmtpSecurity::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
                    SmtpSecurity::None => Ok(
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                    ),
                }
                .map_err(|e| MailError::Smtp(e.to_string()))?;
                let mut builder = builder.port(*port).timeout(Some(*timeout));
                if let (Some(u), Some(p)) = (username, password) {
                    builder = builder.credentials(Credentials::new(u.clone(), p.0.clone()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Mailer {
            from: settings.from.clone(),
            transport,
        })
    }

    pub fn is_outbox(&self) -> bool {
        matches!(self.transport, Transport::Outbox(_))
    }

    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Recipient(mail.to.clone()))?;
        let text = SinglePart::builder()
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::QuotedPrintable)
            .body(mail.text.clone());
        let body = match &mail.html {
            Some(html) => MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(lettre::message::header::ContentType::TEXT_HTML)
                    .header(ContentTransferEncoding::QuotedPrintable)
                    .body(html.clone()),
            ),
            None => MultiPart::mixed().singlepart(text),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                tracing::info!(subject = %mail.subject, "mail sent");
                Ok(())
            }
            Transport::Outbox(dir) => {
                let name = format!(
                    "{}-{}.eml",
                    crate::directory::now(),
                    &crate::auth::random_token()[..8]
                );
                let path = dir.join(name);
                // Messages carry password links: the outbox is the owner's only (0700/0600).
                let write = async {
                    tokio::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(crate::data_dir::DIR_MODE)
                        .create(dir)
                        .await?;
                    let mut f = tokio::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(crate::data_dir::FILE_MODE)
                        .open(&path)
                        .await?;
                    use tokio::io::AsyncWriteExt;
                    f.write_all(&message.formatted()).await?;
                    f.flush().await
                };
                write.await.map_err(|source| MailError::Outbox {
                    path: path.display().to_string(),
                    source,
                })?;
                // Outbox mode is for single machines and demos: the link is logged on purpose,
                // so the operator can follow it without a mail server.
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    file = %path.display(),
                    link = mail.link.as_deref().unwrap_or(""),
                    "mail written to the outbox"
                );
                Ok(())
            }
        }
    }
}
