//! The portal: login, logout, the application tiles, the single sign-on handshake, the JWKS and
//! the health endpoints. An axum app served on a Unix socket behind the Pingora listener.

pub mod account_access;
pub mod account_events;
pub mod account_sessions;
pub mod aia;
pub mod body;
pub mod broker;
mod broker_mail;
pub mod context;
pub mod error;
pub mod factor_check;
pub mod french;
pub mod legal;
pub mod login;
pub mod meta;
pub mod oidc;
pub mod pages;
pub mod passkeys;
pub mod password;
pub(crate) mod password_policy;
pub mod portal;
pub mod privacy;
pub mod recovery;
pub mod rejections;
pub mod second_factor;
pub mod security;
pub mod sign_in;
pub mod sso;
pub mod step_up;

use crate::state::Gateway;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(portal::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", get(login::confirm_logout).post(login::logout))
        .route("/login/fournisseur/deconnexion", get(broker::logged_out))
        .route("/login/fournisseur/{slug}", get(broker::start))
        .route("/login/fournisseur/{slug}/retour", get(broker::callback))
        .route(
            "/login/verification",
            get(second_factor::form).post(second_factor::submit),
        )
        .route(
            "/login/verification/cle",
            post(second_factor::passkey_options),
        )
        .route(step_up::PATH, get(step_up::form).post(step_up::submit))
        .route("/login/confirmer/cle", post(step_up::passkey_options))
        .route("/aia/profil/securite", get(security::page))
        .route(
            "/aia/profil/securite/cles/options",
            post(passkeys::registration_options),
        )
        .route("/aia/profil/securite/cles", post(passkeys::register))
        .route(
            "/aia/profil/securite/cles/{id}/supprimer",
            post(passkeys::remove),
        )
        .route("/aia/profil/securite/totp", post(security::start))
        .route(
            "/aia/profil/securite/totp/confirmer",
            post(security::confirm),
        )
        .route(
            "/aia/profil/securite/totp/supprimer",
            post(security::remove),
        )
        .route("/aia/profil/securite/codes", post(security::regenerate))
        .route(account_sessions::PATH, get(account_sessions::page))
        .route(
            "/aia/profil/sessions/deconnecter",
            post(account_sessions::end_one),
        )
        .route(
            "/aia/profil/sessions/deconnecter-autres",
            post(account_sessions::end_others),
        )
        .route("/donnees-personnelles", get(privacy::page))
        .route("/mentions-legales", get(legal::legal_notice))
        .route("/accessibilite", get(legal::accessibility))
        .route("/sso/authorize", get(sso::authorize))
        .route(
            "/mot-de-passe/{token}",
            get(password::form).post(password::submit),
        )
        .route(
            "/premiere-visite",
            get(recovery::first_visit_form).post(recovery::first_visit_submit),
        )
        .route(
            "/mot-de-passe-oublie",
            get(recovery::forgot_form).post(recovery::forgot_submit),
        )
        .route(
            "/.well-known/jwks.json",
            get(meta::jwks).options(oidc::cors::documents),
        )
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(meta::metrics))
        .route("/_static/style.css", get(meta::stylesheet))
        .route("/_static/password.js", get(meta::password_js))
        .route("/_static/passkey.js", get(meta::passkey_js))
        .route("/_static/continue.js", get(meta::continue_js))
        .merge(aia::routes())
        .merge(oidc::routes())
        .fallback(meta::not_found)
        .layer(axum::middleware::from_fn(rejections::reject_nul))
        .layer(axum::middleware::map_response(
            rejections::french_rejections,
        ))
        .layer(axum::middleware::from_fn(body::read_whole_body))
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            within_deadline,
        ))
        .layer(axum::middleware::map_response_with_state(
            gw.clone(),
            security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(gw.clone(), with_help))
        .with_state(gw)
}

/// Bounds every portal request (`resilience.page_timeout_ms`): the breakers bound the calls
/// made for the proxy, but a page may run several directory queries, and a database that
/// accepts connections yet never answers (hung, or a network black hole) would otherwise hold
/// the request, its connection and its pool slot for as long as TCP allows. Dropping the
/// handler rolls back any transaction it had open. A streamed export is bounded until its
/// first byte only.
async fn within_deadline(
    State(gw): State<Arc<Gateway>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = gw.config.resilience.page_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(?limit, "a portal page took too long: answered 503");
            crate::telemetry::page_timeout();
            use axum::response::IntoResponse;
            error::WebError::Unavailable(format!("no answer within {limit:?}")).into_response()
        }
    }
}

/// Makes the help contacts available to the error pages of this request (see
/// [`crate::error_page::HELP`]).
async fn with_help(
    State(gw): State<Arc<Gateway>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    crate::error_page::HELP
        .scope(gw.config.support.clone(), next.run(req))
        .await
}

/// CSP, framing, referrer and (under TLS) HSTS on every portal response; HTML is never cached
/// (it shows personal data and CSRF tokens). See docs/security.md#security-headers.
async fn security_headers(State(gw): State<Arc<Gateway>>, mut res: Response) -> Response {
    let h = res.headers_mut();
    let routes = gw.routes();
    let providers = broker::form_targets(&gw);
    let form_targets: Vec<&str> = routes
        .apps
        .iter()
        .flat_map(|a| std::iter::once(&a.origin).chain(&a.redirect_origins))
        .filter(|o| !o.is_empty())
        .map(String::as_str)
        .chain(providers.iter().map(String::as_str))
        .collect();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; \
         form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
        form_targets.join(" ")
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if gw.is_tls() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Builds a Set-Cookie value with the rules of docs/security.md#cookies (HttpOnly, SameSite=Lax,
/// Secure under TLS, host-only unless a cookie domain is configured and `shared` is set).
pub fn set_cookie(gw: &Gateway, name: &str, value: &str, shared: bool, clear: bool) -> HeaderValue {
    let mut c = cookie::Cookie::new(name.to_string(), value.to_string());
    c.set_http_only(true);
    c.set_same_site(cookie::SameSite::Lax);
    c.set_path("/");
    c.set_secure(gw.is_tls());
    if shared {
        if let Some(d) = &gw.config.sessions.cookie_domain {
            c.set_domain(d.clone());
        }
    }
    if clear {
        c.make_removal();
    }
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
