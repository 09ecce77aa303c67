//! The client side of OpenID Connect: Convergences as a relying party of external identity
//! providers such as ProConnect (docs/identity-providers.md). This module knows the protocol
//! only (discovery, keys, the authorization request, the token and userinfo exchanges, token
//! verification); the portal decides what a verified identity may do.
//!
//! A provider that cannot be reached never stops the gateway: its metadata is fetched in the
//! background, retried, and its state reported (`/readyz`, metrics, logs).

pub mod flow;
pub mod jwt;

use crate::config::identity_providers::IdentityProvider;
use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why an exchange with a provider failed. `Unavailable` is the provider's or the network's
/// doing (retry later); `Rejected` is a response that must not be trusted.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    #[error("identity provider response rejected: {0}")]
    Rejected(String),
    /// The ID token's `acr` is not one of the configured `acr_values`.
    #[error("authentication level {0:?} is not one of the configured acr_values")]
    Acr(String),
}

pub type OResult<T> = Result<T, OidcError>;

/// Largest document read from a provider (discovery, keys, tokens, userinfo).
const MAX_BODY: usize = 256 * 1024;
/// After a failure, the background task tries again after this long.
const RETRY_EVERY: Duration = Duration::from_secs(30);
/// A reachable provider's metadata and keys are read again after this long.
const REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// An unknown key id fetches the keys again, but not more often than this (a token signed
/// with a made-up `kid` must not turn the gateway into a load generator).
const KEYS_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// The subset of the discovery document the gateway uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// What was last fetched from a provider.
pub struct Metadata {
    pub discovery: Discovery,
    pub keys: jwt::KeySet,
    /// Signature algorithms accepted from this provider: asymmetric ones it advertises (RS256
    /// when it advertises none, as the specification's default).
    pub algorithms: Vec<Algorithm>,
    /// When an unknown key id last made the gateway read the keys again.
    keys_forced: Option<Instant>,
}

/// The reachability of a provider, as `/readyz` and the login page tell it.
#[derive(Clone, Debug)]
pub enum Status {
    Starting,
    Up,
    Down(String),
}

pub struct Provider {
    pub config: IdentityProvider,
    http: reqwest::Client,
    metadata: ArcSwap<Option<Arc<Metadata>>>,
    status: ArcSwap<Status>,
    keys_lock: tokio::sync::Mutex<()>,
}

