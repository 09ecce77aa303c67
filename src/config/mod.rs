//! Configuration: the TOML file (`file.rs`) is parsed, overlaid with `CONVERGENCES_*`
//! environment variables, then validated into [`Config`], which the rest of the program uses.
//! Validation collects every problem at once and names each offending key, so an operator fixes
//! a file in one pass.

pub mod file;

use file::{AppSection, FileConfig};
use http::HeaderName;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of environment variables that override keys of the file, e.g.
/// `CONVERGENCES_DATABASE__URL` for `database.url`.
pub const ENV_PREFIX: &str = "CONVERGENCES_";

/// Paths the portal itself answers on its host; an application's `path_prefix` on the portal
/// host may not shadow them.
pub const RESERVED_PREFIXES: &[&str] = &[
    "/_static",
    "/_convergences",
    "/.well-known",
    "/login",
    "/logout",
    "/sso",
    "/healthz",
    "/readyz",
    "/metrics",
    "/aia",
    "/premiere-visite",
    "/mot-de-passe-oublie",
    "/mot-de-passe",
];

#[derive(Debug)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Why a configuration was refused. Display prints one line per problem, each naming the file
/// and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration file: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: invalid TOML: {message}")]
    Syntax { file: String, message: String },
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(file: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{file}: key `{}`: {}", p.key, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis,
}

#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub store: StoreKind,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub cookie_name: String,
    pub app_cookie_name: String,
    pub cookie_domain: Option<String>,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
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

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub host: Option<String>,
    /// Normalised: starts with `/`, no trailing `/`.
    pub path_prefix: Option<String>,
    pub upstreams: Vec<SocketAddr>,
    pub roles: Vec<String>,
    pub headers: HeaderNames,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub upstream_tls: bool,
    pub upstream_sni: String,
}

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

#[derive(Clone, Debug)]
pub enum MailTransport {
    Outbox {
        dir: PathBuf,
    },
    Smtp {
        host: String,
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

#[derive(Clone, Debug)]
pub struct LoginThrottle {
    pub failures_before_delay: u32,
    pub delay: Duration,
    pub max_delay: Duration,
    pub attempts_per_ip_per_minute: u32,
}

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

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub source: String,
    pub listen: SocketAddr,
    pub tls: Option<TlsConfig>,
    /// Peers whose X-Forwarded-For names the real client: per-IP limits and the audit journal
    /// need the client's address, not the load balancer's (docs/security.md#brute-force).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub upstream_ca_file: Option<PathBuf>,
    /// Bearer token of `/metrics` (`None`: the endpoint answers 404).
    pub metrics_token: Option<Secret>,
    pub portal_host: String,
    /// Absolute base URL of the portal, without trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub threads: usize,
    pub work_stealing: bool,
    pub grace_period_seconds: u64,
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
    pub mail: MailSettings,
    pub reminders: Reminders,
    /// Days an audit event is kept.
    pub audit_retention_days: u32,
    pub apps: Vec<AppConfig>,
}

impl Config {
    /// Reads, overlays the environment and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        Self::from_toml(&file, &text, &env)
    }

    /// Parses `text` (named `file` in errors) with the given environment overrides.
    pub fn from_toml(
        file: &str,
        text: &str,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    file: file.to_string(),
                    message: e.to_string(),
                })?;
        let mut problems = Vec::new();
        apply_env(&mut table, env, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                file: file.to_string(),
                problems,
            });
        }
        let parsed: FileConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                ConfigError::Invalid {
                    file: file.to_string(),
                    problems: vec![Problem {
                        key: if key == "." {
                            "(top level)".into()
                        } else {
                            key
                        },
                        // toml appends "in `key`" lines; the key is already given.
                        message: e
                            .into_inner()
                            .to_string()
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    }],
                }
            })?;
        validate(parsed, file)
    }
}

