//! The second step of the login (docs/security.md#second-factor): once the password is right,
//! an account with a second factor is asked for a code before any session exists. The state in
//! between lives in a sealed, short-lived, host-only cookie, so that any instance can finish the
//! login; the brute-force protections of the password (growing delay per account, pause per
//! address) count the codes too.

use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::factor_check::{Outcome, ProofForm};
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::second_factor::Method;
use crate::session::Assurance;
use askama::Template;
use axum::extract::Form;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

/// How long the second step may take after the password.
const PENDING_SECONDS: i64 = 5 * 60;
const PENDING_AAD: &[u8] = b"pending-login";

#[derive(Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    email: String,
    return_to: String,
    expires: i64,
    /// Set when the first step was a sign-in at an identity provider whose level does not
    /// count as a second factor (docs/identity-providers.md#second-factor).
    #[serde(default)]
    provider: Option<crate::session::ProviderLogin>,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    l: super::pages::Layout,
    error: Option<String>,
    offer_code: bool,
    offer_passkey: bool,
}

fn read_pending(ctx: &PortalRequest, headers: &HeaderMap) -> Option<Pending> {
    let raw = super::context::cookie_value(headers, &ctx.gw.cookies.pending_login)?;
    let plain = ctx.gw.factor_keys.open(&raw, PENDING_AAD)?;
    let p: Pending = serde_json::from_slice(&plain).ok()?;
    (p.expires > crate::directory::now()).then_some(p)
}

fn pending_cookie(ctx: &PortalRequest, value: &str, clear: bool) -> HeaderValue {
    let mut c = cookie::Cookie::new(ctx.gw.cookies.pending_login.clone(), value.to_string());
    c.set_http_only(true);
    c.set_same_site(cookie::SameSite::Lax);
    c.set_path("/");
    c.set_secure(ctx.gw.is_tls());
    c.set_max_age(cookie::time::Duration::seconds(if clear {
        0
    } else {
        PENDING_SECONDS
    }));
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// After a right password for an account with a second factor: remember who is logging in
/// (sealed, five minutes) and ask for the code.
pub fn ask(ctx: &PortalRequest, user_id: i64, email: &str, return_to: &str) -> WebResult<Response> {
    ask_after(ctx, user_id, email, return_to, None)
}

/// [`ask`], after a first step at an identity provider.
pub fn ask_after(
    ctx: &PortalRequest,
    user_id: i64,
    email: &str,
    return_to: &str,
    provider: Option<crate::session::ProviderLogin>,
) -> WebResult<Response> {
    let pending = Pending {
        user_id,
        email: email.to_string(),
        return_to: return_to.to_string(),
        expires: crate::directory::now() + PENDING_SECONDS,
        provider,
    };
    let json = serde_json::to_vec(&pending).map_err(|e| WebError::Internal(e.to_string()))?;
    let sealed = ctx.gw.factor_keys.seal(&json, PENDING_AAD);
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, pending_cookie(ctx, &sealed, false));
    headers.insert(
        header::LOCATION,
        HeaderValue::from_static("/login/verification"),
    );
    Ok((StatusCode::SEE_OTHER, headers).into_response())
}

async fn page(
    mut ctx: PortalRequest,
    pending: &Pending,
    status: StatusCode,
    error: Option<String>,
) -> WebResult<Response> {
    let mut headers = HeaderMap::new();
    ctx.ensure_csrf_cookie(&mut headers);
    let offer = super::factor_check::offer(&ctx, pending.user_id).await?;
    let html = SecondFactorPage {
        l: ctx.layout("Vérification en deux étapes"),
        error,
        offer_code: offer.code,
        offer_passkey: offer.passkey,
    }
    .render()?;
    Ok((status, headers, Html(html)).into_response())
}

pub async fn form(ctx: PortalRequest, headers: HeaderMap) -> WebResult<Response> {
    let Some(pending) = read_pending(&ctx, &headers) else {
        return Ok(Redirect::to("/login?expired=1").into_response());
    };
    page(ctx, &pending, StatusCode::OK, None).await
}

/// The options of a passkey authentication for the account being signed in (JSON, for the
/// page's script).
pub async fn passkey_options(
    ctx: PortalRequest,
    headers: HeaderMap,
    Form(f): Form<ProofForm>,
) -> WebResult<Response> {
    let Some(pending) = read_pending(&ctx, &headers) else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    if !ctx.csrf_ok(&f.csrf) {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    }
    super::factor_check::passkey_options(&ctx, pending.user_id).await
}

/// A code or a passkey's answer.
pub async fn submit(
    ctx: PortalRequest,
    headers: HeaderMap,
    Form(f): Form<ProofForm>,
) -> WebResult<Response> {
    let Some(pending) = read_pending(&ctx, &headers) else {
        return Ok(Redirect::to("/login?expired=1").into_response());
    };
    if !ctx.csrf_ok(&f.csrf) {
        let msg = "Le formulaire a expiré. Recommencez la vérification.";
        return page(ctx, &pending, StatusCode::BAD_REQUEST, Some(msg.into())).await;
    }
    match super::factor_check::check(&ctx, pending.user_id, &pending.email, &f).await? {
        Outcome::Accepted(method) => finish(&ctx, &pending, method).await,
        Outcome::Refused(status, msg) => page(ctx, &pending, status, Some(msg)).await,
    }
}

/// The second factor is right: audits a recovery code's use, then opens the session.
async fn finish(ctx: &PortalRequest, pending: &Pending, method: Method) -> WebResult<Response> {
    let gw = &ctx.gw;
    let now = crate::directory::now();
    // The account may have been locked or have expired since the password step.
    let ident = gw.identities.get(&gw.dir, pending.user_id).await?;
    let Some(ident) = ident.filter(|i| i.identity.is_usable(&crate::directory::today())) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let id = &ident.identity;
    let details = match method {
        Method::Totp => "second factor: authenticator code",
        Method::RecoveryCode => "second factor: recovery code",
        Method::Passkey { .. } => "second factor: passkey or security key",
    };
    if method == Method::RecoveryCode {
        let left = gw.dir.recovery_codes_left(id.user_id).await?;
        gw.dir
            .audit(AuditEvent {
                actor_id: Some(id.user_id),
                actor: &id.email,
                target: &id.email,
                structure_id: Some(id.structure_id),
                client_ip: &ctx.ip,
                ..AuditEvent::of(AuditAction::RecoveryCodeUsed)
            })
            .await?;
        let what = format!(
            "Un code de secours vient d'être utilisé pour vous connecter au portail Convergences. Il vous en reste {left}."
        );
        crate::second_factor::notify(gw, &id.email, &id.first_name, &what).await;
    }
    let clear = [pending_cookie(ctx, "", true)];
    super::sign_in::open_session(
        ctx,
        id,
        super::sign_in::SignIn {
            assurance: Assurance::second_factor(now, method.amr()),
            details,
            return_to: &pending.return_to,
            extra: &clear,
            provider: pending.provider.clone(),
            method: super::account_events::method_of(method),
        },
    )
    .await
}
