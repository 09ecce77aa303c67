//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an application sends the
//! browser here to end the portal session, then gets it back at one of its registered
//! post-logout URIs. Without an `id_token_hint` of the current session the user confirms first,
//! so that a link on another site cannot log them out; an unregistered post-logout URI, or a
//! hint the provider did not sign, stops on a French page and redirects nowhere.

use super::super::context::PortalRequest;
use super::super::error::{WebError, WebResult};
use super::super::set_cookie;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::oidc::claims::Hint;
use crate::oidc::grants::sid_of;
use crate::oidc::keys::ID_TOKEN_TYP;
use crate::oidc::params;
use askama::Template;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct ConfirmPage {
    l: crate::web::pages::Layout,
    app_name: String,
    fields: Vec<(String, String)>,
}

const BAD_LINK: &str = "Ce lien de déconnexion n'est pas valide : vous n'avez pas été redirigé. Revenez au portail pour vous déconnecter.";

pub async fn end_session(
    ctx: PortalRequest,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> WebResult<Response> {
    let gw = ctx.gw.clone();
    let raw: &[u8] = if method == Method::POST {
        &body
    } else {
        uri.query().unwrap_or("").as_bytes()
    };
    let bad = || WebError::BadRequest(BAD_LINK.into());
    let p = params::parse(raw).map_err(|_| bad())?;
    let issuer = &gw.config.public_url;
    let hint: Option<Hint> = match p.get("id_token_hint") {
        None => None,
        Some(t) => Some(
            gw.oidc
                .keys()
                .and_then(|k| k.verify_own::<Hint>(t, issuer, ID_TOKEN_TYP))
                .ok_or_else(bad)?,
        ),
    };
    let client_id = match (hint.as_ref().map(|h| &h.aud), p.get("client_id")) {
        (Some(a), Some(c)) if a != c => return Err(bad()),
        (Some(a), _) => Some(a.clone()),
        (None, c) => c.cloned(),
    };
    let routes = gw.routes();
    let app = client_id
        .as_deref()
        .and_then(|c| routes.app_by_client_id(c));
    if client_id.is_some() && app.is_none() {
        return Err(bad());
    }
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(u) => {
            let registered = app
                .and_then(|a| a.cfg.oidc.as_ref())
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == u));
            if !registered {
                crate::telemetry::oidc_event("logout_redirect_refused");
                return Err(bad());
            }
            let mut url = url::Url::parse(u).map_err(|_| bad())?;
            if let Some(s) = p.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
    };
    let mut headers = HeaderMap::new();
    if let Some(user) = &ctx.user {
        let sid = sid_of(&user.live.key);
        let hinted = hint.as_ref().is_some_and(|h| {
            h.sub == user.ident.identity.uid && h.sid.as_ref().is_none_or(|s| *s == sid)
        });
        let confirmed = method == Method::POST
            && p.contains_key("confirm")
            && ctx.csrf_ok(p.get("csrf").map(String::as_str).unwrap_or(""));
        if !hinted && !confirmed {
            let fields = [
                "id_token_hint",
                "client_id",
                "post_logout_redirect_uri",
                "state",
            ]
            .iter()
            .filter_map(|k| p.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
            let page = ConfirmPage {
                l: ctx.layout("Déconnexion"),
                app_name: app.map(|a| a.cfg.name.clone()).unwrap_or_default(),
                fields,
            };
            return Ok(Html(page.render()?).into_response());
        }
        gw.end_session(&user.live.key).await?;
        gw.dir
            .audit(AuditEvent {
                actor_id: Some(user.ident.identity.user_id),
                actor: &user.ident.identity.email,
                structure_id: Some(user.ident.identity.structure_id),
                client_ip: &ctx.ip,
                details: &format!(
                    "requested by OpenID Connect client {}",
                    client_id.as_deref().unwrap_or("?")
                ),
                ..AuditEvent::of(AuditAction::Logout)
            })
            .await?;
        headers.insert(
            header::SET_COOKIE,
            set_cookie(&gw, &gw.cookies.session, "", true, true),
        );
        crate::telemetry::oidc_event("rp_logout");
    }
    let location = target.unwrap_or_else(|| "/login?logged_out=1".to_string());
    headers.insert(
        header::LOCATION,
        location
            .parse()
            .map_err(|_| WebError::Internal("bad location".into()))?,
    );
    Ok((StatusCode::SEE_OTHER, headers).into_response())
}
