//! "Sessions et connexions" (docs/security.md#sessions), reached from "Sécurité du compte": the
//! user's live sessions (browser and system read from the user agent, address, start, last
//! activity, the current one marked), each with "Déconnecter", "Déconnecter toutes les autres
//! sessions", and the last sign-ins with their failures.
//!
//! A session appears under an opaque id ([`crate::session::listing_id`]); an action looks the id
//! up among the signed-in user's own sessions only, so an id of someone else's session, or a
//! made-up one, ends nothing. Ending a session goes through [`Gateway::end_session`]: on every
//! instance, as a logout.
//!
//! [`Gateway::end_session`]: crate::state::Gateway::end_session

use super::account_access::{AccountAction, AccountPage};
use super::account_events::{method_label, reason_label};
use super::aia::extract::{CsrfOnly, CsrfProtected};
use super::context::PortalRequest;
use super::error::WebResult;
use crate::auth::user_agent::describe;
use crate::directory::audit_action::AuditAction;
use crate::session::{listing_id, Live};
use askama::Template;
use axum::extract::Query;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

pub const PATH: &str = "/aia/profil/sessions";

pub struct SessionRow {
    pub id: String,
    pub browser: String,
    pub system: String,
    pub ip: String,
    pub started: String,
    pub last_seen: String,
    pub current: bool,
}

pub struct SignInRow {
    pub at: String,
    pub success: bool,
    pub method: &'static str,
    pub reason: &'static str,
    pub ip: String,
    pub agent: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    l: super::pages::Layout,
    notice: Option<String>,
    error: Option<String>,
    sessions: Vec<SessionRow>,
    others: usize,
    sign_ins: Vec<SignInRow>,
    retention_days: i64,
    /// "heure de Paris": what the times are in.
    zone: String,
}

fn row(ctx: &PortalRequest, live: &Live, current: &crate::session::SessionKey) -> SessionRow {
    let agent = describe(&live.record.user_agent);
    SessionRow {
        id: listing_id(&ctx.gw.secret, &live.key),
        browser: agent.browser,
        system: agent.system,
        ip: live.record.client_ip.clone(),
        started: super::aia::fmt_ts(live.record.created_at, &ctx.gw.config.time_zone),
        last_seen: super::aia::fmt_ts(live.record.last_seen, &ctx.gw.config.time_zone),
        current: &live.key == current,
    }
}

async fn render(
    ctx: &PortalRequest,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> WebResult<Response> {
    let user = ctx.require_user()?;
    let uid = user.ident.identity.user_id;
    let live = ctx.gw.sessions.list_user(uid).await?;
    let mut sessions: Vec<SessionRow> = live.iter().map(|l| row(ctx, l, &user.live.key)).collect();
    // The current session first, then the others by last activity.
    sessions.sort_by_key(|s| !s.current);
    let others = sessions.iter().filter(|s| !s.current).count();
    let sign_ins = ctx
        .gw
        .dir
        .recent_sign_ins(uid)
        .await?
        .into_iter()
        .map(|s| SignInRow {
            at: super::aia::fmt_ts(s.at, &ctx.gw.config.time_zone),
            success: s.success,
            method: method_label(&s.method),
            reason: reason_label(&s.reason),
            ip: s.client_ip,
            agent: s.agent,
        })
        .collect();
    let html = SessionsPage {
        l: ctx.layout("Sessions et connexions"),
        notice,
        error,
        sessions,
        others,
        sign_ins,
        retention_days: crate::directory::sign_ins::RETENTION_DAYS,
        zone: super::french::zone_label(&ctx.gw.config.time_zone),
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

#[derive(Deserialize, Default)]
pub struct Flash {
    #[serde(default)]
    ok: String,
}

pub async fn page(AccountPage(ctx): AccountPage, Query(q): Query<Flash>) -> WebResult<Response> {
    let notice = match q.ok.as_str() {
        "une" => Some("La session a été déconnectée.".to_string()),
        "autres" => Some("Toutes vos autres sessions ont été déconnectées.".to_string()),
        _ => None,
    };
    render(&ctx, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

impl CsrfProtected for EndForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The per-address quota of self-service requests, checked by every action of this page after
/// its extractor (signed in, CSRF token). `Err` holds the answer to give instead.
async fn within_quota(ctx: &PortalRequest) -> WebResult<Result<(), Response>> {
    if !ctx.gw.ip_allowed(&ctx.ip) {
        let msg =
            "Trop de demandes depuis votre connexion. Patientez une minute avant de réessayer.";
        return Ok(Err(render(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(msg.into()),
        )
        .await?));
    }
    Ok(Ok(()))
}

async fn audit(ctx: &PortalRequest, action: AuditAction, details: &str) -> WebResult<()> {
    let id = &ctx.require_user()?.ident.identity;
    super::account_events::audit_own(ctx, id, action, details).await
}

/// "Déconnecter" on one session of the list.
pub async fn end_one(
    AccountAction(AccountPage(ctx), f): AccountAction<EndForm>,
) -> WebResult<Response> {
    if let Err(r) = within_quota(&ctx).await? {
        return Ok(r);
    }
    let user = ctx.require_user()?;
    let uid = user.ident.identity.user_id;
    let presented = f.id.trim();
    let found = if presented.is_empty() || presented.len() > 64 {
        None
    } else {
        ctx.gw.sessions.list_user(uid).await?.into_iter().find(|l| {
            subtle::ConstantTimeEq::ct_eq(
                listing_id(&ctx.gw.secret, &l.key).as_bytes(),
                presented.as_bytes(),
            )
            .into()
        })
    };
    let Some(target) = found else {
        let msg =
            "Cette session n'existe plus ou ne vous appartient pas : rien n'a été déconnecté.";
        return render(&ctx, StatusCode::NOT_FOUND, None, Some(msg.into())).await;
    };
    ctx.gw.end_session(&target.key).await?;
    let agent = describe(&target.record.user_agent).label();
    audit(
        &ctx,
        AuditAction::SessionEnded,
        &format!("by the user: {agent}"),
    )
    .await?;
    if target.key == user.live.key {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SET_COOKIE,
            super::set_cookie(&ctx.gw, &ctx.gw.cookies.session, "", true, true),
        );
        headers.insert(
            header::LOCATION,
            header::HeaderValue::from_static("/login?logged_out=1"),
        );
        return Ok((StatusCode::SEE_OTHER, headers).into_response());
    }
    Ok(Redirect::to(&format!("{PATH}?ok=une")).into_response())
}

/// "Déconnecter toutes les autres sessions": every session of the user but this one.
pub async fn end_others(
    AccountAction(AccountPage(ctx), _): AccountAction<CsrfOnly>,
) -> WebResult<Response> {
    if let Err(r) = within_quota(&ctx).await? {
        return Ok(r);
    }
    let user = ctx.require_user()?;
    let uid = user.ident.identity.user_id;
    let mut n = 0;
    for l in ctx.gw.sessions.list_user(uid).await? {
        if l.key != user.live.key {
            ctx.gw.end_session(&l.key).await?;
            n += 1;
        }
    }
    audit(
        &ctx,
        AuditAction::SessionsEnded,
        &format!("by the user: {n} other sessions"),
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}?ok=autres")).into_response())
}