impl Provider {
    pub fn new(config: IdentityProvider) -> Arc<Provider> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Convergences")
            .build()
            .unwrap_or_default();
        Arc::new(Provider {
            config,
            http,
            metadata: ArcSwap::from_pointee(None),
            status: ArcSwap::from_pointee(Status::Starting),
            keys_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn status(&self) -> Status {
        (**self.status.load()).clone()
    }

    /// The metadata, fetching it now if it never was (a provider that was down at start).
    pub async fn metadata(&self) -> OResult<Arc<Metadata>> {
        if let Some(m) = self.metadata.load_full().as_ref() {
            return Ok(m.clone());
        }
        self.refresh().await
    }

    /// Fetches discovery and keys, records the outcome (status, metric, log on change).
    pub async fn refresh(&self) -> OResult<Arc<Metadata>> {
        let res = self.fetch().await;
        let was_up = matches!(self.status(), Status::Up);
        match &res {
            Ok(m) => {
                self.metadata.store(Arc::new(Some(m.clone())));
                self.status.store(Arc::new(Status::Up));
                if !was_up {
                    tracing::info!(provider = %self.config.slug, "identity provider reachable");
                }
            }
            Err(e) => {
                if was_up || matches!(self.status(), Status::Starting) {
                    tracing::warn!(provider = %self.config.slug, error = %e, "identity provider unreachable; password sign-in still works, retrying in the background");
                }
                self.status.store(Arc::new(Status::Down(e.to_string())));
            }
        }
        crate::telemetry::identity_provider_up(&self.config.slug, res.is_ok());
        res
    }

    async fn fetch(&self) -> OResult<Arc<Metadata>> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = serde_json::from_slice(&self.get(&url).await?)
            .map_err(|e| OidcError::Rejected(format!("discovery document: {e}")))?;
        // OpenID Connect Discovery 1.0, 4.3: the document must name the configured issuer.
        if discovery.issuer != self.config.issuer {
            return Err(OidcError::Rejected(format!(
                "discovery names the issuer {:?}, not the configured {:?}",
                discovery.issuer, self.config.issuer
            )));
        }
        for endpoint in [
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
            &discovery.jwks_uri,
        ] {
            check_endpoint(endpoint)?;
        }
        let algorithms = jwt::accepted_algorithms(&discovery.id_token_signing_alg_values_supported);
        let keys = jwt::KeySet::parse(&self.get(&discovery.jwks_uri).await?)?;
        Ok(Arc::new(Metadata {
            discovery,
            keys,
            algorithms,
            keys_forced: None,
        }))
    }

    /// The keys again, after a token named a key id they lack (the provider rotated its keys).
    /// `None` when they were read too recently to try again.
    pub async fn refresh_keys(&self, seen: &Arc<Metadata>) -> OResult<Option<Arc<Metadata>>> {
        let _one_at_a_time = self.keys_lock.lock().await;
        let current = self.metadata().await?;
        if !Arc::ptr_eq(&current, seen) {
            return Ok(Some(current)); // another request refreshed them meanwhile
        }
        if current
            .keys_forced
            .is_some_and(|t| t.elapsed() < KEYS_MIN_INTERVAL)
        {
            return Ok(None);
        }
        let keys = jwt::KeySet::parse(&self.get(&current.discovery.jwks_uri).await?)?;
        let fresh = Arc::new(Metadata {
            discovery: current.discovery.clone(),
            keys,
            algorithms: current.algorithms.clone(),
            keys_forced: Some(Instant::now()),
        });
        self.metadata.store(Arc::new(Some(fresh.clone())));
        tracing::info!(provider = %self.config.slug, "identity provider keys read again (unknown key id)");
        Ok(Some(fresh))
    }

    async fn get(&self, url: &str) -> OResult<Vec<u8>> {
        let resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("{url}: {e}")))?;
        read_body(resp, url).await
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Endpoints follow the issuer's rule: https, or http on loopback.
fn check_endpoint(url: &str) -> OResult<()> {
    let u =
        url::Url::parse(url).map_err(|_| OidcError::Rejected(format!("{url:?} is not a URL")))?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if u.scheme() == "https" || (u.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(OidcError::Rejected(format!(
            "endpoint {url:?} is neither https nor on a loopback address"
        )))
    }
}

/// The body of a successful response, at most [`MAX_BODY`] bytes.
pub(crate) async fn read_body(mut resp: reqwest::Response, url: &str) -> OResult<Vec<u8>> {
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| OidcError::Unavailable(format!("{url}: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(OidcError::Rejected(format!("{url}: response too large")));
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_server_error() {
        return Err(OidcError::Unavailable(format!("{url}: HTTP {status}")));
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(OidcError::Rejected(format!("{url}: HTTP {status}: {text}")));
    }
    Ok(body)
}

/// The configured providers, swapped as a whole when the configuration is reloaded; a
/// provider whose settings did not change keeps its metadata and keys.
#[derive(Default)]
pub struct Providers {
    list: ArcSwap<Vec<Arc<Provider>>>,
}

impl Providers {
    pub fn new(configs: &[IdentityProvider]) -> Providers {
        let p = Providers::default();
        p.replace(configs);
        p
    }

    pub fn all(&self) -> Arc<Vec<Arc<Provider>>> {
        self.list.load_full()
    }

    pub fn get(&self, slug: &str) -> Option<Arc<Provider>> {
        self.list
            .load()
            .iter()
            .find(|p| p.config.slug == slug)
            .cloned()
    }

    /// Installs a new list; returns the providers that are new or changed (to be fetched).
    pub fn replace(&self, configs: &[IdentityProvider]) -> Vec<Arc<Provider>> {
        let old = self.list.load_full();
        let mut fresh = Vec::new();
        let list = configs
            .iter()
            .map(|c| match old.iter().find(|p| &p.config == c) {
                Some(p) => p.clone(),
                None => {
                    let p = Provider::new(c.clone());
                    fresh.push(p.clone());
                    p
                }
            })
            .collect();
        self.list.store(Arc::new(list));
        fresh
    }

    /// Keeps every provider's metadata fresh on the current runtime: a first fetch at once,
    /// then again every hour, or every 30 s while a provider is unreachable. Holds the list
    /// weakly: the task ends with the gateway.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last: std::collections::HashMap<String, Instant> = Default::default();
            loop {
                let Some(me) = weak.upgrade() else { break };
                for p in me.all().iter() {
                    let due = match (p.status(), last.get(&p.config.slug)) {
                        (_, None) | (Status::Starting, _) => true,
                        (Status::Down(_), Some(t)) => t.elapsed() >= RETRY_EVERY,
                        (Status::Up, Some(t)) => t.elapsed() >= REFRESH_EVERY,
                    };
                    if due {
                        last.insert(p.config.slug.clone(), Instant::now());
                        let _ = p.refresh().await;
                    }
                }
                drop(me);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}
