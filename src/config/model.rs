//! The validated configuration, what the rest of the program reads. Unlike the file's structs
//! (`file.rs`), every value here has been checked and converted (addresses parsed, header names
//! built, durations typed, defaults that depend on other keys filled in), so that no consumer
//! has to handle a bad value at run time.

use http::HeaderName;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the proxy's threads are laid out (docs/decisions/0007-proxy-threading-layout.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threading {
    /// One listening service per thread on the same address (`SO_REUSEPORT`), each with its
    /// own single-threaded runtime and upstream connection pool: a connection is accepted,
    /// served and proxied on one thread.
    #[default]
    PerThread,
    /// One service whose `threads` share a listening socket and an upstream pool (Pingora's
    /// default layout); `work_stealing` chooses the runtime.
    Shared,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis,
}

/// docs/decisions/0003-session-model.md explains the two timeouts and the two stores.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub store: StoreKind,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub cookie_name: String,
    pub app_cookie_name: String,
    /// Lower-cased, without a leading dot; it contains the portal host (docs/decisions/0004-sso-redirect-handshake.md).
    pub cookie_domain: Option<String>,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
}

/// `[resilience]`, checked (docs/operations.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resilience {
    pub session_store_timeout: Duration,
    pub directory_timeout: Duration,
    pub failures_to_open: u32,
    pub probe_interval: Duration,
    pub max_waiting: usize,
    pub max_connections: usize,
    pub max_requests: usize,
    pub retry_after_seconds: u64,
    /// Zero: the degraded mode is off (fail closed).
    pub directory_grace: Duration,
    pub page_timeout: Duration,
}

/// Identity header names sent to one application.
#[derive(Clone, Debug)]
pub struct HeaderNames {
    pub user: HeaderName,
    pub user_id: HeaderName,
    pub name: HeaderName,
    pub structure: HeaderName,
    pub roles: HeaderName,
    pub app_id: HeaderName,
    pub assertion: HeaderName,
}

impl HeaderNames {
    /// Every name, so that the proxy can strip all of them from client requests whatever the
    /// application renamed (docs/gateway.md#identity-headers).
    pub fn all(&self) -> [&HeaderName; 7] {
        [
            &self.user,
            &self.user_id,
            &self.name,
            &self.structure,
            &self.roles,
            &self.app_id,
            &self.assertion,
        ]
    }
}

/// One `[[apps]]` entry (docs/gateway.md#routing).
#[derive(Clone, Debug)]
pub struct AppConfig {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Lower-cased.
    pub host: Option<String>,
    /// Normalised: starts with `/`, no trailing `/`.
    pub path_prefix: Option<String>,
    pub upstreams: Vec<SocketAddr>,
    pub roles: Vec<String>,
    pub headers: HeaderNames,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub upstream_tls: bool,
    /// The application's host unless the file names another.
    pub upstream_sni: String,
    /// Only sessions confirmed with a second factor reach it (docs/security.md#step-up).
    pub require_mfa: bool,
    /// Tile target of an application without upstreams (OpenID Connect only).
    pub url: Option<String>,
    pub oidc: Option<super::model_oidc::OidcClient>,
    /// Its own support address, else `[support].applications_email`.
    pub support: Option<Contact>,
}

/// One help contact: what it is for (French, shown as is) and its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub label: String,
    pub email: String,
}

/// `[support]`: who to ask for help (docs/product.md#help-and-contacts). `None` is not shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Support {
    pub applications: Option<Contact>,
    pub correspondent: Option<Contact>,
    pub dpo: Option<Contact>,
    pub guide_url: Option<String>,
    /// `[legal]`: what the footer and the public pages "Mentions légales" and "Accessibilité"
    /// say; here because every page's footer (error pages included) shows its status.
    pub legal: Legal,
}

/// RGAA 4.1 compliance status, as the accessibility statement and the footer say it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compliance {
    #[default]
    NonConforme,
    Partial,
    Total,
}

impl Compliance {
    /// "Accessibilité : partiellement conforme".
    pub fn label(self) -> &'static str {
        match self {
            Compliance::NonConforme => "non conforme",
            Compliance::Partial => "partiellement conforme",
            Compliance::Total => "totalement conforme",
        }
    }
}

/// The audit an accessibility status rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// "JJ/MM/AAAA".
    pub date: String,
    pub by: Option<String>,
    pub method: String,
}

