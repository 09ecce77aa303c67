//! `[[apps]]`: each application's public entry, upstreams, roles and identity header names
//! (docs/gateway.md#routing, docs/product.md#applications-and-roles), then what two entries may
//! not share.

use super::{is_host_name, is_slug, Problems};
use crate::config::file::{AppSection, HeaderNamesSection};
use crate::config::model::{AppConfig, HeaderNames};
use http::HeaderName;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Paths the portal itself answers on its host; an application's `path_prefix` on the portal
/// host may not shadow them. A new portal page adds its path here.
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
    "/oidc",
];

/// The valid entries; slugs (role assignments refer to them) and routes (host and path prefix)
/// must be unique, which is only checked between entries that are valid themselves.
pub(super) fn check(
    sections: &[AppSection],
    portal_host: &str,
    p: &mut Problems,
) -> Vec<AppConfig> {
    let mut apps = Vec::new();
    let mut seen_slugs = HashSet::new();
    let mut seen_routes = HashSet::new();
    let mut seen_clients = HashSet::new();
    for (i, a) in sections.iter().enumerate() {
        let Some(app) = app(i, a, portal_host, p) else {
            continue;
        };
        if !seen_slugs.insert(app.slug.clone()) {
            p.add(key(i, "slug"), format!("{:?} is declared twice", app.slug));
        }
        if let Some(c) = &app.oidc {
            if !seen_clients.insert(c.client_id.clone()) {
                p.add(
                    format!("apps[{i}].oidc.client_id"),
                    format!("{:?} is declared twice", c.client_id),
                );
            }
            // ID tokens carry the client id as audience and assertions the slug: the two
            // must never be equal, so that neither can pass for the other.
            if sections.iter().any(|s| s.slug == c.client_id) {
                p.add(
                    format!("apps[{i}].oidc.client_id"),
                    format!(
                        "{:?} is an application slug; choose another client id (assertions use slugs as their audience)",
                        c.client_id
                    ),
                );
            }
        }
        if app.upstreams.is_empty() {
            // Nothing to route: an OpenID Connect-only application.
            apps.push(app);
            continue;
        }
        let route = (
            app.host.clone().unwrap_or_else(|| portal_host.to_string()),
            app.path_prefix.clone().unwrap_or_default(),
        );
        if !seen_routes.insert(route.clone()) {
            p.add(
                format!("apps[{i}]"),
                format!(
                    "host {:?} with path prefix {:?} is already used by another application",
                    route.0, route.1
                ),
            );
        }
        apps.push(app);
    }
    apps
}

fn key(i: usize, field: &str) -> String {
    format!("apps[{i}].{field}")
}

/// `None` when the entry has any problem (they are all recorded).
fn app(i: usize, a: &AppSection, portal_host: &str, p: &mut Problems) -> Option<AppConfig> {
    let before = p.len();
    if !is_slug(&a.slug) {
        p.add(
            key(i, "slug"),
            format!(
                "{:?} must be lower-case letters, digits, '-' or '_'",
                a.slug
            ),
        );
    }
    if a.name.trim().is_empty() {
        p.add(key(i, "name"), "must not be empty");
    }
    let oidc = a.oidc.as_ref().and_then(|c| super::oidc::client(i, c, p));
    let oidc_only = a.upstreams.is_empty() && a.oidc.is_some();
    let (host, path_prefix) = if oidc_only {
        oidc_only_entry(i, a, p)
    } else {
        if a.url.is_some() {
            p.add(
                key(i, "url"),
                "only an application without upstreams (OpenID Connect only) sets its tile URL",
            );
        }
        entry(i, a, portal_host, p)
    };
    let upstreams = if oidc_only {
        Vec::new()
    } else {
        upstreams(i, &a.upstreams, p)
    };
    let roles = roles(i, &a.roles, p);
    let headers = header_names(i, &a.headers, p);
    let support = super::support::email(&key(i, "support_email"), a.support_email.as_deref(), p)
        .map(|email| crate::config::model::Contact {
            label: format!("Assistance {}", a.name.trim()),
            email,
        });
    if a.connect_timeout_ms == 0 {
        p.add(key(i, "connect_timeout_ms"), "must be at least 1");
    }
    if a.read_timeout_ms == 0 {
        p.add(key(i, "read_timeout_ms"), "must be at least 1");
    }
    if p.len() > before {
        return None;
    }
    Some(AppConfig {
        slug: a.slug.clone(),
        require_mfa: a.require_mfa,
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
        headers: headers?,
        connect_timeout: Duration::from_millis(a.connect_timeout_ms),
        read_timeout: Duration::from_millis(a.read_timeout_ms),
        upstream_tls: a.upstream_tls,
        url: a.url.clone(),
        oidc,
        support,
    })
}

