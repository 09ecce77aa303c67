//! `[server]` and `[server.tls]`: listeners, the portal's host and public URL, forwarding,
//! metrics and logs.

use super::{is_host_name, Problems};
use crate::config::file::{ServerSection, TlsSection};
use crate::config::model::{Secret, TlsConfig};
use std::net::SocketAddr;
use std::path::Path;

/// The checked values of `[server]` that need converting; the others are copied as they are.
pub(super) struct Server {
    /// `None` when the address is bad (a problem was recorded).
    pub listen: Option<SocketAddr>,
    pub portal_host: String,
    pub public_url: String,
    pub tls: Option<TlsConfig>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub metrics_token: Option<Secret>,
    pub log_json: bool,
}

pub(super) fn check(s: &ServerSection, p: &mut Problems) -> Server {
    let listen = match s.listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.add(
                "server.listen",
                format!(
                    "{:?} is not an address:port such as \"127.0.0.1:8080\" or \"[::]:443\"",
                    s.listen
                ),
            );
            None
        }
    };
    let portal_host = s.portal_host.trim().to_ascii_lowercase();
    if !is_host_name(&portal_host) {
        p.add(
            "server.portal_host",
            format!(
                "{:?} is not a host name (letters, digits, '-' and '.'; the last label not a number)",
                s.portal_host
            ),
        );
    }
    let tls = s.tls.as_ref().and_then(|t| tls(t, p));
    let trusted_proxies = trusted_proxies(&s.trusted_proxies, p);
    if let Some(ca) = &s.upstream_ca_file {
        readable("server.upstream_ca_file", ca, p);
    }
    if let Some(Secret(t)) = &s.metrics_token {
        if !t.is_empty() && (t.len() < 32 || !t.bytes().all(|b| b.is_ascii_graphic())) {
            p.add(
                "server.metrics_token",
                "must be at least 32 printable characters without spaces (generate one with `openssl rand -hex 32`)",
            );
        }
    }
    let public_url = public_url(s, &portal_host, tls.as_ref(), listen, p);
    if s.threads == 0 {
        p.add("server.threads", "must be at least 1");
    }
    if !(1..=300).contains(&s.header_timeout_seconds) {
        p.add("server.header_timeout_seconds", "must be between 1 and 300");
    }
    if !(1..=300).contains(&s.identity_cache_seconds) {
        p.add("server.identity_cache_seconds", "must be between 1 and 300");
    }
    let log_json = match s.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            p.add(
                "server.log_format",
                format!("{other:?} is not one of \"text\", \"json\""),
            );
            false
        }
    };
    Server {
        listen,
        portal_host,
        public_url,
        tls,
        trusted_proxies,
        // Empty (e.g. an unset variable in a compose file) means no token: /metrics is off.
        metrics_token: s.metrics_token.clone().filter(|t| !t.0.is_empty()),
        log_json,
    }
}

/// `None` when the HTTPS address is bad; unreadable certificate or key files are reported too,
/// here rather than when Pingora starts, so that `check-config` finds them.
fn tls(t: &TlsSection, p: &mut Problems) -> Option<TlsConfig> {
    let listen = t.listen.parse::<SocketAddr>().map_err(|_| {
        p.add(
            "server.tls.listen",
            format!(
                "{:?} is not an address:port such as \"0.0.0.0:443\"",
                t.listen
            ),
        )
    });
    readable("server.tls.cert_file", &t.cert_file, p);
    readable("server.tls.key_file", &t.key_file, p);
    listen.ok().map(|listen| TlsConfig {
        listen,
        cert_file: t.cert_file.clone(),
        key_file: t.key_file.clone(),
        redirect_http: t.redirect_http,
    })
}

/// A bare address counts as a one-address range.
fn trusted_proxies(list: &[String], p: &mut Problems) -> Vec<ipnet::IpNet> {
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let parsed = t
            .parse::<ipnet::IpNet>()
            .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(n) => out.push(n),
            Err(_) => p.add(
                format!("server.trusted_proxies[{i}]"),
                format!("{t:?} is not an IP address or a CIDR range such as \"10.0.0.0/8\""),
            ),
        }
    }
    out
}

/// The configured URL, else one derived from the listeners (HTTPS when TLS is on), without the
/// port when it is the scheme's default. Links in mails and redirects are built on it.
fn public_url(
    s: &ServerSection,
    portal_host: &str,
    tls: Option<&TlsConfig>,
    listen: Option<SocketAddr>,
    p: &mut Problems,
) -> String {
    match &s.public_url {
        Some(u) => match url::Url::parse(u) {
            Ok(parsed)
                if (parsed.scheme() == "http" || parsed.scheme() == "https")
                    && parsed.host_str() == Some(portal_host)
                    && parsed.path() == "/" =>
            {
                u.trim_end_matches('/').to_string()
            }
            _ => {
                p.add(
                    "server.public_url",
                    format!("{u:?} must be an http(s) URL on server.portal_host with no path, e.g. \"https://{portal_host}\""),
                );
                String::new()
            }
        },
        None => match (tls, listen) {
            (Some(t), _) if t.listen.port() == 443 => format!("https://{portal_host}"),
            (Some(t), _) => format!("https://{portal_host}:{}", t.listen.port()),
            (None, Some(a)) if a.port() == 80 => format!("http://{portal_host}"),
            (None, Some(a)) => format!("http://{portal_host}:{}", a.port()),
            (None, None) => String::new(),
        },
    }
}

fn readable(key: &str, path: &Path, p: &mut Problems) {
    if let Err(e) = std::fs::File::open(path) {
        p.add(key, format!("cannot read {}: {e}", path.display()));
    }
}
