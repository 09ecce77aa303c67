//! The demo's built-in identity provider ("le fournisseur de test", `convergences demo
//! --with-test-provider`, docs/identity-providers.md#demo): a small OpenID Connect provider on
//! a loopback port, shaped like ProConnect, so that a newcomer can try « S'identifier avec ... »
//! without installing anything. Its page lists the demo accounts it knows; choosing one signs
//! in as that account, without a password.
//!
//! What it does is what the gateway relies on from ProConnect: discovery, a JWKS with an RS256
//! key, the authorization code flow with PKCE (S256 only), `state` and `nonce` echoed,
//! `client_secret_post`, an ID token with `acr`, userinfo as a signed JWT (`application/jwt`)
//! with ProConnect's claims (`given_name`, `usual_name`, `uid`, `siret`), and RP-initiated
//! logout back to the one registered address. It has one client (the demo gateway) and one
//! return address; codes are single-use and short-lived; everything it keeps is in memory and
//! bounded. Not a provider for production: it authenticates nobody.

use crate::config::{IdTokenAlg, OidcSettings};
use crate::oidc::keys::{OidcKeys, ID_TOKEN_TYP};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dashmap::DashMap;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

mod page;
mod sign_in;
mod tokens;

/// The provider's slug and button label in the demo's `[[identity_providers]]`.
pub const SLUG: &str = "test";
pub const NAME: &str = "le fournisseur de test";
pub const CLIENT_ID: &str = "convergences-demo";
/// Demo only: printed and documented (the external test provider of tests/e2e/idp uses the
/// same client).
pub const CLIENT_SECRET: &str = "demo-secret-not-for-production";
/// The authentication level of every sign-in: one factor, as ProConnect's `eidas1`.
pub const ACR: &str = "eidas1";
/// A code is redeemed within this many seconds or never (ProConnect: 30 s to a minute).
const CODE_TTL: i64 = 60;
/// Lifetime of access tokens (userinfo) and ID tokens.
const TOKEN_TTL: i64 = 60;
/// An authorization request waits this long for the choice of an account.
const REQUEST_TTL: i64 = 600;
/// At most this many requests, codes and access tokens in memory (a demo, bounded all the same).
const MAX_ENTRIES: usize = 1000;
/// Longest parameter value accepted (a `state`, a `nonce`, an address).
const MAX_PARAM: usize = 2048;
/// The answer when a bound is reached.
const BUSY: &str = "Trop de connexions en cours : réessayez dans quelques minutes.";

/// A demo account as the provider describes it (ProConnect's claims).
pub struct Account {
    pub sub: &'static str,
    pub email: &'static str,
    pub given_name: &'static str,
    pub usual_name: &'static str,
    pub uid: &'static str,
    pub siret: &'static str,
    /// What the page says of the account.
    pub description: &'static str,
}

/// The accounts the provider knows: the demo's agent and référent (src/demo/mod.rs `seed`),
/// with the identifiers of the external test provider of tests/e2e/idp.
pub const ACCOUNTS: [Account; 2] = [
    Account {
        sub: "pc-agnes-0001",
        email: "agent@mairie-exemple.fr",
        given_name: "Agnès",
        usual_name: "Agent",
        uid: "agnes-0001",
        siret: "21750001600019",
        description: "agente de la Mairie d'Exemple, utilisatrice de BIP",
    },
    Account {
        sub: "pc-regis-0001",
        email: "referent@mairie-exemple.fr",
        given_name: "Régis",
        usual_name: "Référent",
        uid: "regis-0001",
        siret: "21750001600019",
        description: "référent de la Mairie d'Exemple, administrateur de BIP et Net-Cotisations",
    },
];

/// Where the provider lives and whom it serves.
#[derive(Clone)]
pub struct Settings {
    /// `http://127.0.0.1:PORT`, without a trailing slash: the browser and the gateway both
    /// reach it there.
    pub issuer: String,
    /// The gateway's public URL: its return and logout addresses are the only ones registered,
    /// and its style sheet dresses the page.
    pub portal_url: String,
    /// Folder of the signing key, generated on first start (kept with `--data-dir`).
    pub key_dir: PathBuf,
}

impl Settings {
    /// The gateway's return address for this provider (src/web/broker.rs).
    pub fn redirect_uri(&self) -> String {
        crate::web::broker::callback_url(&self.portal_url, SLUG)
    }
    /// Where the gateway asks to come back after logout (src/web/broker.rs).
    pub fn post_logout_redirect_uri(&self) -> String {
        crate::web::broker::logged_out_url(&self.portal_url)
    }
}

