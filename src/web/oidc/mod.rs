//! The OpenID Connect provider's endpoints on the portal host (docs/oidc-provider.md): the
//! protocol rules are in `crate::oidc`; these handlers read the request, ask, and answer.
//! Browser-facing errors are French pages (`WebError`), machine-facing ones OAuth JSON errors
//! ([`OAuthError`]).

mod authorize;
pub mod cors;
mod logout;
mod token;
mod userinfo;

use crate::oidc::grants::Grant;
use crate::proxy::identity_cache::CachedIdentity;
use crate::state::Gateway;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Gateway>> {
    use crate::oidc::{AUTHORIZE_PATH, DISCOVERY_PATH, LOGOUT_PATH, TOKEN_PATH, USERINFO_PATH};
    Router::new()
        .route(DISCOVERY_PATH, get(discovery).options(cors::documents))
        .route(
            AUTHORIZE_PATH,
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(
            TOKEN_PATH,
            axum::routing::post(token::token).options(cors::token),
        )
        .route(
            USERINFO_PATH,
            get(userinfo::userinfo)
                .post(userinfo::userinfo)
                .options(cors::userinfo),
        )
        .route(
            LOGOUT_PATH,
            get(logout::end_session).post(logout::end_session),
        )
}

async fn discovery(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let mut res = axum::Json(crate::oidc::discovery(&gw.config.public_url)).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    cors::apply(
        &gw,
        cors::origin(&headers),
        crate::oidc::cors::Readers::AnyClient,
        &mut res,
    );
    res
}

/// An OAuth error for a client (RFC 6749 section 5.2, RFC 6750 section 3).
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: &'static str,
    /// `WWW-Authenticate` value for 401 answers.
    pub challenge: Option<&'static str>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: &'static str) -> OAuthError {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "slow_down" => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description,
            challenge: None,
        }
    }
}

impl From<crate::session::SessionError> for OAuthError {
    fn from(e: crate::session::SessionError) -> Self {
        tracing::warn!(error = %e, "oidc: session store unavailable");
        OAuthError::new("temporarily_unavailable", "try again shortly")
    }
}

impl From<crate::directory::DirectoryError> for OAuthError {
    fn from(e: crate::directory::DirectoryError) -> Self {
        tracing::warn!(error = %e, "oidc: directory unavailable");
        OAuthError::new("temporarily_unavailable", "try again shortly")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        crate::telemetry::oidc_event(self.error);
        let body =
            serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut res = (self.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(c) = self.challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        res
    }
}

/// The account behind a grant, if the grant may still be used: its portal session is alive,
/// the account exists and is usable, and it still holds a role on the application. This is what
/// makes logout, lock, deletion, password change and role removal end the tokens.
pub(crate) async fn still_allowed(
    gw: &Gateway,
    grant: &Grant,
    slug: &str,
) -> Result<Option<Arc<CachedIdentity>>, OAuthError> {
    let Some(rec) = gw.sessions.peek_key(&grant.session).await? else {
        return Ok(None);
    };
    if rec.user_id != grant.user_id {
        return Ok(None);
    }
    let Some(ident) = gw.identities.get(&gw.dir, grant.user_id).await? else {
        return Ok(None);
    };
    let id = &ident.identity;
    Ok((id.is_usable(&crate::directory::today()) && id.has_app(slug)).then_some(ident))
}
