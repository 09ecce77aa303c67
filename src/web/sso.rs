//! First half of the single sign-on handshake (docs/gateway.md#sso-handshake), on the portal:
//! an application host without the portal's cookie sends the browser here; with a session, the
//! browser goes back with a one-time code; without one, it logs in first.

use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use crate::proxy::routes::CALLBACK_PATH;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    #[serde(default)]
    app: String,
    #[serde(default)]
    return_to: String,
    /// The browser binding from the application host (see `session::browser_binding`).
    #[serde(default)]
    hs: String,
}

pub async fn authorize(ctx: PortalRequest, Query(q): Query<AuthorizeQuery>) -> WebResult<Response> {
    let gw = &ctx.gw;
    let bad = || {
        WebError::BadRequest(
            "Ce lien de connexion n'est pas valide. Repassez par le portail.".into(),
        )
    };
    let routes = gw.routes();
    let app = routes.app_by_slug(&q.app).ok_or_else(bad)?;
    let wanted = routes.validate_return(&q.return_to).ok_or_else(bad)?;
    let target = routes.app_of_url(&wanted).ok_or_else(bad)?;
    if target.idx != app.idx {
        return Err(bad());
    }
    let browser: crate::session::SessionKey = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(q.hs.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?
    };
    let Some(user) = &ctx.user else {
        let here = format!(
            "/sso/authorize?app={}&return_to={}&hs={}",
            form_urlencoded::byte_serialize(q.app.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(wanted.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(q.hs.as_bytes()).collect::<String>()
        );
        let login = format!(
            "/login?return_to={}",
            form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        );
        return Ok(Redirect::to(&login).into_response());
    };
    let code = gw
        .sessions
        .issue_code(user.live.key, &app.cfg.slug, browser)
        .await?;
    let path_and_query = url::Url::parse(&wanted)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
        .unwrap_or_else(|_| "/".into());
    let location = format!(
        "{}{CALLBACK_PATH}?code={code}&return_to={}",
        app.origin,
        form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect::<String>()
    );
    Ok(Redirect::to(&location).into_response())
}
