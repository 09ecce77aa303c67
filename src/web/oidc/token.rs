//! The token endpoint (OpenID Connect Core section 3.1.3, RFC 6749 section 6): a code, or a
//! refresh token, for an ID token, an access token and, with `offline_access`, a new refresh
//! token. The client authenticates first; every refusal is an OAuth error that says as little
//! as the specification allows.

use super::{still_allowed, OAuthError};
use crate::config::OidcClient;
use crate::oidc::claims::{id_token, user_claims, IdTokenInput};
use crate::oidc::cors::Readers;
use crate::oidc::grants::{sid_of, ClientSession, Grant, Grants, Redeemed};
use crate::oidc::keys::ID_TOKEN_TYP;
use crate::oidc::{client_auth, params, pkce};
use crate::state::Gateway;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type OResult<T> = Result<T, OAuthError>;

pub async fn token(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut res = match handle(&gw, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // Readable from a browser only by the public client the request names
    // (docs/oidc-provider.md#cors).
    let routes = gw.routes();
    let named = params::parse(&body).ok().and_then(|form| {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        client_auth::presented(auth, &form).ok()
    });
    let client = named
        .as_ref()
        .and_then(|p| routes.app_by_client_id(&p.client_id))
        .and_then(|a| a.cfg.oidc.as_ref());
    let readers = match client {
        Some(c) => Readers::Client(c),
        None => Readers::PublicClients,
    };
    super::cors::apply(&gw, super::cors::origin(&headers), readers, &mut res);
    res
}

async fn handle(gw: &Gateway, headers: &HeaderMap, body: &[u8]) -> OResult<Response> {
    let form = params::parse(body)
        .map_err(|_| OAuthError::new("invalid_request", "malformed or repeated parameters"))?;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let presented =
        client_auth::presented(auth, &form).map_err(|m| OAuthError::new("invalid_client", m))?;
    let unauthenticated = || {
        let mut e = OAuthError::new("invalid_client", "client authentication failed");
        if presented.basic {
            e.challenge = Some("Basic realm=\"oidc\"");
        }
        e
    };
    if !gw.oidc.token_allowed(&presented.client_id) {
        return Err(OAuthError::new(
            "slow_down",
            "too many token requests for this client",
        ));
    }
    let routes = gw.routes();
    let app = routes
        .app_by_client_id(&presented.client_id)
        .ok_or_else(unauthenticated)?;
    let client = app.cfg.oidc.as_ref().ok_or_else(unauthenticated)?;
    if !client_auth::verify(client, &presented).await {
        return Err(unauthenticated());
    }
    let grants = Grants(gw.sessions.store.as_ref());
    let invalid_grant =
        || OAuthError::new("invalid_grant", "the grant is invalid, expired or revoked");
    let (grant_id, grant) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").ok_or_else(invalid_grant)?;
            let rec = match grants.redeem_code(code).await? {
                Redeemed::Found(r) => r,
                Redeemed::Replayed => {
                    crate::telemetry::oidc_event("code_replayed");
                    tracing::warn!(client = %client.client_id, "a used authorization code was presented again: its tokens are revoked");
                    return Err(invalid_grant());
                }
                Redeemed::Unknown => return Err(invalid_grant()),
            };
            if rec.client_id != client.client_id
                || form.get("redirect_uri") != Some(&rec.redirect_uri)
            {
                grants.revoke(&rec.grant).await?;
                return Err(invalid_grant());
            }
            let pkce_ok = match (&rec.code_challenge, form.get("code_verifier")) {
                (Some(c), Some(v)) => pkce::verify(v, c),
                (None, None) => !client.is_public(),
                // A verifier for a code issued without a challenge: a downgrade attempt.
                _ => false,
            };
            if !pkce_ok {
                grants.revoke(&rec.grant).await?;
                return Err(invalid_grant());
            }
            let g = grants.get(&rec.grant).await?.ok_or_else(invalid_grant)?;
            (rec.grant, g)
        }
        Some("refresh_token") => {
            let t = form.get("refresh_token").ok_or_else(invalid_grant)?;
            let id = match grants.redeem_refresh(t, client.refresh_token_ttl).await? {
                Redeemed::Found(id) => id,
                Redeemed::Replayed => {
                    crate::telemetry::oidc_event("refresh_token_reused");
                    tracing::warn!(client = %client.client_id, "a used refresh token was presented again: its chain is revoked");
                    return Err(invalid_grant());
                }
                Redeemed::Unknown => return Err(invalid_grant()),
            };
            let g = grants.get(&id).await?.ok_or_else(invalid_grant)?;
            if g.client_id != client.client_id {
                grants.revoke(&id).await?;
                return Err(invalid_grant());
            }
            if let Some(s) = form.get("scope") {
                if !s.split(' ').all(|x| g.has_scope(x)) {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        "more than the original grant",
                    ));
                }
            }
            (id, g)
        }
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "authorization_code or refresh_token",
            ))
        }
    };
    let Some(ident) = still_allowed(gw, &grant, &app.cfg.slug).await? else {
        grants.revoke(&grant_id).await?;
        return Err(invalid_grant());
    };
    issue(
        gw,
        client,
        &app.cfg.slug,
        &grants,
        &grant_id,
        &grant,
        &ident.identity,
    )
    .await
}