/// `CONVERGENCES_SECTION__KEY=value` sets `section.key`. Values that read as TOML integers or
/// booleans are taken as such, anything else as a string.
fn apply_env(table: &mut toml::Table, env: &[(String, String)], problems: &mut Vec<Problem>) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" || rest == "LOG" {
            continue; // the --config flag's variable and the log filter, not configuration keys
        }
        let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let [section, key] = parts.as_slice() else {
            problems.push(Problem {
                key: name.clone(),
                message: "environment overrides take the form CONVERGENCES_SECTION__KEY (e.g. CONVERGENCES_DATABASE__URL)".into(),
            });
            continue;
        };
        if section == "apps" {
            problems.push(Problem {
                key: name.clone(),
                message: "[[apps]] cannot be set from the environment".into(),
            });
            continue;
        }
        let value = if let Ok(i) = raw.parse::<i64>() {
            toml::Value::Integer(i)
        } else if raw == "true" || raw == "false" {
            toml::Value::Boolean(raw == "true")
        } else {
            toml::Value::String(raw.clone())
        };
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                t.insert(key.clone(), value);
            }
            _ => problems.push(Problem {
                key: section.clone(),
                message: format!("is not a table, so {name} cannot override a key in it"),
            }),
        }
    }
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn validate(f: FileConfig, file: &str) -> Result<Config, ConfigError> {
    let mut p: Vec<Problem> = Vec::new();
    let mut bad = |key: &str, message: String| {
        p.push(Problem {
            key: key.to_string(),
            message,
        })
    };

    let listen = match f.server.listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            bad(
                "server.listen",
                format!(
                    "{:?} is not an address:port such as \"127.0.0.1:8080\" or \"[::]:443\"",
                    f.server.listen
                ),
            );
            None
        }
    };
    let portal_host = f.server.portal_host.trim().to_ascii_lowercase();
    if !is_host_name(&portal_host) {
        bad(
            "server.portal_host",
            format!(
                "{:?} is not a host name (letters, digits, '-' and '.')",
                f.server.portal_host
            ),
        );
    }
    let tls = f.server.tls.as_ref().and_then(|t| {
        let listen = t.listen.parse::<SocketAddr>().map_err(|_| {
            bad(
                "server.tls.listen",
                format!(
                    "{:?} is not an address:port such as \"0.0.0.0:443\"",
                    t.listen
                ),
            )
        });
        for (key, path) in [
            ("server.tls.cert_file", &t.cert_file),
            ("server.tls.key_file", &t.key_file),
        ] {
            if let Err(e) = std::fs::File::open(path) {
                bad(key, format!("cannot read {}: {e}", path.display()));
            }
        }
        listen.ok().map(|listen| TlsConfig {
            listen,
            cert_file: t.cert_file.clone(),
            key_file: t.key_file.clone(),
            redirect_http: t.redirect_http,
        })
    });
    let mut trusted_proxies = Vec::new();
    for (i, t) in f.server.trusted_proxies.iter().enumerate() {
        let parsed = t
            .parse::<ipnet::IpNet>()
            .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => bad(
                &format!("server.trusted_proxies[{i}]"),
                format!("{t:?} is not an IP address or a CIDR range such as \"10.0.0.0/8\""),
            ),
        }
    }
    if let Some(ca) = &f.server.upstream_ca_file {
        if let Err(e) = std::fs::File::open(ca) {
            bad(
                "server.upstream_ca_file",
                format!("cannot read {}: {e}", ca.display()),
            );
        }
    }
    if let Some(Secret(t)) = &f.server.metrics_token {
        if !t.is_empty() && (t.len() < 32 || !t.bytes().all(|b| b.is_ascii_graphic())) {
            bad(
                "server.metrics_token",
                "must be at least 32 printable characters without spaces (generate one with `openssl rand -hex 32`)".into(),
            );
        }
    }
    let public_url = match &f.server.public_url {
        Some(u) => match url::Url::parse(u) {
            Ok(parsed)
                if (parsed.scheme() == "http" || parsed.scheme() == "https")
                    && parsed.host_str() == Some(portal_host.as_str())
                    && parsed.path() == "/" =>
            {
                u.trim_end_matches('/').to_string()
            }
            _ => {
                bad(
                    "server.public_url",
                    format!("{u:?} must be an http(s) URL on server.portal_host with no path, e.g. \"https://{portal_host}\""),
                );
                String::new()
            }
        },
        None => match (&tls, listen) {
            (Some(t), _) if t.listen.port() == 443 => format!("https://{portal_host}"),
            (Some(t), _) => format!("https://{portal_host}:{}", t.listen.port()),
            (None, Some(a)) if a.port() == 80 => format!("http://{portal_host}"),
            (None, Some(a)) => format!("http://{portal_host}:{}", a.port()),
            (None, None) => String::new(),
        },
    };
    if f.server.threads == 0 {
        bad("server.threads", "must be at least 1".into());
    }
    let log_json = match f.server.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            bad(
                "server.log_format",
                format!("{other:?} is not one of \"text\", \"json\""),
            );
            false
        }
    };
    let data_dir = f.server.data_dir.clone();
    let database_url = f.database.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("convergences.db").display()
        )
    });
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        bad(
            "database.url",
            "must start with sqlite:, postgres:// or postgresql://".into(),
        );
    }
    if f.database.max_connections == 0 {
        bad("database.max_connections", "must be at least 1".into());
    }

    let s = &f.sessions;
    let store = match s.store.as_str() {
        "memory" => StoreKind::Memory,
        "redis" => StoreKind::Redis,
        other => {
            bad(
                "sessions.store",
                format!("{other:?} is not one of \"memory\", \"redis\""),
            );
            StoreKind::Memory
        }
    };
    if store == StoreKind::Redis {
        match &s.redis_url {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {}
            Some(_) => bad(
                "sessions.redis_url",
                "must start with redis:// or rediss://".into(),
            ),
            None => bad(
                "sessions.redis_url",
                "is required when sessions.store = \"redis\" (e.g. \"redis://127.0.0.1:6379\")"
                    .into(),
            ),
        }
    }
    for (key, name) in [
        ("sessions.cookie_name", &s.cookie_name),
        ("sessions.app_cookie_name", &s.app_cookie_name),
    ] {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bad(key, format!("{name:?} must be letters, digits, '_' or '-'"));
        }
    }
    if s.cookie_name == s.app_cookie_name {
        bad(
            "sessions.app_cookie_name",
            "must differ from sessions.cookie_name".into(),
        );
    }
    let cookie_domain = s
        .cookie_domain
        .as_ref()
        .map(|d| d.trim_start_matches('.').to_ascii_lowercase());
    if let Some(d) = &cookie_domain {
        if !is_host_name(d) || !(portal_host == *d || portal_host.ends_with(&format!(".{d}"))) {
            bad(
                "sessions.cookie_domain",
                format!("{d:?} must be a domain that contains server.portal_host ({portal_host})"),
            );
        }
    }
    if s.idle_timeout_seconds == 0 {
        bad("sessions.idle_timeout_seconds", "must be at least 1".into());
    }
    if s.absolute_timeout_seconds < s.idle_timeout_seconds {
        bad(
            "sessions.absolute_timeout_seconds",
            "must be at least sessions.idle_timeout_seconds".into(),
        );
    }
    if !(1..=3600).contains(&f.assertion.ttl_seconds) {
        bad("assertion.ttl_seconds", "must be between 1 and 3600".into());
    }
    let secret = f.security.secret.clone().map(Secret);
    if let Some(Secret(s)) = &secret {
        if s.len() < 32 {
            bad(
                "security.secret",
                "must be at least 32 characters (generate one with `openssl rand -hex 32`)".into(),
            );
        }
    }

    let sec = &f.security;
    if sec.login_delay_seconds == 0 || sec.login_max_delay_seconds < sec.login_delay_seconds {
        bad(
            "security.login_max_delay_seconds",
            "must be at least security.login_delay_seconds, which must be at least 1".into(),
        );
    }
    if sec.attempts_per_ip_per_minute == 0 {
        bad(
            "security.attempts_per_ip_per_minute",
            "must be at least 1".into(),
        );
    }
    if !(1..=24 * 30).contains(&sec.link_ttl_hours) {
        bad(
            "security.link_ttl_hours",
            "must be between 1 and 720".into(),
        );
    }
    let m = &f.mail;
    let from = match m.from.parse::<lettre::message::Mailbox>() {
        Ok(mb) => Some(mb),
        Err(_) => {
            bad(
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
        "smtp" => {
            let security = match m.smtp_security.as_str() {
                "starttls" => SmtpSecurity::StartTls,
                "tls" => SmtpSecurity::Tls,
                "none" => SmtpSecurity::None,
                other => {
                    bad(
                        "mail.smtp_security",
                        format!("{other:?} is not one of \"starttls\", \"tls\", \"none\""),
                    );
                    SmtpSecurity::StartTls
                }
            };
            let host = m.smtp_host.clone().unwrap_or_default();
            if host.is_empty() {
                bad(
                    "mail.smtp_host",
                    "is required when mail.transport = \"smtp\"".into(),
                );
            }
            if m.smtp_username.is_some() != m.smtp_password.is_some() {
                bad(
                    "mail.smtp_password",
                    "mail.smtp_username and mail.smtp_password go together".into(),
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
        other => {
            bad(
                "mail.transport",
                format!("{other:?} is not one of \"outbox\", \"smtp\""),
            );
            MailTransport::Outbox {
                dir: data_dir.join("outbox"),
            }
        }
    };
    if f.audit.retention_days == 0 {
        bad("audit.retention_days", "must be at least 1".into());
    }
    let r = &f.reminders;
    if r.hour > 23 {
        bad("reminders.hour", "must be between 0 and 23".into());
    }
    if r.expiring_within_days == 0 || r.unused_for_days == 0 {
        bad(
            "reminders.expiring_within_days",
            "reminder periods must be at least one day".into(),
        );
    }

    let mut apps = Vec::new();
    let mut seen_slugs = std::collections::HashSet::new();
    let mut seen_routes = std::collections::HashSet::new();
    for (i, a) in f.apps.iter().enumerate() {
        if let Some(app) = validate_app(i, a, &portal_host, &mut bad) {
            if !seen_slugs.insert(app.slug.clone()) {
                bad(
                    &format!("apps[{i}].slug"),
                    format!("{:?} is declared twice", app.slug),
                );
            }
            let route = (
                app.host.clone().unwrap_or_else(|| portal_host.clone()),
                app.path_prefix.clone().unwrap_or_default(),
            );
            if !seen_routes.insert(route.clone()) {
                bad(
                    &format!("apps[{i}]"),
                    format!(
                        "host {:?} with path prefix {:?} is already used by another application",
                        route.0, route.1
                    ),
                );
            }
            apps.push(app);
        }
    }

    if !p.is_empty() {
        return Err(ConfigError::Invalid {
            file: file.to_string(),
            problems: p,
        });
    }
    Ok(Config {
        source: file.to_string(),
        listen: listen.expect("checked above"),
        tls,
        trusted_proxies,
        upstream_ca_file: f.server.upstream_ca_file.clone(),
        // Empty (e.g. an unset variable in a compose file) means no token: /metrics is off.
        metrics_token: f.server.metrics_token.clone().filter(|t| !t.0.is_empty()),
        issuer: f
            .assertion
            .issuer
            .clone()
            .unwrap_or_else(|| public_url.clone()),
        public_url,
        portal_host,
        assertion_key_file: f
            .assertion
            .key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("assertion-key.pem")),
        assertion_previous_key_files: f.assertion.previous_key_files.clone(),
        data_dir,
        threads: f.server.threads,
        work_stealing: f.server.work_stealing,
        grace_period_seconds: f.server.grace_period_seconds,
        graceful_shutdown_timeout_seconds: f.server.graceful_shutdown_timeout_seconds,
        log_json,
        database_url,
        db_max_connections: f.database.max_connections,
        sessions: SessionSettings {
            store,
            redis_url: s.redis_url.clone(),
            redis_prefix: s.redis_prefix.clone(),
            cookie_name: s.cookie_name.clone(),
            app_cookie_name: s.app_cookie_name.clone(),
            cookie_domain,
            idle_timeout: Duration::from_secs(s.idle_timeout_seconds),
            absolute_timeout: Duration::from_secs(s.absolute_timeout_seconds),
        },
        assertion_ttl: Duration::from_secs(f.assertion.ttl_seconds),
        secret,
        throttle: LoginThrottle {
            failures_before_delay: sec.login_failures_before_delay,
            delay: Duration::from_secs(sec.login_delay_seconds),
            max_delay: Duration::from_secs(sec.login_max_delay_seconds),
            attempts_per_ip_per_minute: sec.attempts_per_ip_per_minute,
        },
        link_ttl: Duration::from_secs(sec.link_ttl_hours * 3600),
        mail: MailSettings {
            transport,
            from: from.expect("checked above"),
        },
        reminders: Reminders {
            enabled: r.enabled,
            hour: r.hour,
            expiring_within_days: r.expiring_within_days,
            unused_for_days: r.unused_for_days,
        },
        audit_retention_days: f.audit.retention_days,
        apps,
    })
}

fn validate_app(
    i: usize,
    a: &AppSection,
    portal_host: &str,
    bad: &mut impl FnMut(&str, String),
) -> Option<AppConfig> {
    let k = |field: &str| format!("apps[{i}].{field}");
    let mut ok = true;
    if !is_slug(&a.slug) {
        bad(
            &k("slug"),
            format!(
                "{:?} must be lower-case letters, digits, '-' or '_'",
                a.slug
            ),
        );
        ok = false;
    }
    if a.name.trim().is_empty() {
        bad(&k("name"), "must not be empty".into());
        ok = false;
    }
    let host = a.host.as_ref().map(|h| h.trim().to_ascii_lowercase());
    if let Some(h) = &host {
        if !is_host_name(h) {
            bad(&k("host"), format!("{h:?} is not a host name"));
            ok = false;
        }
    }
    let path_prefix = match &a.path_prefix {
        None => None,
        Some(pp) => {
            let norm = pp.trim_end_matches('/').to_string();
            if !norm.starts_with('/') || norm.len() < 2 || norm.contains(['?', '#', ' ']) {
                bad(&k("path_prefix"), format!("{pp:?} must look like \"/bip\""));
                ok = false;
            }
            Some(norm)
        }
    };
    match (&host, &path_prefix) {
        (None, None) => {
            bad(
                &k("host"),
                "an application needs a host, a path_prefix, or both".into(),
            );
            ok = false;
        }
        (h, Some(pp))
            if h.as_deref().is_none_or(|h| h == portal_host)
                && RESERVED_PREFIXES
                    .iter()
                    .any(|r| pp == r || pp.starts_with(&format!("{r}/"))) =>
        {
            bad(
                &k("path_prefix"),
                format!("{pp:?} is reserved by the portal"),
            );
            ok = false;
        }
        (Some(h), None) if h == portal_host => {
            bad(
                &k("host"),
                "is the portal host: give the application a path_prefix or another host".into(),
            );
            ok = false;
        }
        _ => {}
    }
    let mut upstreams = Vec::new();
    if a.upstreams.is_empty() {
        bad(&k("upstreams"), "needs at least one \"host:port\"".into());
        ok = false;
    }
    for (j, u) in a.upstreams.iter().enumerate() {
        match u.to_socket_addrs().map(|mut it| it.next()) {
            Ok(Some(addr)) => upstreams.push(addr),
            _ => {
                bad(
                    &format!("apps[{i}].upstreams[{j}]"),
                    format!("{u:?} is not a reachable \"host:port\" (name did not resolve or port missing)"),
                );
                ok = false;
            }
        }
    }
    let mut roles = Vec::new();
    for (j, r) in a.roles.iter().enumerate() {
        if !is_slug(r) {
            bad(
                &format!("apps[{i}].roles[{j}]"),
                format!("{r:?} must be lower-case letters, digits, '-' or '_'"),
            );
            ok = false;
        } else if roles.contains(r) {
            bad(
                &format!("apps[{i}].roles[{j}]"),
                format!("{r:?} is listed twice"),
            );
            ok = false;
        } else {
            roles.push(r.clone());
        }
    }
    if !roles.iter().any(|r| r == "administrateur") {
        bad(
            &k("roles"),
            "must include \"administrateur\" (the role that delegates the application)".into(),
        );
        ok = false;
    }
    let h = &a.headers;
    let mut names = Vec::new();
    for (field, value) in [
        ("user", &h.user),
        ("user_id", &h.user_id),
        ("name", &h.name),
        ("structure", &h.structure),
        ("roles", &h.roles),
        ("app_id", &h.app_id),
        ("assertion", &h.assertion),
    ] {
        match HeaderName::from_bytes(value.as_bytes()) {
            Ok(n) if !names.contains(&n) => names.push(n),
            Ok(_) => {
                bad(
                    &format!("apps[{i}].headers.{field}"),
                    format!("{value:?} is used twice"),
                );
                ok = false;
            }
            Err(_) => {
                bad(
                    &format!("apps[{i}].headers.{field}"),
                    format!("{value:?} is not a valid header name"),
                );
                ok = false;
            }
        }
    }
    if a.connect_timeout_ms == 0 {
        bad(&k("connect_timeout_ms"), "must be at least 1".into());
        ok = false;
    }
    if a.read_timeout_ms == 0 {
        bad(&k("read_timeout_ms"), "must be at least 1".into());
        ok = false;
    }
    if !ok {
        return None;
    }
    let mut it = names.into_iter();
    let mut next = || it.next().expect("seven header names");
    Some(AppConfig {
        slug: a.slug.clone(),
        name: a.name.trim().to_string(),
        description: a.description.trim().to_string(),
        upstream_sni: a
            .upstream_sni
            .clone()
            .or_else(|| host.clone())
            .unwrap_or_default(),
        host,
        path_prefix,
        upstreams,
        roles,
        headers: HeaderNames {
            user: next(),
            user_id: next(),
            name: next(),
            structure: next(),
            roles: next(),
            app_id: next(),
            assertion: next(),
        },
        connect_timeout: Duration::from_millis(a.connect_timeout_ms),
        read_timeout: Duration::from_millis(a.read_timeout_ms),
        upstream_tls: a.upstream_tls,
    })
}

#[cfg(test)]
mod tests;