/// An authorization request waiting for the choice of an account.
struct Request {
    state: String,
    nonce: String,
    challenge: String,
    scopes: Vec<String>,
    at: i64,
}

/// A code, or an access token: who signed in, for what.
struct Grant {
    account: usize,
    nonce: String,
    challenge: String,
    scopes: Vec<String>,
    at: i64,
}

struct Idp {
    s: Settings,
    keys: OidcKeys,
    /// The JWKS document: the RSA key only (the one that signs).
    jwks: Value,
    requests: DashMap<String, Request>,
    codes: DashMap<String, Grant>,
    tokens: DashMap<String, Grant>,
}

/// The provider's routes; loads (or generates) its RS256 key in `s.key_dir`.
pub fn router(s: Settings) -> Result<Router, String> {
    std::fs::create_dir_all(&s.key_dir)
        .map_err(|e| format!("{}: cannot create the folder: {e}", s.key_dir.display()))?;
    // The provider's key code, reused: it also keeps an Ed25519 key, which is not published.
    let keys = OidcKeys::load(&OidcSettings {
        rsa_key_file: s.key_dir.join("rsa.pem"),
        eddsa_key_file: s.key_dir.join("ed25519.pem"),
        previous_key_files: vec![],
        token_requests_per_minute: 0,
    })?;
    let rsa: Vec<_> = keys
        .jwks()
        .iter()
        .filter(|k| matches!(k.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)))
        .cloned()
        .collect();
    let jwks = json!({ "keys": rsa });
    let idp = Arc::new(Idp {
        s,
        keys,
        jwks,
        requests: DashMap::new(),
        codes: DashMap::new(),
        tokens: DashMap::new(),
    });
    Ok(Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks_document))
        .route("/authorize", get(sign_in::authorize).post(sign_in::choose))
        .route("/token", axum::routing::post(tokens::token))
        .route("/userinfo", get(tokens::userinfo))
        .route("/session/end", get(tokens::end_session))
        .with_state(idp))
}

fn now() -> i64 {
    crate::directory::now()
}

fn same(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

/// Drops entries older than `ttl` seconds, and refuses to grow past the bound.
fn room<T>(map: &DashMap<String, T>, at: impl Fn(&T) -> i64, ttl: i64) -> bool {
    let limit = now() - ttl;
    map.retain(|_, v| at(&*v) >= limit);
    map.len() < MAX_ENTRIES
}

/// The parameters of a query string or form body, read by the gateway's own OAuth parser
/// (each present at most once, RFC 6749 3.1), none longer than [`MAX_PARAM`]; the refusal in
/// French for the page.
fn params(raw: &[u8]) -> Result<HashMap<String, String>, &'static str> {
    let p = crate::oidc::params::parse(raw).map_err(|e| match e {
        crate::oidc::params::ParamsError::TooLong => "La demande est trop longue.",
        crate::oidc::params::ParamsError::Repeated(_) => "Un paramètre de la demande est répété.",
    })?;
    if p.values().any(|v| v.len() > MAX_PARAM) {
        return Err("Un paramètre de la demande est trop long.");
    }
    Ok(p)
}

fn get_param<'a>(p: &'a HashMap<String, String>, name: &str) -> &'a str {
    p.get(name).map(String::as_str).unwrap_or("")
}

fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `to` with the query parameters `pairs` appended.
fn with_query(to: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = to.to_string();
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    url.push(if to.contains('?') { '&' } else { '?' });
    url.push_str(&q.finish());
    url
}

async fn discovery(State(idp): State<Arc<Idp>>) -> Json<Value> {
    let i = &idp.s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/session/end"),
        "scopes_supported": ["openid", "email", "given_name", "usual_name", "uid", "siret"],
        "claims_supported": ["sub", "email", "email_verified", "given_name", "usual_name", "uid", "siret", "acr"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "acr_values_supported": [ACR],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks_document(State(idp): State<Arc<Idp>>) -> Json<Value> {
    Json(idp.jwks.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_or_overlong_parameters_are_refused() {
        assert!(params(b"a=1&b=2").is_ok());
        assert!(params(b"a=1&a=2").is_err());
        let long = format!("a={}", "x".repeat(MAX_PARAM + 1));
        assert!(params(long.as_bytes()).is_err());
        // Bad percent-encoding is read leniently, never a panic.
        assert!(params(b"a=%zz&b=%").is_ok());
    }

    #[test]
    fn query_appended_with_the_right_separator() {
        assert_eq!(
            with_query("http://a/b", &[("s", "x y")]),
            "http://a/b?s=x+y"
        );
        assert_eq!(
            with_query("http://a/b?c=1", &[("s", "é")]),
            "http://a/b?c=1&s=%C3%A9"
        );
    }
}
