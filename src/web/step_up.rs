//! Confirming one's identity during a session (docs/security.md#step-up): before a sensitive
//! directory action when the last authentication is older than `security.reauth_minutes`
//! (or was made without the account's second factor), and before an application that
//! requires a second factor (`require_mfa`). The user confirms with the second factor when
//! the account has one, else with the password; the session keeps its token and gains a fresh
//! `auth_time` and the methods used. A sensitive form that triggered the confirmation is kept
//! server-side (session store, read once, bound to the session) and sent again afterwards, so
//! nothing typed is lost.

use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::factor_check::{self, Outcome, ProofForm};
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::session::{key_of, SessionRecord};
use crate::state::Gateway;
use askama::Template;
use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const PATH: &str = crate::proxy::routes::STEP_UP_PATH;
/// How long a kept form waits for the confirmation.
const REPLAY_TTL: Duration = Duration::from_secs(15 * 60);
/// Largest form kept for replay.
const REPLAY_MAX: usize = 64 * 1024;

/// True when the session's authentication is recent enough for a sensitive action: within
/// `security.reauth_minutes`, and with the second factor if the account has one.
pub fn is_recent(gw: &Gateway, rec: &SessionRecord, has_factor: bool, now: i64) -> bool {
    let a = rec.assurance.or_password(rec.created_at);
    now - a.auth_time <= gw.config.second_factor.reauth.as_secs() as i64
        && (!has_factor || a.has_second_factor())
}

/// A form kept while the user confirms their identity.
#[derive(Serialize, Deserialize)]
struct Replay {
    session: String,
    action: String,
    body: String,
}

/// Where to confirm: for a `GET` (an export), come back to it; for a form, keep it and send it
/// again once confirmed. The error redirects there.
pub async fn confirmation_needed(req: &PortalRequest, form: Option<&[u8]>) -> WebResult<WebError> {
    let path = req.path_and_query.clone();
    let mut url = confirm_url(&path);
    if let (Some(body), Some(user)) = (form, &req.user) {
        let body = std::str::from_utf8(body).unwrap_or_default();
        if body.len() <= REPLAY_MAX && path.starts_with("/aia/") {
            let id = crate::auth::random_token();
            let replay = Replay {
                session: hex(&user.live.key),
                action: path.clone(),
                body: body.to_string(),
            };
            let json =
                serde_json::to_string(&replay).map_err(|e| WebError::Internal(e.to_string()))?;
            req.gw
                .sessions
                .store
                .put_once(replay_key(&user.live.key, &id), json, REPLAY_TTL)
                .await?;
            // After confirming, the user comes back to the page that holds the form's list.
            url = format!("{PATH}?return_to={}&reprise={id}", enc("/aia"));
        }
    }
    Ok(WebError::ConfirmIdentity(url))
}

