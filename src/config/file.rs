//! The configuration file as written by operators. Every struct denies unknown keys so that a
//! typo stops the start instead of being silently ignored; defaults live here so that the shipped
//! example and the code cannot disagree on them.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub sessions: SessionsSection,
    #[serde(default)]
    pub assertion: AssertionSection,
    #[serde(default)]
    pub security: SecuritySection,
    #[serde(default)]
    pub mail: MailSection,
    #[serde(default)]
    pub reminders: RemindersSection,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub resilience: ResilienceSection,
    #[serde(default)]
    pub oidc: OidcSection,
    #[serde(default)]
    pub support: SupportSection,
    #[serde(default)]
    pub structures: StructuresSection,
    #[serde(default)]
    pub display: DisplaySection,
    #[serde(default)]
    pub legal: LegalSection,
    #[serde(default)]
    pub apps: Vec<AppSection>,
    #[serde(default)]
    pub identity_providers: Vec<super::identity_providers::IdentityProviderSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: String,
    pub portal_host: String,
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub threads: usize,
    pub threading: super::model::Threading,
    /// Pingora's work stealing between the proxy threads of the `shared` layout (`false`: one
    /// single-threaded runtime per thread, each connection served where it was accepted).
    pub work_stealing: bool,
    pub grace_period_seconds: u64,
    pub graceful_shutdown_timeout_seconds: u64,
    /// The longest a request header may take to arrive once its first byte has (a client
    /// sending a header byte by byte would otherwise hold a connection indefinitely).
    pub header_timeout_seconds: u64,
    /// How old a cached identity may be on the proxy path (docs/decisions/0006): the bound on
    /// how late a change made outside a running gateway (or whose event was lost) is seen.
    pub identity_cache_seconds: u64,
    pub log_format: String,
    pub tls: Option<TlsSection>,
    /// Load balancers whose X-Forwarded-For is believed (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
    /// CA certificates (PEM) that upstream TLS certificates are verified against, instead of
    /// the system's trust store.
    pub upstream_ca_file: Option<PathBuf>,
    /// Bearer token that `/metrics` requires; without one, `/metrics` answers 404.
    pub metrics_token: Option<super::Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub listen: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub redirect_http: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            portal_host: "auth.localhost".into(),
            public_url: None,
            data_dir: PathBuf::from("data"),
            threads: 2,
            threading: super::model::Threading::PerThread,
            // Pingora's default, for the `shared` layout only.
            work_stealing: true,
            grace_period_seconds: 5,
            graceful_shutdown_timeout_seconds: 5,
            header_timeout_seconds: 10,
            identity_cache_seconds: 10,
            log_format: "text".into(),
            tls: None,
            trusted_proxies: Vec::new(),
            upstream_ca_file: None,
            metrics_token: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

/// Behaviour under faults and overload (docs/operations.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceSection {
    /// Bound on each session store (Redis) command and on connecting to it.
    pub session_store_timeout_ms: u64,
    /// Bound on a directory call made for a request, waiting for a connection included.
    pub directory_timeout_ms: u64,
    /// Consecutive failures of a dependency that open its circuit breaker.
    pub failures_to_open: u32,
    /// Pause between two checks of a dependency whose breaker is open.
    pub probe_interval_ms: u64,
    /// Requests that may wait on one dependency at once; more get a 503 at once.
    pub max_waiting: usize,
    /// Open client connections per process; more are answered 503 and closed.
    pub max_connections: usize,
    /// Requests in flight per process; more are answered 503.
    pub max_requests: usize,
    /// `Retry-After` of the 503 answers given for overload.
    pub retry_after_seconds: u64,
    /// Degraded mode (0: off): while the directory is unreachable, a session keeps reaching
    /// the applications its identity, read before the outage, allowed, for this long past the
    /// identity cache's lifetime.
    pub directory_grace_seconds: u64,
    /// The longest a portal or directory page may take to answer (a query the database never
    /// answers, a hung dependency): past it, the French 503 page.
    pub page_timeout_ms: u64,
}

