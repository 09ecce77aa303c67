//! The UserInfo endpoint (OpenID Connect Core section 5.3): the claims of the access token's
//! grant, as long as the grant may still be used (`still_allowed`).

use super::{still_allowed, OAuthError};
use crate::oidc::claims::user_claims;
use crate::oidc::cors::Readers;
use crate::oidc::grants::Grants;
use crate::state::Gateway;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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

pub async fn userinfo(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let origin = super::cors::origin(&headers);
    match handle(&gw, &headers).await {
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

async fn handle(gw: &Gateway, headers: &HeaderMap) -> Result<(Response, String), OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_request",
            description: "a Bearer access token is required",
            challenge: Some("Bearer"),
        })?;
    let grants = Grants(gw.sessions.store.as_ref());
    let grant_id = grants.access(token).await?.ok_or_else(invalid_token)?;
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
