//! The demo's OpenID Connect relying party ("Démo OpenID Connect", docs/oidc-provider.md#demo):
//! a small application outside the gateway that signs its users in through the gateway's
//! provider the way an integrator would: authorization code flow with PKCE, `state` and
//! `nonce`; the ID token verified against the JWKS (signature, `iss`, `aud`, `exp`, `nonce`,
//! and `acr` when it asked for a level); UserInfo; RP-initiated logout back to itself; and
//! back-channel logout. Written to be read: everything it checks is in `verify.rs`.
//! Its sessions are in memory (a demo); its secret is published (demo only).

mod verify;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dashmap::DashMap;
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const CLIENT_ID: &str = "demo-rp";
/// Demo only: printed and documented, so that anyone can read the exchange.
pub const CLIENT_SECRET: &str = "demo-rp-secret";
/// The application's slug (a client id may not be a slug).
pub const SLUG: &str = "demo-oidc";
pub const HOST: &str = "rp.localhost";
const PENDING_COOKIE: &str = "demo_rp_pending";
const SESSION_COOKIE: &str = "demo_rp_session";
/// A sign-in started more than this long ago is forgotten.
const PENDING_TTL: i64 = 600;
/// At most this many sign-ins in progress and sessions (a demo, but bounded all the same).
const MAX_ENTRIES: usize = 1000;

/// Where the relying party lives and how it reaches the provider.
#[derive(Clone)]
pub struct Settings {
    /// `http://rp.localhost:PORT`, without a trailing slash.
    pub base: String,
    /// The provider's issuer (the gateway's public URL).
    pub issuer: String,
    /// The portal host and the gateway's address: the relying party's own requests to the
    /// provider go there, whatever the machine's resolver says of `*.localhost`.
    pub portal_host: String,
    pub gateway: SocketAddr,
}

impl Settings {
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.base)
    }
    pub fn post_logout_uri(&self) -> String {
        format!("{}/deconnecte", self.base)
    }
}

/// The `[[apps]]` entry that declares the relying party at `base` to the gateway.
/// `secret_hash` is the Argon2id hash of [`CLIENT_SECRET`]; `backchannel` the address the
/// gateway posts logout tokens to (the loopback: a server-to-server call).
pub fn app_entry(base: &str, secret_hash: &str, backchannel: &str) -> String {
    format!(
        r#"
[[apps]]
slug = "{SLUG}"
name = "Démo OpenID Connect"
description = "Application cliente OpenID Connect de démonstration"
url = "{base}/"
[apps.oidc]
client_id = "{CLIENT_ID}"
client_secret_hash = "{secret_hash}"
redirect_uris = ["{base}/callback"]
post_logout_redirect_uris = ["{base}/deconnecte"]
backchannel_logout_uri = "{backchannel}"
"#
    )
}

/// A sign-in in progress, bound to the browser by the pending cookie.
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    acr: Option<String>,
    at: i64,
}

/// A signed-in browser.
struct Signed {
    claims: Value,
    userinfo: Value,
    id_token: String,
    sid: String,
    at: i64,
}

struct Rp {
    s: Settings,
    http: reqwest::Client,
    pending: DashMap<String, Pending>,
    sessions: DashMap<String, Signed>,
}

pub fn router(s: Settings) -> Result<Router, String> {
    let http = reqwest::Client::builder()
        .resolve(&s.portal_host, s.gateway)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let rp = Arc::new(Rp {
        s,
        http,
        pending: DashMap::new(),
        sessions: DashMap::new(),
    });
    Ok(Router::new()
        .route("/", get(home))
        .route("/connexion", get(start))
        .route("/callback", get(callback))
        .route("/deconnexion", post(logout))
        .route("/deconnecte", get(logged_out))
        .route("/backchannel-logout", post(backchannel))
        .with_state(rp))
}

#[derive(Template)]
#[template(path = "demo_rp.html")]
struct Page {
    portal_url: String,
    notice: Option<String>,
    error: Option<String>,
    user_name: String,
    /// Verified ID token claims and UserInfo, pretty-printed; empty when signed out.
    claims: String,
    userinfo: String,
    acr: String,
}