/// `[legal]`, validated (docs/product.md#public-pages). Texts are trimmed; `None` is not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Legal {
    pub publisher: Option<String>,
    pub publisher_address: Option<String>,
    pub publisher_phone: Option<String>,
    pub publisher_registration: Option<String>,
    pub publication_director: Option<String>,
    pub host: Option<String>,
    pub host_address: Option<String>,
    pub host_phone: Option<String>,
    pub compliance: Compliance,
    /// Percentage of RGAA criteria met.
    pub rate: Option<u8>,
    pub audit: Option<Audit>,
    /// "JJ/MM/AAAA".
    pub statement_date: Option<String>,
    pub accessibility_contact: Option<String>,
}

impl Support {
    pub fn is_empty(&self) -> bool {
        self.applications.is_none()
            && self.correspondent.is_none()
            && self.dpo.is_none()
            && self.guide_url.is_none()
    }
}

/// A value that must never reach a log line: `Debug` prints `<redacted>`, so a configuration
/// can be logged whole (docs/security.md#secrets-and-keys).
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

/// Without a mail server, messages go to an outbox folder so that one machine works with
/// nothing installed (docs/product.md#mail).
#[derive(Clone, Debug)]
pub enum MailTransport {
    Outbox {
        dir: PathBuf,
    },
    Smtp {
        host: String,
        /// The file's port, else the usual one for `security` (465, 587 or 25).
        port: u16,
        security: SmtpSecurity,
        username: Option<String>,
        password: Option<Secret>,
        timeout: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub from: lettre::message::Mailbox,
}

/// Delays after failed logins and the per-IP limit (docs/security.md#brute-force).
#[derive(Clone, Debug)]
pub struct LoginThrottle {
    pub failures_before_delay: u32,
    pub delay: Duration,
    pub max_delay: Duration,
    pub attempts_per_ip_per_minute: u32,
    /// Sign-ins started at identity providers per client address and minute
    /// (docs/identity-providers.md#limits).
    pub provider_starts_per_ip_per_minute: u32,
}

/// The daily reminders to référents (docs/product.md#directory).
#[derive(Clone, Debug)]
pub struct Reminders {
    pub enabled: bool,
    pub hour: u32,
    pub expiring_within_days: u32,
    pub unused_for_days: u32,
}

#[derive(Clone, Debug)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The plain listener answers 301 to the HTTPS address (but for health probes).
    pub redirect_http: bool,
}

/// Who must have a second factor and how fresh an authentication sensitive actions need
/// (docs/security.md#second-factor-policy, docs/security.md#step-up).
#[derive(Clone, Debug)]
pub struct SecondFactorPolicy {
    pub for_administrators: bool,
    pub grace: Duration,
    pub reauth: Duration,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from, for messages that send the operator back to it.
    pub source: String,
    pub listen: SocketAddr,
    pub tls: Option<TlsConfig>,
    /// Peers whose X-Forwarded-For names the real client: per-IP limits and the audit journal
    /// need the client's address, not the load balancer's (docs/security.md#brute-force).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub upstream_ca_file: Option<PathBuf>,
    /// Bearer token of `/metrics` (`None`: the endpoint answers 404).
    pub metrics_token: Option<Secret>,
    /// Lower-cased.
    pub portal_host: String,
    /// Absolute base URL of the portal, without trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub threads: usize,
    pub threading: Threading,
    pub work_stealing: bool,
    pub grace_period_seconds: u64,
    pub header_timeout: Duration,
    /// `server.identity_cache_seconds`: how old a cached identity may be on the proxy path.
    pub identity_ttl: Duration,
    pub graceful_shutdown_timeout_seconds: u64,
    pub log_json: bool,
    pub database_url: String,
    pub db_max_connections: u32,
    pub sessions: SessionSettings,
    pub assertion_key_file: PathBuf,
    pub assertion_previous_key_files: Vec<PathBuf>,
    pub assertion_ttl: Duration,
    pub issuer: String,
    pub secret: Option<Secret>,
    pub throttle: LoginThrottle,
    pub link_ttl: Duration,
    pub second_factor: SecondFactorPolicy,
    pub mail: MailSettings,
    pub reminders: Reminders,
    /// Days an audit event is kept.
    pub audit_retention_days: u32,
    pub resilience: Resilience,
    pub oidc: super::model_oidc::OidcSettings,
    pub support: std::sync::Arc<Support>,
    /// Deepest level a structure may be created or moved at (1: principal establishments).
    pub structures_max_depth: u32,
    /// The zone times are shown in (`[display].time_zone`), with its summer/winter rules.
    pub time_zone: jiff::tz::TimeZone,
    pub apps: Vec<AppConfig>,
    /// External OpenID Connect providers (docs/identity-providers.md).
    pub identity_providers: Vec<super::identity_providers::IdentityProvider>,
}
