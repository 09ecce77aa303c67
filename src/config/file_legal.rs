//! `[display]` and `[legal]` as operators write them: how times are shown, and the
//! organisation-specific content of the public pages "Mentions légales" and "Accessibilité"
//! (docs/product.md#public-pages).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplaySection {
    /// IANA name of the time zone that pages, exports and mails show times in (with its
    /// summer and winter time rules).
    pub time_zone: String,
}

impl Default for DisplaySection {
    fn default() -> Self {
        Self {
            time_zone: "Europe/Paris".into(),
        }
    }
}

/// Every text key is optional: a missing one is said to be missing on the page rather than
/// invented. The accessibility status defaults to `non_conforme`, the only status that needs no
/// audit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegalSection {
    /// The body that publishes the service ("éditeur").
    pub publisher: Option<String>,
    pub publisher_address: Option<String>,
    pub publisher_phone: Option<String>,
    /// SIRET or other registration of the publisher.
    pub publisher_registration: Option<String>,
    /// "Directeur ou directrice de la publication": a person's name and position.
    pub publication_director: Option<String>,
    /// Who hosts the service ("hébergeur"), its address and telephone.
    pub host: Option<String>,
    pub host_address: Option<String>,
    pub host_phone: Option<String>,
    /// RGAA 4.1 status: `non_conforme`, `partiellement_conforme` or `totalement_conforme`.
    pub accessibility_status: String,
    /// Share of the RGAA criteria met, from the audit (0-100).
    pub accessibility_rate: Option<u8>,
    /// The audit the status rests on (required for any status but `non_conforme`).
    pub accessibility_audit_date: Option<String>,
    pub accessibility_audit_by: Option<String>,
    pub accessibility_audit_method: Option<String>,
    /// When the statement was written or last updated (YYYY-MM-DD).
    pub accessibility_statement_date: Option<String>,
    /// Where to report an accessibility problem; the correspondent of `[support]` otherwise.
    pub accessibility_contact_email: Option<String>,
}

impl Default for LegalSection {
    fn default() -> Self {
        Self {
            publisher: None,
            publisher_address: None,
            publisher_phone: None,
            publisher_registration: None,
            publication_director: None,
            host: None,
            host_address: None,
            host_phone: None,
            accessibility_status: "non_conforme".into(),
            accessibility_rate: None,
            accessibility_audit_date: None,
            accessibility_audit_by: None,
            accessibility_audit_method: None,
            accessibility_statement_date: None,
            accessibility_contact_email: None,
        }
    }
}