/// A kept form is stored under its session and its id: another session finds nothing there.
fn replay_key(session: &crate::session::SessionKey, id: &str) -> crate::session::SessionKey {
    key_of(&format!("replay:{}:{id}", hex(session)))
}

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn hex(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the session behind `req` authenticated recently enough for a sensitive action.
pub async fn recent(req: &PortalRequest) -> WebResult<bool> {
    let user = req.require_user()?;
    let uid = user.ident.identity.user_id;
    let has_factor = crate::second_factor::has_factor(&req.gw, uid).await?;
    Ok(is_recent(
        &req.gw,
        &user.live.record,
        has_factor,
        crate::directory::now(),
    ))
}

/// Checks that the session behind `req` is recent enough; otherwise the error that sends the
/// user to confirm (keeping `form`, the request's body, when there is one).
pub async fn require_recent(req: &PortalRequest, form: Option<&[u8]>) -> WebResult<()> {
    if recent(req).await? {
        return Ok(());
    }
    Err(confirmation_needed(req, form).await?)
}

/// The confirmation page, then back to `return_to`.
pub fn confirm_url(return_to: &str) -> String {
    format!("{PATH}?return_to={}", enc(return_to))
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    l: super::pages::Layout,
    error: Option<String>,
    return_to: String,
    reprise: String,
    offer_code: bool,
    offer_passkey: bool,
    /// No factor: the password confirms.
    offer_password: bool,
    /// An application requires a second factor the account does not have.
    enrol_first: bool,
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage {
    l: super::pages::Layout,
    action: String,
    fields: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct ConfirmQuery {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    reprise: String,
    /// Set by the proxy for an application that requires a second factor.
    #[serde(default)]
    mfa: String,
}

async fn page(
    ctx: &PortalRequest,
    q: &ConfirmQuery,
    status: StatusCode,
    error: Option<String>,
) -> WebResult<Response> {
    let user = ctx.require_user()?;
    let uid = user.ident.identity.user_id;
    let offer = factor_check::offer(ctx, uid).await?;
    let has_factor = crate::second_factor::has_factor(&ctx.gw, uid).await?;
    let html = ConfirmPage {
        l: ctx.layout("Confirmez votre identité"),
        error,
        return_to: q.return_to.clone(),
        reprise: q.reprise.clone(),
        offer_code: offer.code,
        offer_passkey: offer.passkey,
        offer_password: !has_factor,
        enrol_first: !has_factor && !q.mfa.is_empty(),
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

fn to_login(ctx: &PortalRequest) -> Response {
    Redirect::to(&format!("/login?return_to={}", enc(&ctx.path_and_query))).into_response()
}

pub async fn form(ctx: PortalRequest, Query(q): Query<ConfirmQuery>) -> WebResult<Response> {
    if ctx.user.is_none() {
        return Ok(to_login(&ctx));
    }
    page(&ctx, &q, StatusCode::OK, None).await
}

/// The options of a passkey authentication for the signed-in user (JSON).
pub async fn passkey_options(ctx: PortalRequest, Form(f): Form<ProofForm>) -> WebResult<Response> {
    let Some(user) = &ctx.user else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    if !ctx.csrf_ok(&f.csrf) {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    }
    factor_check::passkey_options(&ctx, user.ident.identity.user_id).await
}

#[derive(Deserialize, Default)]
pub struct ConfirmForm {
    #[serde(flatten)]
    proof: ProofForm,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    reprise: String,
}

pub async fn submit(ctx: PortalRequest, Form(f): Form<ConfirmForm>) -> WebResult<Response> {
    let Some(user) = &ctx.user else {
        return Ok(to_login(&ctx));
    };
    let q = ConfirmQuery {
        return_to: f.return_to.clone(),
        reprise: f.reprise.clone(),
        mfa: String::new(),
    };
    if !ctx.csrf_ok(&f.proof.csrf) {
        let msg = "Le formulaire a expiré. Recommencez.";
        return page(&ctx, &q, StatusCode::BAD_REQUEST, Some(msg.into())).await;
    }
    let id = user.ident.identity.clone();
    let gw = &ctx.gw;
    let now = crate::directory::now();
    let previous = user
        .live
        .record
        .assurance
        .or_password(user.live.record.created_at);
    let assurance = if crate::second_factor::has_factor(gw, id.user_id).await? {
        match factor_check::check(&ctx, id.user_id, &id.email, &f.proof).await? {
            Outcome::Accepted(method) => previous.confirmed(now, method.amr(), true),
            Outcome::Refused(status, msg) => return page(&ctx, &q, status, Some(msg)).await,
        }
    } else {
        match check_password(&ctx, &id, &f.password).await? {
            Ok(()) => previous.confirmed(now, None, false),
            Err((status, msg)) => return page(&ctx, &q, status, Some(msg)).await,
        }
    };
    gw.sessions.reassure(&user.live.key, assurance).await?;
    gw.dir.login_succeeded(&id.email).await?;
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(id.user_id),
            actor: &id.email,
            structure_id: Some(id.structure_id),
            client_ip: &ctx.ip,
            ..AuditEvent::of(AuditAction::IdentityConfirmed)
        })
        .await?;
    if let Some(replay) = take_replay(&ctx, &f.reprise).await? {
        let fields = form_urlencoded::parse(replay.body.as_bytes())
            .into_owned()
            .collect();
        let html = ContinuePage {
            l: ctx.layout("Identité confirmée"),
            action: replay.action,
            fields,
        }
        .render()?;
        return Ok(Html(html).into_response());
    }
    let back = gw
        .routes()
        .validate_return(&f.return_to)
        .unwrap_or_else(|| "/".to_string());
    Ok(Redirect::to(&back).into_response())
}

/// The kept form, if it belongs to this session.
async fn take_replay(ctx: &PortalRequest, id: &str) -> WebResult<Option<Replay>> {
    let Some(user) = &ctx.user else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(json) = ctx
        .gw
        .sessions
        .store
        .take_once(&replay_key(&user.live.key, id))
        .await?
    else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Replay>(&json)
        .ok()
        .filter(|r| r.session == hex(&user.live.key) && r.action.starts_with("/aia/")))
}

/// The password of the signed-in account, under the login's brute-force protections.
async fn check_password(
    ctx: &PortalRequest,
    id: &crate::directory::model::Identity,
    password: &str,
) -> WebResult<Result<(), (StatusCode, String)>> {
    let gw = &ctx.gw;
    // A structure that turned password sign-in off: the password confirms nothing; signing in
    // again at the provider gives a fresh authentication.
    if gw.password_refused(id.user_id).await? {
        let msg = format!(
            "{} Déconnectez-vous, puis reconnectez-vous de cette façon.",
            super::password_policy::refused(gw)
        );
        return Ok(Err((StatusCode::FORBIDDEN, msg)));
    }
    if gw.ip_blocked(&ctx.ip) || gw.dir.login_wait(&id.email).await? > 0 {
        return Ok(Err((
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives infructueuses. Patientez avant de réessayer.".into(),
        )));
    }
    if password.len() > 1024 {
        return Ok(Err((
            StatusCode::UNAUTHORIZED,
            "Mot de passe incorrect.".into(),
        )));
    }
    let hash = gw
        .dir
        .find_login(&id.email)
        .await?
        .and_then(|r| r.password_hash);
    if crate::auth::password::verify(password.to_string(), hash).await {
        return Ok(Ok(()));
    }
    gw.dir.login_failed(&id.email, &gw.config.throttle).await?;
    gw.ip_failed(&ctx.ip);
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(id.user_id),
            actor: &id.email,
            client_ip: &ctx.ip,
            details: "wrong password when confirming identity",
            ..AuditEvent::of(AuditAction::LoginFailed)
        })
        .await?;
    Ok(Err((
        StatusCode::UNAUTHORIZED,
        "Mot de passe incorrect.".into(),
    )))
}
