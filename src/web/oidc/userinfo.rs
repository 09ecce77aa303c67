//! The UserInfo endpoint (OpenID Connect Core section 5.3): the claims of the access token's
//! grant, as long as the grant may still be used (`still_allowed`). The token comes in the
//! `Authorization` header, or in a POST form body (`crate::oidc::bearer`).

use super::{still_allowed, OAuthError};
use crate::oidc::bearer::{self, BearerError};
use crate::oidc::claims::user_claims;
use crate::oidc::cors::Readers;
use crate::oidc::grants::Grants;
use crate::state::Gateway;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

fn invalid_token() -> OAuthError {
    OAuthError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_token",
        description: "the access token is invalid, expired or revoked",
        challenge: Some("Bearer error=\"invalid_token\""),
    }
}

pub async fn userinfo(
    State(gw): State<Arc<Gateway>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = super::cors::origin(&headers);
    // A GET has no body to read a token from (RFC 6750 section 2.2).
    let body: &[u8] = if method == Method::POST { &body } else { &[] };
    match handle(&gw, &headers, body).await {
        Ok((mut res, client_id)) => {
            // The claims are readable from a browser only by the public client of the token
            // (docs/oidc-provider.md#cors).
            let routes = gw.routes();
            if let Some(c) = routes
                .app_by_client_id(&client_id)
                .and_then(|a| a.cfg.oidc.as_ref())
            {
                super::cors::apply(&gw, origin, Readers::Client(c), &mut res);
            }
            res
        }
        Err(e) => {
            let mut res = e.into_response();
            super::cors::apply(&gw, origin, Readers::PublicClients, &mut res);
            res
        }
    }
}

async fn handle(
    gw: &Gateway,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Response, String), OAuthError> {
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let token = bearer::presented(
        text(header::AUTHORIZATION),
        text(header::CONTENT_TYPE),
        body,
    )
    .map_err(|e| match e {
        BearerError::Missing => OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_request",
            description: "a Bearer access token is required",
            challenge: Some("Bearer"),
        },
        BearerError::Malformed => OAuthError::new("invalid_request", "malformed form body"),
        BearerError::Several => OAuthError::new(
            "invalid_request",
            "the access token must be sent in one place only",
        ),
    })?;
    let grants = Grants(gw.sessions.store.as_ref());
    let grant_id = grants.access(&token).await?.ok_or_else(invalid_token)?;
    let grant = grants.get(&grant_id).await?.ok_or_else(invalid_token)?;
    let routes = gw.routes();
    let app = routes
        .app_by_client_id(&grant.client_id)
        .ok_or_else(invalid_token)?;
    let ident = still_allowed(gw, &grant, &app.cfg.slug)
        .await?
        .ok_or_else(invalid_token)?;
    let id = &ident.identity;
    let contact = if grant.has_scope("phone") || grant.has_scope("address") {
        gw.dir.contact(id.user_id).await?
    } else {
        None
    };
    let claims = user_claims(id, &app.cfg.slug, &grant.scopes, contact.as_ref());
    let mut res = axum::Json(claims).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((res, grant.client_id))
}