impl Default for ResilienceSection {
    fn default() -> Self {
        Self {
            session_store_timeout_ms: 500,
            directory_timeout_ms: 1000,
            failures_to_open: 2,
            probe_interval_ms: 200,
            max_waiting: 64,
            max_connections: 10_000,
            max_requests: 2_048,
            retry_after_seconds: 1,
            directory_grace_seconds: 0,
            page_timeout_ms: 15_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsSection {
    pub store: String,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and of the event channel (several deployments can share a
    /// Redis).
    pub redis_prefix: String,
    pub cookie_name: String,
    pub app_cookie_name: String,
    pub cookie_domain: Option<String>,
    pub idle_timeout_seconds: u64,
    pub absolute_timeout_seconds: u64,
}

impl Default for SessionsSection {
    fn default() -> Self {
        Self {
            store: "memory".into(),
            redis_url: None,
            redis_prefix: "convergences:".into(),
            cookie_name: "convergences_session".into(),
            app_cookie_name: "convergences_app".into(),
            cookie_domain: None,
            idle_timeout_seconds: 30 * 60,
            absolute_timeout_seconds: 12 * 3600,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionSection {
    pub key_file: Option<PathBuf>,
    /// Keys being rotated out: still published in the JWKS, no longer used to sign.
    pub previous_key_files: Vec<PathBuf>,
    pub ttl_seconds: u64,
    pub issuer: Option<String>,
}

impl Default for AssertionSection {
    fn default() -> Self {
        Self {
            key_file: None,
            previous_key_files: Vec::new(),
            ttl_seconds: 60,
            issuer: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    /// Shared secret for CSRF tokens; must be the same on every instance.
    pub secret: Option<String>,
    /// Consecutive failed logins for one e-mail after which each attempt must wait.
    pub login_failures_before_delay: u32,
    /// First delay; it doubles with each further failure, up to `login_max_delay_seconds`.
    pub login_delay_seconds: u64,
    pub login_max_delay_seconds: u64,
    /// Login, first-visit and reset attempts allowed per client IP and minute.
    pub attempts_per_ip_per_minute: u32,
    /// Sign-ins started at identity providers allowed per client address and minute (each one
    /// holds a pending attempt in the session store for ten minutes).
    pub identity_provider_starts_per_ip_per_minute: u32,
    /// Lifetime of first-visit and reset links.
    pub link_ttl_hours: u64,
    /// Référents and platform administrators must have a second factor
    /// (docs/security.md#second-factor-policy).
    pub second_factor_for_administrators: bool,
    /// Days an account may postpone its enrolment once a rule requires a second factor of it.
    pub second_factor_grace_days: u32,
    /// Sensitive directory actions need an authentication at most this old (step-up).
    pub reauth_minutes: u32,
}

impl Default for SecuritySection {
    fn default() -> Self {
        Self {
            secret: None,
            login_failures_before_delay: 5,
            login_delay_seconds: 2,
            login_max_delay_seconds: 900,
            attempts_per_ip_per_minute: 30,
            identity_provider_starts_per_ip_per_minute: 60,
            link_ttl_hours: 24,
            second_factor_for_administrators: true,
            second_factor_grace_days: 14,
            reauth_minutes: 15,
        }
    }
}

impl std::fmt::Debug for SecuritySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecuritySection")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field(
                "login_failures_before_delay",
                &self.login_failures_before_delay,
            )
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSection {
    /// "outbox" (files in data_dir/outbox, links logged) or "smtp".
    pub transport: String,
    pub from: String,
    pub outbox_dir: Option<PathBuf>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    /// "starttls", "tls" or "none".
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_timeout_seconds: u64,
}

impl Default for MailSection {
    fn default() -> Self {
        Self {
            transport: "outbox".into(),
            from: "Convergences <no-reply@convergences.localhost>".into(),
            outbox_dir: None,
            smtp_host: None,
            smtp_port: None,
            smtp_security: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_timeout_seconds: 10,
        }
    }
}

impl std::fmt::Debug for MailSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSection")
            .field("transport", &self.transport)
            .field("smtp_host", &self.smtp_host)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemindersSection {
    /// Send référents, once a day, the accounts that expire soon or were never used.
    pub enabled: bool,
    /// UTC hour (0-23) at which the daily reminder runs.
    pub hour: u32,
    pub expiring_within_days: u32,
    pub unused_for_days: u32,
}

impl Default for RemindersSection {
    fn default() -> Self {
        Self {
            enabled: true,
            hour: 6,
            expiring_within_days: 30,
            unused_for_days: 90,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Empty for an application that only signs in through OpenID Connect (`oidc` and `url`
    /// set, nothing proxied).
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Where the portal tile of an OpenID Connect-only application points.
    #[serde(default)]
    pub url: Option<String>,
    /// The application's OpenID Connect client (docs/oidc-provider.md).
    #[serde(default)]
    pub oidc: Option<super::file_oidc::OidcClientSection>,
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    #[serde(default)]
    pub headers: HeaderNamesSection,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_read_timeout")]
    pub read_timeout_ms: u64,
    #[serde(default)]
    pub upstream_tls: bool,
    #[serde(default)]
    pub upstream_sni: Option<String>,
    /// Sessions without a second factor are sent to confirm one before reaching the app.
    #[serde(default)]
    pub require_mfa: bool,
    /// Where this application's users ask for help; `[support].applications_email` otherwise.
    #[serde(default)]
    pub support_email: Option<String>,
}

fn default_roles() -> Vec<String> {
    vec!["administrateur".into(), "utilisateur".into()]
}
fn default_connect_timeout() -> u64 {
    2_000
}
fn default_read_timeout() -> u64 {
    60_000
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderNamesSection {
    pub user: String,
    pub user_id: String,
    pub name: String,
    pub structure: String,
    pub roles: String,
    pub app_id: String,
    pub assertion: String,
}

impl Default for HeaderNamesSection {
    fn default() -> Self {
        Self {
            user: "X-Convergences-User".into(),
            user_id: "X-Convergences-User-Id".into(),
            name: "X-Convergences-Name".into(),
            structure: "X-Convergences-Structure".into(),
            roles: "X-Convergences-Roles".into(),
            app_id: "X-Convergences-App-Id".into(),
            assertion: "X-Convergences-Assertion".into(),
        }
    }
}

pub use super::file_legal::{DisplaySection, LegalSection};
pub use super::file_oidc::OidcSection;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Audit events older than this are deleted by `admin purge-audit` and by the daily job.
    pub retention_days: u32,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            retention_days: 365,
        }
    }
}

/// Who to ask for help, shown in every page's footer, on the error pages and in mails
/// (docs/product.md#help-and-contacts). Every key is optional: what is not set is not shown.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportSection {
    /// The applications' support (an `[[apps]]` entry may name its own).
    pub applications_email: Option<String>,
    pub applications_label: String,
    /// The correspondent for the directory: référents, structures, access problems.
    pub correspondent_email: Option<String>,
    pub correspondent_label: String,
    /// The data protection officer.
    pub dpo_email: Option<String>,
    pub dpo_label: String,
    /// The user guide (http or https).
    pub guide_url: Option<String>,
}

impl Default for SupportSection {
    fn default() -> Self {
        Self {
            applications_email: None,
            applications_label: "Assistance des applications".into(),
            correspondent_email: None,
            correspondent_label: "Correspondant de l'annuaire".into(),
            dpo_email: None,
            dpo_label: "Délégué à la protection des données".into(),
            guide_url: None,
        }
    }
}

/// The structure tree (docs/product.md#structures).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StructuresSection {
    /// Levels a new or moved structure may be at: 2 is a principal establishment and the
    /// establishments attached to it.
    pub max_depth: u32,
}

impl Default for StructuresSection {
    fn default() -> Self {
        Self { max_depth: 2 }
    }
}
