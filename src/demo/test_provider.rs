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
        format!("{}/login/fournisseur/{SLUG}/retour", self.portal_url)
    }
    /// Where the gateway asks to come back after logout (src/web/broker.rs).
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}/login/fournisseur/deconnexion", self.portal_url)
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
        .route("/authorize", get(authorize).post(choose))
        .route("/token", axum::routing::post(token))
        .route("/userinfo", get(userinfo))
        .route("/session/end", get(end_session))
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

/// The parameters of a query string or form body, each present at most once (a repeated
/// parameter is refused, RFC 6749 3.1), none longer than [`MAX_PARAM`].
fn params(raw: &[u8]) -> Result<HashMap<String, String>, &'static str> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if v.len() > MAX_PARAM {
            return Err("Un paramètre de la demande est trop long.");
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("Un paramètre de la demande est répété.");
        }
    }
    Ok(out)
}

fn get_param<'a>(p: &'a HashMap<String, String>, name: &str) -> &'a str {
    p.get(name).map(String::as_str).unwrap_or("")
}

#[derive(Template)]
#[template(path = "demo_idp.html")]
struct Page<'a> {
    portal_url: &'a str,
    client_id: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    /// The waiting authorization request, empty when the page only tells something.
    request: String,
    /// Index, "que/qu'" and name, e-mail, description.
    accounts: Vec<(usize, String, &'a str, &'a str)>,
}

impl<'a> Page<'a> {
    fn new(idp: &'a Idp) -> Page<'a> {
        Page {
            portal_url: &idp.s.portal_url,
            client_id: CLIENT_ID,
            error: None,
            notice: None,
            request: String::new(),
            accounts: Vec::new(),
        }
    }

    fn send(self, status: StatusCode) -> Response {
        let body = self
            .render()
            .unwrap_or_else(|e| format!("template error: {e}"));
        let mut res = (status, Html(body)).into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// A refused request: 400 and a short French message, never a redirect to an address the
/// request named.
fn refuse(idp: &Idp, message: &str) -> Response {
    let mut p = Page::new(idp);
    p.error = Some(message);
    p.send(StatusCode::BAD_REQUEST)
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

/// The authorization request: checked whole (client, return address, PKCE, `state`, `nonce`,
/// `openid`), then the page to choose an account.
async fn authorize(State(idp): State<Arc<Idp>>, RawQuery(q): RawQuery) -> Response {
    let p = match params(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(m) => return refuse(&idp, m),
    };
    if get_param(&p, "client_id") != CLIENT_ID {
        return refuse(&idp, "Application cliente inconnue (client_id).");
    }
    // Never redirect anywhere but the registered address, even to say no.
    if get_param(&p, "redirect_uri") != idp.s.redirect_uri() {
        return refuse(&idp, "Adresse de retour non enregistrée (redirect_uri).");
    }
    if get_param(&p, "response_type") != "code" {
        return refuse(
            &idp,
            "Seul le flux « authorization code » est proposé (response_type).",
        );
    }
    let scopes: Vec<String> = get_param(&p, "scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return refuse(&idp, "La demande doit inclure la portée openid (scope).");
    }
    let challenge = get_param(&p, "code_challenge");
    if get_param(&p, "code_challenge_method") != "S256"
        || !crate::oidc::pkce::well_formed(challenge)
    {
        return refuse(&idp, "PKCE avec la méthode S256 est obligatoire.");
    }
    let (state, nonce) = (get_param(&p, "state"), get_param(&p, "nonce"));
    if state.is_empty() || nonce.is_empty() {
        return refuse(&idp, "Les paramètres state et nonce sont obligatoires.");
    }
    if !room(&idp.requests, |r| r.at, REQUEST_TTL) {
        return refuse(&idp, BUSY);
    }
    let id = crate::auth::random_token();
    idp.requests.insert(
        id.clone(),
        Request {
            state: state.to_string(),
            nonce: nonce.to_string(),
            challenge: challenge.to_string(),
            scopes,
            at: now(),
        },
    );
    let mut page = Page::new(&idp);
    page.request = id;
    page.accounts = ACCOUNTS
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                i,
                as_whom(&format!("{} {}", a.given_name, a.usual_name)),
                a.email,
                a.description,
            )
        })
        .collect();
    page.send(StatusCode::OK)
}

/// "que Régis Référent", "qu'Agnès Agent": the words after « Se connecter en tant », elided
/// before a vowel as French writes it.
fn as_whom(name: &str) -> String {
    let vowel = name
        .chars()
        .next()
        .is_some_and(|c| "AEIOUYÀÂÉÈÊÎÔaeiouyàâéèêîô".contains(c));
    if vowel {
        format!("qu'{name}")
    } else {
        format!("que {name}")
    }
}

/// The account chosen on the page (or « Annuler »): a fresh code back to the gateway.
async fn choose(State(idp): State<Arc<Idp>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(m) => return refuse(&idp, m),
    };
    let Some((_, req)) = idp.requests.remove(get_param(&p, "demande")) else {
        return refuse(
            &idp,
            "Cette demande de connexion est inconnue ou a déjà servi : recommencez depuis le portail.",
        );
    };
    if req.at < now() - REQUEST_TTL {
        return refuse(
            &idp,
            "Cette demande de connexion a expiré : recommencez depuis le portail.",
        );
    }
    let back = idp.s.redirect_uri();
    let choice = get_param(&p, "compte");
    if choice == "annuler" {
        return see_other(&with_query(
            &back,
            &[
                ("error", "access_denied"),
                ("state", &req.state),
                ("iss", &idp.s.issuer),
            ],
        ));
    }
    let Some(account) = choice.parse::<usize>().ok().filter(|i| *i < ACCOUNTS.len()) else {
        return refuse(&idp, "Compte inconnu.");
    };
    if !room(&idp.codes, |g| g.at, CODE_TTL) {
        return refuse(&idp, BUSY);
    }
    let code = crate::auth::random_token();
    idp.codes.insert(
        code.clone(),
        Grant {
            account,
            nonce: req.nonce,
            challenge: req.challenge,
            scopes: req.scopes,
            at: now(),
        },
    );
    see_other(&with_query(
        &back,
        &[
            ("code", &code),
            ("state", &req.state),
            ("iss", &idp.s.issuer),
        ],
    ))
}

