//! The last step of every sign-in (password alone, second step, password set from a link):
//! the session the browser came with ends (fixation), the second-factor policy is applied
//! (docs/security.md#second-factor-policy), the new session is opened with its assurance, the
//! login is recorded and audited, and the browser goes where it was going — or to the
//! enrolment page when the policy's grace period is over.

use super::context::PortalRequest;
use super::error::WebResult;
use super::set_cookie;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::directory::model::Identity;
use crate::second_factor::policy::{self, Standing};
use crate::session::{Assurance, ProviderLogin};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where the policy sends an account whose grace period is over.
pub const ENROLMENT_PAGE: &str = crate::proxy::routes::ENROLMENT_PATH;

/// How a sign-in ended, beside who signed in.
pub struct SignIn<'a> {
    pub assurance: Assurance,
    /// For the journal ("second factor: ...", "provider: ...").
    pub details: &'a str,
    pub return_to: &'a str,
    /// Cookies to add (e.g. clearing the pending login).
    pub extra: &'a [HeaderValue],
    /// The identity provider that signed the user in, to log out there too.
    pub provider: Option<ProviderLogin>,
    /// How, for the sign-in history (`account_events::PASSWORD`...).
    pub method: &'static str,
}

/// Opens the session and answers with the cookies and the redirect.
pub async fn open_session(
    ctx: &PortalRequest,
    id: &Identity,
    s: SignIn<'_>,
) -> WebResult<Response> {
    let SignIn {
        assurance,
        details,
        return_to,
        extra,
        provider,
        method,
    } = s;
    let gw = &ctx.gw;
    let now = crate::directory::now();
    gw.dir.login_succeeded(&id.email).await?;
    if let Some(old) = &ctx.session_token {
        gw.end_session(&crate::session::key_of(old)).await?;
    }
    let enrol_by = match policy::standing(gw, id.user_id, id.platform_admin, now).await? {
        Standing::Free => None,
        Standing::EnrolBy(t) => Some(t),
    };
    let token = gw
        .sessions
        .create_with(
            id.user_id,
            &ctx.ip,
            &ctx.user_agent,
            assurance,
            enrol_by,
            provider,
        )
        .await?;
    crate::telemetry::login(true);
    crate::telemetry::sessions_created();
    // Before record_login, which it reads to tell a first sign-in.
    let browser = super::account_events::succeeded(ctx, id, method).await?;
    gw.dir.record_login(id.user_id).await?;
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(id.user_id),
            actor: &id.email,
            structure_id: Some(id.structure_id),
            client_ip: &ctx.ip,
            details,
            ..AuditEvent::of(AuditAction::Login)
        })
        .await?;
    let mut headers = HeaderMap::new();
    headers.append(
        header::SET_COOKIE,
        set_cookie(gw, &gw.cookies.session, &token, true, false),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(gw, &gw.cookies.csrf, "", false, true),
    );
    headers.append(header::SET_COOKIE, browser);
    for c in extra {
        headers.append(header::SET_COOKIE, c.clone());
    }
    let destination = if enrol_by.is_some_and(|t| now >= t) {
        ENROLMENT_PAGE.to_string()
    } else {
        gw.routes()
            .validate_return(return_to)
            .unwrap_or_else(|| "/".to_string())
    };
    // A validated destination is always a valid header value; the portal is the fallback.
    headers.insert(
        header::LOCATION,
        destination
            .parse()
            .unwrap_or_else(|_| HeaderValue::from_static("/")),
    );
    Ok((StatusCode::SEE_OTHER, headers).into_response())
}