/// An application reached only through OpenID Connect has its own URL for the tile and no
/// route on the gateway.
fn oidc_only_entry(i: usize, a: &AppSection, p: &mut Problems) -> (Option<String>, Option<String>) {
    if a.host.is_some() || a.path_prefix.is_some() {
        p.add(
            key(i, "host"),
            "an application without upstreams is not proxied: remove host and path_prefix",
        );
    }
    match &a.url {
        None => p.add(
            key(i, "url"),
            "an application without upstreams needs the URL its tile links to",
        ),
        Some(u) => {
            if let Some(m) = super::oidc::uri_problem(u) {
                p.add(key(i, "url"), m);
            }
        }
    }
    (None, None)
}

/// The host (lower-cased) and the path prefix (normalised without a trailing `/`). A prefix on
/// the portal host must leave the portal's own paths alone, and the portal host alone is the
/// portal's.
fn entry(
    i: usize,
    a: &AppSection,
    portal_host: &str,
    p: &mut Problems,
) -> (Option<String>, Option<String>) {
    let host = a.host.as_ref().map(|h| h.trim().to_ascii_lowercase());
    if let Some(h) = &host {
        if !is_host_name(h) {
            p.add(key(i, "host"), format!("{h:?} is not a host name"));
        }
    }
    let path_prefix = a.path_prefix.as_ref().map(|pp| {
        let norm = pp.trim_end_matches('/').to_string();
        if !norm.starts_with('/') || norm.len() < 2 || norm.contains(['?', '#', ' ']) {
            p.add(
                key(i, "path_prefix"),
                format!("{pp:?} must look like \"/bip\""),
            );
        }
        norm
    });
    match (&host, &path_prefix) {
        (None, None) => p.add(
            key(i, "host"),
            "an application needs a host, a path_prefix, or both",
        ),
        (h, Some(pp))
            if h.as_deref().is_none_or(|h| h == portal_host)
                && RESERVED_PREFIXES
                    .iter()
                    .any(|r| pp == r || pp.starts_with(&format!("{r}/"))) =>
        {
            p.add(
                key(i, "path_prefix"),
                format!("{pp:?} is reserved by the portal"),
            )
        }
        (Some(h), None) if h == portal_host => p.add(
            key(i, "host"),
            "is the portal host: give the application a path_prefix or another host",
        ),
        _ => {}
    }
    (host, path_prefix)
}

/// Names are resolved once, here: a name that does not resolve stops the start rather than
/// failing every request later.
fn upstreams(i: usize, list: &[String], p: &mut Problems) -> Vec<SocketAddr> {
    if list.is_empty() {
        p.add(key(i, "upstreams"), "needs at least one \"host:port\"");
    }
    let mut out = Vec::new();
    for (j, u) in list.iter().enumerate() {
        match u.to_socket_addrs().map(|mut it| it.next()) {
            Ok(Some(addr)) => out.push(addr),
            _ => p.add(
                format!("apps[{i}].upstreams[{j}]"),
                format!(
                    "{u:?} is not a reachable \"host:port\" (name did not resolve or port missing)"
                ),
            ),
        }
    }
    out
}

/// `administrateur` is required: its holders manage the application's other roles
/// (docs/product.md#permissions).
fn roles(i: usize, list: &[String], p: &mut Problems) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    for (j, r) in list.iter().enumerate() {
        if !is_slug(r) {
            p.add(
                format!("apps[{i}].roles[{j}]"),
                format!("{r:?} must be lower-case letters, digits, '-' or '_'"),
            );
        } else if roles.contains(r) {
            p.add(
                format!("apps[{i}].roles[{j}]"),
                format!("{r:?} is listed twice"),
            );
        } else {
            roles.push(r.clone());
        }
    }
    if !roles.iter().any(|r| r == "administrateur") {
        p.add(
            key(i, "roles"),
            "must include \"administrateur\" (the role that delegates the application)",
        );
    }
    roles
}

/// Seven distinct names: two headers with one name would let one value pass for the other.
fn header_names(i: usize, h: &HeaderNamesSection, p: &mut Problems) -> Option<HeaderNames> {
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
            Ok(_) => p.add(
                format!("apps[{i}].headers.{field}"),
                format!("{value:?} is used twice"),
            ),
            Err(_) => p.add(
                format!("apps[{i}].headers.{field}"),
                format!("{value:?} is not a valid header name"),
            ),
        }
    }
    let [user, user_id, name, structure, roles, app_id, assertion] =
        <[HeaderName; 7]>::try_from(names).ok()?;
    Some(HeaderNames {
        user,
        user_id,
        name,
        structure,
        roles,
        app_id,
        assertion,
    })
}