/// An OAuth error of the token endpoint (RFC 6749 5.2), explained in French.
fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The claims of `account` that the granted `scopes` release (ProConnect: one scope a claim,
/// `email_verified` with `email`).
fn scoped_claims(account: &Account, scopes: &[String]) -> serde_json::Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut c = serde_json::Map::new();
    c.insert("sub".into(), json!(account.sub));
    if has("email") {
        c.insert("email".into(), json!(account.email));
        c.insert("email_verified".into(), json!(true));
    }
    for (scope, value) in [
        ("given_name", account.given_name),
        ("usual_name", account.usual_name),
        ("uid", account.uid),
        ("siret", account.siret),
    ] {
        if has(scope) {
            c.insert(scope.into(), json!(value));
        }
    }
    c
}

/// Redeems a code once: client (`client_secret_post`), return address and PKCE verifier
/// checked; the code is gone whatever the outcome.
async fn token(State(idp): State<Arc<Idp>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(m) => return token_error(StatusCode::BAD_REQUEST, "invalid_request", m),
    };
    if get_param(&p, "client_id") != CLIENT_ID
        || !same(get_param(&p, "client_secret"), CLIENT_SECRET)
    {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Application cliente inconnue ou secret incorrect.",
        );
    }
    if get_param(&p, "grant_type") != "authorization_code" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Seul le type authorization_code est accepté.",
        );
    }
    let invalid = |m: &str| token_error(StatusCode::BAD_REQUEST, "invalid_grant", m);
    let Some((_, grant)) = idp.codes.remove(get_param(&p, "code")) else {
        return invalid("Code inconnu ou déjà utilisé.");
    };
    if grant.at < now() - CODE_TTL {
        return invalid("Code expiré.");
    }
    if get_param(&p, "redirect_uri") != idp.s.redirect_uri() {
        return invalid("L'adresse de retour ne correspond pas à la demande.");
    }
    if !crate::oidc::pkce::verify(get_param(&p, "code_verifier"), &grant.challenge) {
        return invalid("Le vérificateur PKCE ne correspond pas (code_verifier).");
    }
    let Some(account) = ACCOUNTS.get(grant.account) else {
        return invalid("Compte inconnu.");
    };
    let t = now();
    let mut claims = json!({
        "iss": idp.s.issuer,
        "aud": CLIENT_ID,
        "sub": account.sub,
        "exp": t + TOKEN_TTL,
        "iat": t,
        "auth_time": t,
        "nonce": grant.nonce,
        "acr": ACR,
    });
    if grant.scopes.iter().any(|s| s == "email") {
        claims["email"] = json!(account.email);
    }
    let id_token = match idp.keys.sign(IdTokenAlg::Rs256, ID_TOKEN_TYP, &claims) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "demo test provider: cannot sign an ID token");
            return token_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Signature impossible.",
            );
        }
    };
    if !room(&idp.tokens, |g| g.at, TOKEN_TTL) {
        return token_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            BUSY,
        );
    }
    let access = crate::auth::random_token();
    idp.tokens.insert(access.clone(), Grant { at: t, ..grant });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "id_token": id_token,
            "scope": "openid",
        })),
    )
        .into_response()
}

