//! Routing: which request goes to the portal, which to which application, and which return URLs
//! are ours (open-redirect protection). Built once from the configuration; lookups allocate
//! nothing.

use super::headers::ReservedHeaders;
use crate::auth::redirect;
use crate::config::{AppConfig, Config};
use pingora::upstreams::peer::HttpPeer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// Path on application hosts where the portal's handshake code lands (docs/gateway.md#sso-handshake).
pub const CALLBACK_PATH: &str = "/_convergences/callback";
/// The portal's confirmation of identity (step-up, docs/security.md#step-up).
pub const STEP_UP_PATH: &str = "/login/confirmer";
/// The portal's page where an account enrols a second factor the policy requires of it
/// (docs/security.md#second-factor-policy).
pub const ENROLMENT_PATH: &str = "/aia/profil/securite?obligatoire=1";

/// One application as the proxy sees it.
pub struct AppRoute {
    pub idx: usize,
    /// Distinct for every routing table the process builds (each start and reload): what was
    /// cached for an application is reused only with the table it was made for.
    pub generation: u64,
    pub cfg: AppConfig,
    /// True when the portal's session cookie reaches this application (same host, or host under
    /// the configured cookie domain); otherwise the redirect handshake gives it its own cookie.
    pub shares_cookie: bool,
    /// `scheme://host[:port]` of the application, or of the portal for path-prefix apps.
    pub origin: String,
    /// Where the portal tile points.
    pub entry_url: String,
    /// Origins the portal may send the browser to after a form (OpenID Connect redirect and
    /// post-logout URIs), for the portal's `form-action`.
    pub redirect_origins: Vec<String>,
    next: AtomicUsize,
    /// Per upstream: Unix time until which it is considered down after a connect failure.
    down_until: Vec<AtomicI64>,
    /// Per upstream, a ready peer (timeouts, TLS) cloned per request.
    pub peers: Vec<HttpPeer>,
    /// The header names a client may not send to this application, its own identity header
    /// names among them.
    pub reserved: ReservedHeaders,
    /// The slug as a `'static` metrics label.
    pub label: &'static str,
    pub metrics: crate::telemetry::AppMetrics,
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

/// How long an upstream that refused a connection is skipped when others are available.
const DOWN_SECONDS: i64 = 5;

impl AppRoute {
    /// Round robin over the upstreams, skipping those marked down unless all are.
    pub fn pick_upstream(&self, avoid: Option<usize>) -> usize {
        let n = self.cfg.upstreams.len();
        if n <= 1 {
            // One upstream is the pick whether it is marked down or not: no shared counter
            // to bump (a cache line every proxy thread writes) and no clock to read.
            return 0;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = crate::directory::now();
        for k in 0..n {
            let i = (start + k) % n;
            if Some(i) != avoid && self.down_until[i].load(Ordering::Relaxed) <= now {
                return i;
            }
        }
        match avoid {
            Some(a) if n > 1 => (a + 1) % n,
            _ => start % n,
        }
    }

    pub fn mark_down(&self, i: usize) {
        if let Some(d) = self.down_until.get(i) {
            d.store(crate::directory::now() + DOWN_SECONDS, Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Portal,
    App(usize),
    Unknown,
}

pub struct RouteTable {
    pub portal_host: String,
    pub scheme: &'static str,
    /// `:8080`, or empty for the scheme's default port.
    pub port_suffix: String,
    pub apps: Vec<AppRoute>,
    /// Per host, application indexes sorted by decreasing path prefix length.
    /// Read on every request: a fast hasher (the keys are the configured hosts).
    by_host: HashMap<String, Vec<usize>, foldhash::fast::RandomState>,
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix) && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

impl RouteTable {
    pub fn new(config: &Config) -> RouteTable {
        let (scheme, port_suffix) = match url::Url::parse(&config.public_url) {
            Ok(u) => (
                if u.scheme() == "https" {
                    "https"
                } else {
                    "http"
                },
                u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            ),
            Err(_) => ("http", String::new()),
        };
        static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        let mut apps = Vec::new();
        let mut by_host: HashMap<String, Vec<usize>, _> = HashMap::default();
        for (idx, cfg) in config.apps.iter().enumerate() {
            let host = cfg
                .host
                .clone()
                .unwrap_or_else(|| config.portal_host.clone());
            let shares_cookie = host == config.portal_host
                || config
                    .sessions
                    .cookie_domain
                    .as_ref()
                    .is_some_and(|d| host == *d || host.ends_with(&format!(".{d}")));
            let mut origin = format!("{scheme}://{host}{port_suffix}");
            let mut entry_url = format!(
                "{origin}{}/",
                cfg.path_prefix.as_deref().unwrap_or_default()
            );
            match &cfg.url {
                // OpenID Connect only: nothing to route, the tile goes to the application.
                Some(url) if cfg.upstreams.is_empty() => {
                    entry_url = url.clone();
                    origin = origin_of(url).unwrap_or_default();
                }
                _ => by_host.entry(host).or_default().push(idx),
            }
            let mut redirect_origins: Vec<String> = Vec::new();
            if let Some(c) = &cfg.oidc {
                for u in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
                    if let Some(o) = origin_of(u) {
                        if o != origin && !redirect_origins.contains(&o) {
                            redirect_origins.push(o);
                        }
                    }
                }
            }
            let peers = cfg
                .upstreams
                .iter()
                .map(|addr| {
                    // The name is only for TLS; left empty otherwise, since the peer is cloned
                    // on every request and an empty string costs no allocation.
                    let sni = if cfg.upstream_tls {
                        cfg.upstream_sni.clone()
                    } else {
                        String::new()
                    };
                    let mut p = HttpPeer::new(*addr, cfg.upstream_tls, sni);
                    p.options.connection_timeout = Some(cfg.connect_timeout);
                    p.options.read_timeout = Some(cfg.read_timeout);
                    p
                })
                .collect();
            apps.push(AppRoute {
                peers,
                reserved: ReservedHeaders::new(&cfg.headers.all()),
                label: crate::telemetry::label(&cfg.slug),
                metrics: crate::telemetry::AppMetrics::new(crate::telemetry::label(&cfg.slug)),
                idx,
                generation,
                shares_cookie,
                origin,
                entry_url,
                redirect_origins,
                next: AtomicUsize::new(0),
                down_until: cfg.upstreams.iter().map(|_| AtomicI64::new(0)).collect(),
                cfg: cfg.clone(),
            });
        }
        for list in by_host.values_mut() {
            list.sort_by_key(|&i| {
                std::cmp::Reverse(apps[i].cfg.path_prefix.as_ref().map_or(0, |p| p.len()))
            });
        }
        RouteTable {
            portal_host: config.portal_host.clone(),
            scheme,
            port_suffix,
            apps,
            by_host,
        }
    }

    /// `host` is the Host header without its port, lower-cased.
    pub fn route(&self, host: &str, path: &str) -> Target {
        if let Some(list) = self.by_host.get(host) {
            for &i in list {
                match &self.apps[i].cfg.path_prefix {
                    Some(p) if prefix_matches(p, path) => return Target::App(i),
                    None => return Target::App(i),
                    _ => {}
                }
            }
        }
        if host == self.portal_host {
            Target::Portal
        } else {
            Target::Unknown
        }
    }

    /// The application whose OpenID Connect client has this id.
    pub fn app_by_client_id(&self, client_id: &str) -> Option<&AppRoute> {
        self.apps.iter().find(|a| {
            a.cfg
                .oidc
                .as_ref()
                .is_some_and(|c| c.client_id == client_id)
        })
    }

    pub fn app_by_slug(&self, slug: &str) -> Option<&AppRoute> {
        self.apps.iter().find(|a| a.cfg.slug == slug)
    }

    /// Accepts a return URL only if it points at the portal or at a declared application entry,
    /// on our scheme and port; returns it normalised. Relative paths are taken as portal paths.
    /// Anything a browser could read differently from this check (control characters,
    /// whitespace, backslashes: see `auth::redirect`) is refused.
    pub fn validate_return(&self, raw: &str) -> Option<String> {
        if raw.is_empty() || raw.len() > 2048 || !redirect::has_no_ambiguous_chars(raw) {
            return None;
        }
        if raw.starts_with('/') {
            return redirect::is_local_path(raw).then(|| raw.to_string());
        }
        let u = url::Url::parse(raw).ok()?;
        if u.scheme() != self.scheme || !u.username().is_empty() || u.password().is_some() {
            return None;
        }
        let host = u.host_str()?;
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        if port != self.port_suffix {
            return None;
        }
        let ok = match self.route(host, u.path()) {
            Target::App(_) => true,
            Target::Portal => true,
            Target::Unknown => false,
        };
        ok.then(|| u.to_string())
    }

    /// The application a return URL belongs to, if any.
    pub fn app_of_url(&self, raw: &str) -> Option<&AppRoute> {
        let u = url::Url::parse(raw).ok()?;
        match self.route(u.host_str()?, u.path()) {
            Target::App(i) => Some(&self.apps[i]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let toml = r#"
            [server]
            listen = "127.0.0.1:8080"
            portal_host = "auth.localhost"
            [[apps]]
            slug = "bip"
            name = "BIP"
            host = "bip.localhost"
            upstreams = ["127.0.0.1:9001", "127.0.0.1:9002"]
            [[apps]]
            slug = "site"
            name = "Site"
            path_prefix = "/site"
            upstreams = ["127.0.0.1:9003"]
            [[apps]]
            slug = "bip-admin"
            name = "BIP admin"
            host = "bip.localhost"
            path_prefix = "/admin"
            upstreams = ["127.0.0.1:9004"]
        "#;
        RouteTable::new(&Config::from_toml("t.toml", toml, &[]).unwrap())
    }

    #[test]
    fn routes_by_host_then_longest_prefix() {
        let t = table();
        assert_eq!(t.route("bip.localhost", "/x"), Target::App(0));
        assert_eq!(t.route("bip.localhost", "/admin/users"), Target::App(2));
        assert_eq!(t.route("bip.localhost", "/administration"), Target::App(0));
        assert_eq!(t.route("auth.localhost", "/site"), Target::App(1));
        assert_eq!(t.route("auth.localhost", "/site/page"), Target::App(1));
        assert_eq!(t.route("auth.localhost", "/sitemap"), Target::Portal);
        assert_eq!(t.route("auth.localhost", "/"), Target::Portal);
        assert_eq!(t.route("evil.example", "/"), Target::Unknown);
        assert!(t.apps[1].shares_cookie && !t.apps[0].shares_cookie);
        assert_eq!(t.apps[0].entry_url, "http://bip.localhost:8080/");
        assert_eq!(t.apps[1].entry_url, "http://auth.localhost:8080/site/");
    }

    #[test]
    fn return_urls_must_be_ours() {
        let t = table();
        assert_eq!(t.validate_return("/aia").as_deref(), Some("/aia"));
        assert!(t.validate_return("//evil.example/").is_none());
        assert!(t.validate_return("/\\evil.example/").is_none());
        assert!(t.validate_return("http://evil.example:8080/").is_none());
        assert!(
            t.validate_return("http://bip.localhost:9999/").is_none(),
            "wrong port"
        );
        assert!(
            t.validate_return("https://bip.localhost:8080/").is_none(),
            "wrong scheme"
        );
        assert!(t
            .validate_return("http://user@bip.localhost:8080/")
            .is_none());
        assert!(t.validate_return("javascript:alert(1)").is_none());
        for tricky in [
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/\u{0}x",
            "http://bip.localhost:8080/\t",
            "http:/\\evil.example",
            "ht\ttp://evil.example:8080/",
        ] {
            assert!(t.validate_return(tricky).is_none(), "{tricky:?}");
        }
        assert_eq!(
            t.validate_return("http://bip.localhost:8080/dossier?id=3")
                .as_deref(),
            Some("http://bip.localhost:8080/dossier?id=3")
        );
    }

    #[test]
    fn failover_skips_an_upstream_marked_down() {
        let t = table();
        let app = &t.apps[0];
        app.mark_down(0);
        for _ in 0..4 {
            assert_eq!(app.pick_upstream(None), 1);
        }
        assert_eq!(
            app.pick_upstream(Some(1)),
            0,
            "all others down: try the next one anyway"
        );
    }
}
