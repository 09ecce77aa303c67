//! Validation of the deserialised file into [`Config`], one file per section. Each section's
//! check records its problems and still returns its best value, so that every problem of the
//! file is reported at once (docs/product.md#operator-interface); only when none was found is
//! the [`Config`] assembled. Problems are reported in the order of the sections below, which is
//! the order of the documented example file.

mod apps;
mod assertion;
mod audit;
mod database;
mod display;
mod identity_providers;
mod legal;
mod mail;
mod oidc;
mod reminders;
mod resilience;
mod security;
mod server;
mod sessions;
mod structures;
mod support;

pub use apps::RESERVED_PREFIXES;

use super::error::{ConfigError, Problem};
use super::file::FileConfig;
use super::model::Config;

/// The problems found so far, in the order they were found.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

pub(super) fn validate(f: FileConfig, file: &str) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let server = server::check(&f.server, &mut p);
    let data_dir = f.server.data_dir.clone();
    let database_url = database::check(&f.database, &data_dir, &mut p);
    let sessions = sessions::check(&f.sessions, &server.portal_host, &mut p);
    let assertion = assertion::check(&f.assertion, &server.public_url, &data_dir, &mut p);
    let security = security::check(&f.security, &mut p);
    let mail = mail::check(&f.mail, &data_dir, &mut p);
    let audit_retention_days = audit::check(&f.audit, &mut p);
    let reminders = reminders::check(&f.reminders, &mut p);
    let resilience = resilience::check(&f.resilience, &mut p);
    let oidc = oidc::check_section(&f.oidc, &data_dir, &mut p);
    let mut support = support::check(&f.support, &mut p);
    let structures_max_depth = structures::check(&f.structures, &mut p);
    let time_zone = display::check(&f.display, &mut p);
    support.legal = legal::check(&f.legal, &mut p);
    let apps = apps::check(&f.apps, &server.portal_host, &mut p);
    let identity_providers = identity_providers::check(&f.identity_providers, &mut p);

    // A section without a usable value has recorded why.
    let (Some(listen), Some(mail), 0) = (server.listen, mail, p.len()) else {
        return Err(ConfigError::Invalid {
            file: file.to_string(),
            problems: p.0,
        });
    };
    Ok(Config {
        source: file.to_string(),
        listen,
        tls: server.tls,
        trusted_proxies: server.trusted_proxies,
        upstream_ca_file: f.server.upstream_ca_file.clone(),
        metrics_token: server.metrics_token,
        issuer: assertion.issuer,
        public_url: server.public_url,
        portal_host: server.portal_host,
        assertion_key_file: assertion.key_file,
        assertion_previous_key_files: assertion.previous_key_files,
        data_dir,
        threads: f.server.threads,
        threading: f.server.threading,
        work_stealing: f.server.work_stealing,
        grace_period_seconds: f.server.grace_period_seconds,
        header_timeout: std::time::Duration::from_secs(f.server.header_timeout_seconds),
        identity_ttl: std::time::Duration::from_secs(f.server.identity_cache_seconds),
        graceful_shutdown_timeout_seconds: f.server.graceful_shutdown_timeout_seconds,
        log_json: server.log_json,
        database_url,
        db_max_connections: f.database.max_connections,
        sessions,
        assertion_ttl: assertion.ttl,
        secret: security.secret,
        throttle: security.throttle,
        link_ttl: security.link_ttl,
        second_factor: security.second_factor,
        mail,
        reminders,
        audit_retention_days,
        resilience,
        oidc,
        support: std::sync::Arc::new(support),
        structures_max_depth,
        time_zone,
        apps,
        identity_providers,
    })
}

/// Lower-case DNS names only: hosts are compared with the request's Host header, which the
/// proxy lower-cases (docs/gateway.md#routing). The name must also come back unchanged from the
/// URL parser that reads return URLs and tile links: a name ending in a numeric label (`x.1`)
/// is no host there, and a short IPv4 form (`10.1`) would be rewritten (`10.0.0.1`).
fn is_host_name(s: &str) -> bool {
    let same_for_urls = match url::Host::parse(s) {
        Ok(url::Host::Domain(d)) => d == s,
        Ok(url::Host::Ipv4(ip)) => ip.to_string() == s,
        _ => false,
    };
    same_for_urls
        && !s.is_empty()
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

/// Application slugs and role names: they travel in headers, the assertion and the database, so
/// they are kept to characters that need no escaping anywhere.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::is_host_name;
    use crate::config::Config;

    #[test]
    fn host_names_are_those_urls_keep_as_written() {
        for ok in [
            "auth.example.fr",
            "bip",
            "a-1.b2",
            "127.0.0.1",
            "1x.example.fr",
        ] {
            assert!(is_host_name(ok), "{ok:?} refused");
        }
        // A numeric last label makes the URL parser read an IPv4 address: refused (`x.1`,
        // `a.0x1f`) or rewritten (`10.1` is `10.0.0.1`, `010.0.0.1` is `8.0.0.1`).
        for bad in [
            "x.1",
            "a.0x1f",
            "bip.42",
            "10.1",
            "1.2.3",
            "010.0.0.1",
            "1.2.3.256",
            "",
            "Auth.fr",
            "a..b",
            "-a.fr",
            "a_b.fr",
            "xn--.fr",
        ] {
            assert!(!is_host_name(bad), "{bad:?} accepted");
        }
    }

    /// Found by the `config_toml` fuzz target: an application host the configuration accepted
    /// gave a tile URL that the return-URL check (the same URL parser) could not read.
    #[test]
    fn fuzz_regression_numeric_last_label() {
        let text = "server = { listen = \"[::]:443\", portal_host = \"a.b\" }\n\
                    apps = [{ slug = \"x\", name = \"X\", host = \"x.1\", upstreams = [\"1.2.3.4:5\"] }]\n";
        let e = Config::from_toml("fuzz.toml", text, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `apps[0].host`: \"x.1\" is not a host name"),
            "{e}"
        );
    }
}