impl Page {
    fn new(rp: &Rp) -> Page {
        Page {
            portal_url: rp.s.issuer.clone(),
            notice: None,
            error: None,
            user_name: String::new(),
            claims: String::new(),
            userinfo: String::new(),
            acr: String::new(),
        }
    }

    fn send(self, status: StatusCode, cookies: &[String]) -> Response {
        let body = self
            .render()
            .unwrap_or_else(|e| format!("template error: {e}"));
        let mut res = (status, Html(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

fn now() -> i64 {
    crate::directory::now()
}

fn cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

fn error_page(rp: &Rp, status: StatusCode, message: &str) -> Response {
    let mut p = Page::new(rp);
    p.error = Some(message.to_string());
    p.send(status, &[cookie(PENDING_COOKIE, "", 0)])
}

/// Drops entries older than `ttl` seconds, and refuses to grow past the bound.
fn prune<T>(map: &DashMap<String, T>, at: impl Fn(&T) -> i64, ttl: i64) -> bool {
    let limit = now() - ttl;
    map.retain(|_, v| at(&*v) >= limit);
    map.len() < MAX_ENTRIES
}

async fn home(State(rp): State<Arc<Rp>>, headers: HeaderMap) -> Response {
    let mut p = Page::new(&rp);
    if let Some(s) = cookie_of(&headers, SESSION_COOKIE).and_then(|k| rp.sessions.get(&k)) {
        p.user_name = s.claims["name"].as_str().unwrap_or_default().to_string();
        p.acr = s.claims["acr"].as_str().unwrap_or_default().to_string();
        p.claims = serde_json::to_string_pretty(&s.claims).unwrap_or_default();
        p.userinfo = serde_json::to_string_pretty(&s.userinfo).unwrap_or_default();
    }
    p.send(StatusCode::OK, &[])
}

#[derive(Deserialize)]
struct StartQuery {
    /// `eidas2` asks for a sign-in with a second factor.
    #[serde(default)]
    niveau: String,
}

/// Sends the browser to the provider with a fresh `state`, `nonce` and PKCE verifier.
async fn start(State(rp): State<Arc<Rp>>, Query(q): Query<StartQuery>) -> Response {
    let meta = match verify::discovery(&rp.http, &rp.s.issuer).await {
        Ok(m) => m,
        Err(e) => return error_page(&rp, StatusCode::BAD_GATEWAY, &e),
    };
    if !prune(&rp.pending, |p| p.at, PENDING_TTL) {
        return error_page(
            &rp,
            StatusCode::SERVICE_UNAVAILABLE,
            "Trop de connexions en cours : réessayez dans quelques minutes.",
        );
    }
    let acr = (q.niveau == "eidas2").then(|| "eidas2".to_string());
    let pending = Pending {
        state: crate::auth::random_token(),
        nonce: crate::auth::random_token(),
        verifier: crate::auth::random_token(),
        acr,
        at: now(),
    };
    let mut url = match url::Url::parse(&meta.authorization_endpoint) {
        Ok(u) => u,
        Err(_) => return error_page(&rp, StatusCode::BAD_GATEWAY, "Métadonnées illisibles."),
    };
    {
        let mut qp = url.query_pairs_mut();
        qp.append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &rp.s.redirect_uri())
            .append_pair("scope", "openid profile email roles structure")
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &verify::challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(a) = &pending.acr {
            qp.append_pair("acr_values", a);
        }
    }
    let key = crate::auth::random_token();
    rp.pending.insert(key.clone(), pending);
    redirect(url.as_str(), &[cookie(PENDING_COOKIE, &key, PENDING_TTL)])
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    iss: String,
    #[serde(default)]
    error: String,
}

/// The provider's answer: the checks of `verify::sign_in`, then a session of the relying party.
async fn callback(
    State(rp): State<Arc<Rp>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    // The sign-in this browser started, used once whatever happens next.
    let Some((_, pending)) =
        cookie_of(&headers, PENDING_COOKIE).and_then(|k| rp.pending.remove(&k))
    else {
        return error_page(
            &rp,
            StatusCode::BAD_REQUEST,
            "Aucune connexion n'était en cours dans ce navigateur : recommencez.",
        );
    };
    if !verify::same(&q.state, &pending.state) {
        return error_page(
            &rp,
            StatusCode::BAD_REQUEST,
            "La réponse ne correspond pas à la connexion demandée (state) : recommencez.",
        );
    }
    if !q.iss.is_empty() && q.iss != rp.s.issuer {
        return error_page(
            &rp,
            StatusCode::BAD_REQUEST,
            "La réponse vient d'un autre fournisseur (iss) : elle est ignorée.",
        );
    }
    if !q.error.is_empty() {
        let msg = format!("Le portail a refusé la connexion ({}).", q.error);
        return error_page(&rp, StatusCode::BAD_REQUEST, &msg);
    }
    let expect = verify::Expect {
        issuer: &rp.s.issuer,
        client_id: CLIENT_ID,
        nonce: &pending.nonce,
        acr: pending.acr.as_deref(),
    };
    let done = verify::sign_in(
        &rp.http,
        &expect,
        &q.code,
        &pending.verifier,
        &rp.s.redirect_uri(),
        CLIENT_SECRET,
    )
    .await;
    let (claims, userinfo, id_token) = match done {
        Ok(v) => v,
        Err(e) => return error_page(&rp, StatusCode::BAD_REQUEST, &e),
    };
    if !prune(&rp.sessions, |s| s.at, 12 * 3600) {
        return error_page(
            &rp,
            StatusCode::SERVICE_UNAVAILABLE,
            "Trop de sessions ouvertes : réessayez plus tard.",
        );
    }
    let key = crate::auth::random_token();
    rp.sessions.insert(
        key.clone(),
        Signed {
            sid: claims["sid"].as_str().unwrap_or_default().to_string(),
            claims,
            userinfo,
            id_token,
            at: now(),
        },
    );
    redirect(
        "/",
        &[
            cookie(SESSION_COOKIE, &key, 12 * 3600),
            cookie(PENDING_COOKIE, "", 0),
        ],
    )
}

/// Ends the relying party's session, then the portal's (RP-initiated logout), which sends the
/// browser back to `/deconnecte`.
async fn logout(State(rp): State<Arc<Rp>>, headers: HeaderMap) -> Response {
    let signed = cookie_of(&headers, SESSION_COOKIE).and_then(|k| rp.sessions.remove(&k));
    let clear = [cookie(SESSION_COOKIE, "", 0)];
    let Some((_, s)) = signed else {
        return redirect("/", &clear);
    };
    let end = match verify::discovery(&rp.http, &rp.s.issuer).await {
        Ok(m) => m.end_session_endpoint,
        Err(e) => return error_page(&rp, StatusCode::BAD_GATEWAY, &e),
    };
    let Ok(mut url) = url::Url::parse(&end) else {
        return error_page(&rp, StatusCode::BAD_GATEWAY, "Métadonnées illisibles.");
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", &s.id_token)
        .append_pair("post_logout_redirect_uri", &rp.s.post_logout_uri())
        .append_pair("state", "deconnexion");
    redirect(url.as_str(), &clear)
}

async fn logged_out(State(rp): State<Arc<Rp>>) -> Response {
    let mut p = Page::new(&rp);
    p.notice = Some("Vous êtes déconnecté de l'application et du portail.".into());
    p.send(StatusCode::OK, &[])
}

#[derive(Deserialize)]
struct BackchannelForm {
    #[serde(default)]
    logout_token: String,
}

/// Back-channel logout: a verified logout token ends this relying party's sessions of its
/// `sid` (OpenID Connect Back-Channel Logout 1.0 section 2.6).
async fn backchannel(State(rp): State<Arc<Rp>>, Form(f): Form<BackchannelForm>) -> Response {
    match verify::logout_token(&rp.http, &rp.s.issuer, CLIENT_ID, &f.logout_token).await {
        Ok(sid) => {
            rp.sessions.retain(|_, s| s.sid != sid);
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "demo relying party: logout token refused");
            (StatusCode::BAD_REQUEST, "invalid logout token").into_response()
        }
    }
}