async fn issue(
    gw: &Gateway,
    client: &OidcClient,
    slug: &str,
    grants: &Grants<'_>,
    grant_id: &str,
    grant: &Grant,
    id: &crate::directory::model::Identity,
) -> OResult<Response> {
    let keys = gw
        .oidc
        .keys()
        .ok_or_else(|| OAuthError::new("server_error", "no signing key"))?;
    let now = crate::directory::now();
    let contact = if grant.has_scope("phone") || grant.has_scope("address") {
        gw.dir.contact(id.user_id).await?
    } else {
        None
    };
    let sid = sid_of(&grant.session);
    let claims = id_token(IdTokenInput {
        issuer: &gw.config.public_url,
        client_id: &client.client_id,
        now,
        ttl: client.id_token_ttl.as_secs() as i64,
        nonce: grant.nonce.as_deref(),
        assurance: &grant.assurance,
        sid: &sid,
        user: user_claims(id, slug, &grant.scopes, contact.as_ref()),
    });
    let id_token = keys
        .sign(client.id_token_alg, ID_TOKEN_TYP, &claims)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot sign an ID token");
            OAuthError::new("server_error", "cannot sign")
        })?;
    let access = grants
        .issue_access(grant_id, client.access_token_ttl)
        .await?;
    let mut body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": client.access_token_ttl.as_secs(),
        "id_token": id_token,
        "scope": grant.scopes.join(" "),
    });
    if client.offline_access && grant.has_scope("offline_access") {
        let refresh = grants
            .issue_refresh(grant_id, client.refresh_token_ttl)
            .await?;
        body["refresh_token"] = serde_json::Value::String(refresh);
    }
    if client.backchannel_logout_uri.is_some() {
        let entry = ClientSession {
            sid,
            client_id: client.client_id.clone(),
            sub: id.uid.clone(),
        };
        grants.remember_client(&entry, gw.sessions.absolute).await?;
        // A logout between the check of the session and this entry would not have seen it:
        // look again. The session gone, no tokens leave (and the entry is withdrawn, unless
        // the logout took it and notifies the client).
        if gw.sessions.peek_key(&grant.session).await?.is_none() {
            grants.take_client(&entry.sid, &entry.client_id).await?;
            grants.revoke(grant_id).await?;
            return Err(OAuthError::new(
                "invalid_grant",
                "the grant is invalid, expired or revoked",
            ));
        }
    }
    crate::telemetry::oidc_event("tokens_issued");
    let mut res = axum::Json(body).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}