/// The account's claims as a JWT signed like the ID token (ProConnect's userinfo).
async fn userinfo(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let found = idp
        .tokens
        .get(bearer)
        .filter(|g| g.at >= now() - TOKEN_TTL)
        .and_then(|g| ACCOUNTS.get(g.account).map(|a| scoped_claims(a, &g.scopes)));
    let Some(mut claims) = found else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            "Jeton d'accès inconnu ou expiré.",
        )
            .into_response();
    };
    claims.insert("iss".into(), json!(idp.s.issuer));
    claims.insert("aud".into(), json!(CLIENT_ID));
    claims.insert("iat".into(), json!(now()));
    match idp.keys.sign(IdTokenAlg::Rs256, ID_TOKEN_TYP, &claims) {
        Ok(jwt) => (
            [
                (header::CONTENT_TYPE, "application/jwt; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            jwt,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "demo test provider: cannot sign userinfo");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// RP-initiated logout: back to `post_logout_redirect_uri` with `state` when it is the
/// registered address and `id_token_hint` (if any) is one of this provider's ID tokens;
/// otherwise a page, never a redirect elsewhere. The provider keeps no session to end.
async fn end_session(State(idp): State<Arc<Idp>>, RawQuery(q): RawQuery) -> Response {
    let p = match params(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(m) => return refuse(&idp, m),
    };
    let hint = get_param(&p, "id_token_hint");
    if !hint.is_empty()
        && idp
            .keys
            .verify_own::<Value>(hint, &idp.s.issuer, ID_TOKEN_TYP)
            .is_none()
    {
        return refuse(
            &idp,
            "Le jeton d'identité fourni (id_token_hint) ne vient pas de ce fournisseur.",
        );
    }
    let to = get_param(&p, "post_logout_redirect_uri");
    if to.is_empty() {
        let mut page = Page::new(&idp);
        page.notice = Some("Vous êtes déconnecté du fournisseur de test.");
        return page.send(StatusCode::OK);
    }
    if to != idp.s.post_logout_redirect_uri() {
        return refuse(
            &idp,
            "Adresse de retour après déconnexion non enregistrée (post_logout_redirect_uri) : le fournisseur de test ne vous y renvoie pas.",
        );
    }
    let state = get_param(&p, "state");
    if state.is_empty() {
        return see_other(to);
    }
    see_other(&with_query(to, &[("state", state)]))
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
    fn claims_follow_the_scopes() {
        let c = scoped_claims(&ACCOUNTS[0], &["openid".into()]);
        assert_eq!(c.len(), 1);
        let all: Vec<String> = [
            "openid",
            "email",
            "given_name",
            "usual_name",
            "uid",
            "siret",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = scoped_claims(&ACCOUNTS[0], &all);
        for k in [
            "sub",
            "email",
            "email_verified",
            "given_name",
            "usual_name",
            "uid",
            "siret",
        ] {
            assert!(c.contains_key(k), "{k}");
        }
    }

    #[test]
    fn names_are_elided_before_a_vowel() {
        assert_eq!(as_whom("Agnès Agent"), "qu'Agnès Agent");
        assert_eq!(as_whom("Régis Référent"), "que Régis Référent");
        assert_eq!(as_whom("Émile"), "qu'Émile");
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
