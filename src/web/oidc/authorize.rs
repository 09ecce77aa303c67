//! The authorization endpoint (OpenID Connect Core section 3.1.2): checks the request, has the
//! user sign in when needed, applies the proxy's authorisation rule (a role on the
//! application) and second-factor rule (`acr_values`, `require_mfa`), and sends the browser
//! back to the client with a one-time code.

use super::super::context::PortalRequest;
use super::super::error::{WebError, WebResult};
use crate::oidc::claims::Hint;
use crate::oidc::grants::{CodeRecord, Grant, Grants};
use crate::oidc::keys::ID_TOKEN_TYP;
use crate::oidc::params;
use crate::oidc::request::{self, AuthError, Prompt};
use axum::body::Bytes;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

fn found(location: &str) -> WebResult<Response> {
    let v = header::HeaderValue::from_str(location)
        .map_err(|_| WebError::Internal("unencodable redirect".into()))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, v)]).into_response())
}

/// `redirect_uri` (registered, hence a valid URL) with the answer's parameters added.
fn answer(redirect_uri: &str, pairs: &[(&str, &str)]) -> WebResult<Response> {
    let mut u = url::Url::parse(redirect_uri)
        .map_err(|_| WebError::Internal("registered redirect_uri does not parse".into()))?;
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    found(u.as_str())
}

/// An error for the client, at its (checked) redirect URI.
fn refuse(
    req: &request::AuthRequest,
    issuer: &str,
    error: &'static str,
    description: &str,
) -> WebResult<Response> {
    crate::telemetry::oidc_event(error);
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = &req.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    answer(&req.redirect_uri, &pairs)
}

/// GET, or POST with the parameters as a form (OpenID Connect Core section 3.1.2.1).
pub async fn authorize(
    ctx: PortalRequest,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> WebResult<Response> {
    let gw = ctx.gw.clone();
    let issuer = gw.config.public_url.clone();
    let raw: &[u8] = if method == Method::POST {
        &body
    } else {
        uri.query().unwrap_or("").as_bytes()
    };
    let p = params::parse(raw).map_err(|_| {
        WebError::BadRequest("La demande de connexion de l'application est invalide.".into())
    })?;
    let routes = gw.routes();
    let app = p.get("client_id").and_then(|c| routes.app_by_client_id(c));
    let req = match request::validate(&p, app.and_then(|a| a.cfg.oidc.as_ref())) {
        Ok(r) => r,
        Err(AuthError::Page(m)) => {
            crate::telemetry::oidc_event("authorization_refused");
            return Err(WebError::BadRequest(m.into()));
        }
        Err(AuthError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        }) => {
            crate::telemetry::oidc_event(error);
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(s) = &state {
                pairs.push(("state", s));
            }
            pairs.push(("iss", &issuer));
            return answer(&redirect_uri, &pairs);
        }
    };
    let Some(app) = app else {
        return Err(WebError::BadRequest(request::UNKNOWN_CLIENT.into()));
    };
    // An ID token this provider issued (to any client, even expired) naming the user the
    // client expects (OpenID Connect Core section 3.1.2.1).
    let hint = match p.get("id_token_hint") {
        None => None,
        Some(t) => match gw
            .oidc
            .keys()
            .and_then(|k| k.verify_own::<Hint>(t, &issuer, ID_TOKEN_TYP))
        {
            Some(h) => Some(h),
            None => {
                return refuse(
                    &req,
                    &issuer,
                    "invalid_request",
                    "id_token_hint is not an ID token of this provider",
                )
            }
        },
    };
    let now = crate::directory::now();
    let signed_in = ctx.user.as_ref().map(|u| {
        let a = u
            .live
            .record
            .assurance
            .or_password(u.live.record.created_at);
        (u, a)
    });
    let fresh = signed_in
        .as_ref()
        .filter(|(_, a)| !req.needs_login(a.auth_time, now));
    let Some((user, assurance)) = fresh else {
        if req.prompt == Prompt::None {
            return refuse(&req, &issuer, "login_required", "the user is not signed in");
        }
        // A signed-in user asked to sign in again comes back with a session at least this
        // recent; an anonymous one simply signs in.
        let reauth = signed_in.is_some();
        let back = req.return_path(reauth.then_some(now));
        let mut login = format!(
            "/login?return_to={}",
            form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        if reauth {
            login.push_str("&reauth=1");
        }
        if let Some(h) = &req.login_hint {
            login.push_str("&login_hint=");
            login.extend(form_urlencoded::byte_serialize(h.as_bytes()));
        }
        return found(&login);
    };
    let id = &user.ident.identity;
    if hint.as_ref().is_some_and(|h| h.sub != id.uid) {
        // Another person is signed in here than the one the client expects: no code for them.
        return refuse(
            &req,
            &issuer,
            "login_required",
            "the signed-in user is not the one of id_token_hint",
        );
    }
    if !id.has_app(&app.cfg.slug) {
        crate::telemetry::oidc_event("access_denied");
        return Err(WebError::Forbidden);
    }
    // The level asked for (acr_values, or the application's require_mfa) is reached only by
    // the session itself: without a second factor, the user confirms one first
    // (docs/oidc-provider.md#acr).
    if req.needs_second_factor(app.cfg.require_mfa) && !assurance.has_second_factor() {
        if req.prompt == Prompt::None {
            return refuse(
                &req,
                &issuer,
                "login_required",
                "the requested authentication level needs a second factor",
            );
        }
        crate::telemetry::oidc_event("second_factor_asked");
        let back = req.return_path(None);
        return found(&format!(
            "{}&mfa=1",
            super::super::step_up::confirm_url(&back)
        ));
    }
    let store = gw.sessions.store.as_ref();
    let grants = Grants(store);
    let remaining =
        (user.live.record.created_at + gw.sessions.absolute.as_secs() as i64 - now).max(1);
    let grant = grants
        .create(
            &Grant {
                client_id: req.client_id.clone(),
                session: user.live.key,
                user_id: id.user_id,
                scopes: req.scopes.clone(),
                nonce: req.nonce.clone(),
                assurance: assurance.clone(),
            },
            std::time::Duration::from_secs(remaining as u64),
        )
        .await?;
    let code = grants
        .issue_code(&CodeRecord {
            grant,
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
        })
        .await?;
    crate::telemetry::oidc_event("code_issued");
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &issuer));
    answer(&req.redirect_uri, &pairs)
}
