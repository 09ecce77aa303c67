//! The second step of the login (docs/security.md#second-factor): once the password is right,
//! an account with a second factor is asked for a code before any session exists. The state in
//! between lives in a sealed, short-lived, host-only cookie, so that any instance can finish the
//! login; the brute-force protections of the password (growing delay per account, pause per
//! address) count the codes too.

use super::account_events;
use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::set_cookie;
use crate::directory::audit::AuditEvent;
use crate::second_factor::{CodeCheck, Method};
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
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    l: super::pages::Layout,
    error: Option<String>,
}

fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|s| cookie::Cookie::split_parse(s.to_string()).flatten())
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

fn read_pending(ctx: &PortalRequest, headers: &HeaderMap) -> Option<Pending> {
    let raw = cookie_of(headers, &ctx.gw.cookies.pending_login)?;
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
    let pending = Pending {
        user_id,
        email: email.to_string(),
        return_to: return_to.to_string(),
        expires: crate::directory::now() + PENDING_SECONDS,
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

fn page(mut ctx: PortalRequest, status: StatusCode, error: Option<String>) -> WebResult<Response> {
    let mut headers = HeaderMap::new();
    ctx.ensure_csrf_cookie(&mut headers);
    let html = SecondFactorPage {
        l: ctx.layout("Vérification en deux étapes"),
        error,
    }
    .render()?;
    Ok((status, headers, Html(html)).into_response())
}

pub async fn form(ctx: PortalRequest, headers: HeaderMap) -> WebResult<Response> {
    if read_pending(&ctx, &headers).is_none() {
        return Ok(Redirect::to("/login?expired=1").into_response());
    }
    page(ctx, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn submit(
    ctx: PortalRequest,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> WebResult<Response> {
    let Some(pending) = read_pending(&ctx, &headers) else {
        return Ok(Redirect::to("/login?expired=1").into_response());
    };
    if !ctx.csrf_ok(&f.csrf) {
        let msg = "Le formulaire a expiré. Saisissez à nouveau le code.";
        return page(ctx, StatusCode::BAD_REQUEST, Some(msg.into()));
    }
    let gw = ctx.gw.clone();
    if f.code.len() > 64 {
        return page(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Code incorrect.".into()),
        );
    }
    if gw.ip_blocked(&ctx.ip) {
        crate::telemetry::login(false);
        let msg =
            "Trop de tentatives depuis votre connexion. Patientez une minute avant de réessayer.";
        return page(ctx, StatusCode::TOO_MANY_REQUESTS, Some(msg.into()));
    }
    let wait = gw.dir.login_wait(&pending.email).await?;
    if wait > 0 {
        crate::telemetry::login(false);
        let msg = format!(
            "Trop de tentatives infructueuses pour ce compte. Réessayez dans {}.",
            super::french::duration(wait)
        );
        return page(ctx, StatusCode::TOO_MANY_REQUESTS, Some(msg));
    }
    let now = crate::directory::now();
    let check = crate::second_factor::check_code(&gw, pending.user_id, &f.code, now).await?;
    let method = match check {
        CodeCheck::Accepted(m) => m,
        CodeCheck::Replayed | CodeCheck::Wrong => {
            crate::telemetry::login(false);
            gw.dir
                .login_failed(&pending.email, &gw.config.throttle)
                .await?;
            gw.ip_failed(&ctx.ip);
            let reason = if check == CodeCheck::Replayed {
                account_events::REPLAYED_CODE
            } else {
                account_events::BAD_CODE
            };
            account_events::failed(&ctx, pending.user_id, account_events::SECOND_FACTOR, reason)
                .await?;
            gw.dir
                .audit(AuditEvent {
                    actor_id: Some(pending.user_id),
                    actor: &pending.email,
                    action: "login_failed",
                    client_ip: &ctx.ip,
                    details: if check == CodeCheck::Replayed {
                        "second factor code already used"
                    } else {
                        "wrong second factor code"
                    },
                    ..Default::default()
                })
                .await?;
            let msg = if check == CodeCheck::Replayed {
                "Ce code a déjà servi. Attendez le suivant (30 secondes au plus), puis saisissez-le."
            } else {
                "Code incorrect. Vérifiez l'heure de votre téléphone et saisissez le code affiché en ce moment."
            };
            return page(ctx, StatusCode::UNAUTHORIZED, Some(msg.into()));
        }
    };
    // The account may have been locked or have expired since the password step.
    let ident = gw.identities.get(&gw.dir, pending.user_id).await?;
    let Some(ident) = ident.filter(|i| i.identity.is_usable(&crate::directory::today())) else {
        return Ok(Redirect::to("/login").into_response());
    };
    gw.dir.login_succeeded(&pending.email).await?;
    if let Some(old) = &ctx.session_token {
        gw.end_session(&crate::session::key_of(old)).await?;
    }
    let token = gw
        .sessions
        .create(
            pending.user_id,
            &ctx.ip,
            &ctx.user_agent,
            Assurance::second_factor(now, method.amr()),
        )
        .await?;
    crate::telemetry::login(true);
    crate::telemetry::sessions_created();
    let browser =
        account_events::succeeded(&ctx, &ident.identity, account_events::method_of(method)).await?;
    gw.dir.record_login(pending.user_id).await?;
    let id = &ident.identity;
    let details = match method {
        Method::Totp => "second factor: authenticator code",
        Method::RecoveryCode => "second factor: recovery code",
    };
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(id.user_id),
            actor: &id.email,
            action: "login",
            structure_id: Some(id.structure_id),
            client_ip: &ctx.ip,
            details,
            ..Default::default()
        })
        .await?;
    if method == Method::RecoveryCode {
        let left = gw.dir.recovery_codes_left(id.user_id).await?;
        gw.dir
            .audit(AuditEvent {
                actor_id: Some(id.user_id),
                actor: &id.email,
                action: "recovery_code_used",
                target: &id.email,
                structure_id: Some(id.structure_id),
                client_ip: &ctx.ip,
                ..Default::default()
            })
            .await?;
        let what = format!(
            "Un code de secours vient d'être utilisé pour vous connecter au portail Convergences. Il vous en reste {left}."
        );
        crate::second_factor::notify(&gw, &id.email, &id.first_name, &what).await;
    }
    let mut out = HeaderMap::new();
    out.append(
        header::SET_COOKIE,
        set_cookie(&gw, &gw.cookies.session, &token, true, false),
    );
    out.append(
        header::SET_COOKIE,
        set_cookie(&gw, &gw.cookies.csrf, "", false, true),
    );
    out.append(header::SET_COOKIE, pending_cookie(&ctx, "", true));
    out.append(header::SET_COOKIE, browser);
    let destination = gw
        .routes()
        .validate_return(&pending.return_to)
        .unwrap_or_else(|| "/".to_string());
    out.insert(
        header::LOCATION,
        destination
            .parse()
            .unwrap_or_else(|_| HeaderValue::from_static("/")),
    );
    Ok((StatusCode::SEE_OTHER, out).into_response())
}
