//! "Se connecter" and "Déconnexion" (docs/product.md#login-and-logout).

use super::account_events;
use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::pages::{LoginPage, LogoutPage};
use super::set_cookie;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use askama::Template;
use axum::extract::{Form, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    logged_out: Option<String>,
    #[serde(default)]
    expired: Option<String>,
    /// Sign in again although a session exists (OpenID Connect `prompt=login`, `max_age`).
    #[serde(default)]
    reauth: Option<String>,
    /// Pre-fills the e-mail (OpenID Connect `login_hint`).
    #[serde(default)]
    login_hint: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

/// Where to go after login: a validated return URL, else the portal.
fn destination(ctx: &PortalRequest, return_to: &str) -> String {
    ctx.gw
        .routes()
        .validate_return(return_to)
        .unwrap_or_else(|| "/".to_string())
}

/// Renders the login page, creating the pre-session CSRF cookie when the browser has none.
fn login_page(
    mut ctx: PortalRequest,
    status: StatusCode,
    email: String,
    error: Option<String>,
    notice: Option<String>,
    return_to: String,
) -> WebResult<Response> {
    let mut headers = HeaderMap::new();
    ctx.ensure_csrf_cookie(&mut headers);
    let page = LoginPage {
        l: ctx.layout("Se connecter"),
        providers: super::broker::buttons(&ctx, &return_to),
        email,
        error,
        notice,
        return_to,
    };
    Ok((status, headers, Html(page.render()?)).into_response())
}

pub async fn form(ctx: PortalRequest, Query(q): Query<LoginQuery>) -> WebResult<Response> {
    let return_to = ctx
        .gw
        .routes()
        .validate_return(&q.return_to)
        .unwrap_or_default();
    if ctx.user.is_some() && q.reauth.is_none() {
        return Ok(Redirect::to(&destination(&ctx, &return_to)).into_response());
    }
    let notice = match (q.logged_out, q.expired) {
        (Some(_), _) => Some("Vous êtes déconnecté.".to_string()),
        (None, Some(_)) => Some(
            "Votre session a pris fin : reconnectez-vous, puis recommencez votre action."
                .to_string(),
        ),
        _ => None,
    };
    let email = q.login_hint.chars().take(254).collect();
    login_page(ctx, StatusCode::OK, email, None, notice, return_to)
}

pub async fn submit(ctx: PortalRequest, Form(f): Form<LoginForm>) -> WebResult<Response> {
    let return_to = ctx
        .gw
        .routes()
        .validate_return(&f.return_to)
        .unwrap_or_default();
    if !ctx.csrf_ok(&f.csrf) {
        return login_page(
            ctx,
            StatusCode::BAD_REQUEST,
            f.email,
            Some("Le formulaire a expiré. Veuillez saisir à nouveau vos identifiants.".into()),
            None,
            return_to,
        );
    }
    let gw = ctx.gw.clone();
    let email = f.email.trim().to_string();
    if email.is_empty() || f.password.is_empty() || email.len() > 254 || f.password.len() > 1024 {
        return login_page(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            Some("Saisissez votre adresse e-mail et votre mot de passe.".into()),
            None,
            return_to,
        );
    }
    if gw.ip_blocked(&ctx.ip) {
        crate::telemetry::login(false);
        return login_page(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            email,
            Some("Trop de tentatives depuis votre connexion. Patientez une minute avant de réessayer.".into()),
            None,
            return_to,
        );
    }
    // Growing delay per e-mail, known or not, checked before any password verification.
    let wait = gw.dir.login_wait(&email).await?;
    if wait > 0 {
        crate::telemetry::login(false);
        gw.dir
            .audit(AuditEvent {
                actor: &email,
                client_ip: &ctx.ip,
                details: "delayed after repeated failures",
                ..AuditEvent::of(AuditAction::LoginFailed)
            })
            .await?;
        let message = format!(
            "Trop de tentatives infructueuses pour ce compte. Réessayez dans {}.",
            super::french::duration(wait)
        );
        return login_page(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            email,
            Some(message),
            None,
            return_to,
        );
    }
    let record = gw.dir.find_login(&email).await?;
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    // Always one argon2 verification, so timing does not tell whether the account exists.
    let password_ok = crate::auth::password::verify(f.password, hash).await;
    // An account whose structure turned password sign-in off is answered exactly as a wrong
    // password, even when the password is right: the answer must tell an outsider neither which
    // accounts exist nor which passwords are right (docs/identity-providers.md#password-sign-in-turned-off).
    let refused_by_structure = gw.password_refused_for_email(&email).await?;
    let password_ok = password_ok && !refused_by_structure;
    let identity = match (&record, password_ok) {
        (Some(r), true) => gw.identities.get(&gw.dir, r.user_id).await?,
        _ => None,
    };
    let usable = identity
        .as_ref()
        .is_some_and(|i| i.identity.is_usable(&crate::directory::today()));
    if !usable {
        crate::telemetry::login(false);
        if !password_ok {
            gw.dir.login_failed(&email, &gw.config.throttle).await?;
            gw.ip_failed(&ctx.ip);
        }
        if let Some(r) = &record {
            let reason = if password_ok {
                account_events::UNUSABLE
            } else if refused_by_structure {
                account_events::PASSWORD_DISABLED
            } else {
                account_events::BAD_PASSWORD
            };
            account_events::failed(&ctx, r.user_id, account_events::PASSWORD, reason).await?;
        }
        gw.dir
            .audit(AuditEvent {
                actor_id: record.as_ref().map(|r| r.user_id),
                actor: &email,
                client_ip: &ctx.ip,
                details: if password_ok {
                    "account not usable"
                } else if refused_by_structure {
                    "password sign-in turned off for the account's structure"
                } else {
                    "bad credentials"
                },
                ..AuditEvent::of(AuditAction::LoginFailed)
            })
            .await?;
        let message = if password_ok {
            "Votre compte est verrouillé ou hors de sa période de validité. Contactez votre référent administrateur.".to_string()
        } else {
            let hint = super::password_policy::login_hint(&gw).await?;
            format!("Adresse e-mail ou mot de passe incorrect.{hint}")
        };
        return login_page(
            ctx,
            StatusCode::UNAUTHORIZED,
            email,
            Some(message),
            None,
            return_to,
        );
    }
    let Some(ident) = identity else {
        return Err(WebError::Internal("usable identity vanished".into()));
    };
    let user_id = ident.identity.user_id;
    if crate::second_factor::has_factor(&gw, user_id).await? {
        // The password is right, but the login is not done until the second factor is: the
        // failure count stays, so that codes are throttled like passwords.
        return super::second_factor::ask(&ctx, user_id, &email, &return_to);
    }
    super::sign_in::open_session(
        &ctx,
        &ident.identity,
        super::sign_in::SignIn {
            assurance: crate::session::Assurance::password(crate::directory::now()),
            details: "",
            return_to: &return_to,
            extra: &[],
            provider: None,
            method: super::account_events::PASSWORD,
        },
    )
    .await
}

pub async fn confirm_logout(ctx: PortalRequest) -> WebResult<Response> {
    if ctx.user.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(Html(
        LogoutPage {
            l: ctx.layout("Déconnexion"),
        }
        .render()?,
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session everywhere: application-host cookies are bound to it, so they die with it.
pub async fn logout(ctx: PortalRequest, Form(f): Form<LogoutForm>) -> WebResult<Response> {
    let Some(user) = &ctx.user else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !ctx.csrf_ok(&f.csrf) {
        return Err(WebError::BadRequest(
            "Le formulaire a expiré. Revenez au portail et recommencez.".into(),
        ));
    }
    let gw = &ctx.gw;
    gw.end_session(&user.live.key).await?;
    // A session a provider signed in ends there too (RP-initiated logout).
    let at_provider = match &user.live.record.provider {
        Some(login) => super::broker::logout_url(gw, login).await,
        None => None,
    };
    let audited = gw
        .dir
        .guarded(gw.dir.audit(AuditEvent {
            actor_id: Some(user.ident.identity.user_id),
            actor: &user.ident.identity.email,
            structure_id: Some(user.ident.identity.structure_id),
            client_ip: &ctx.ip,
            ..AuditEvent::of(AuditAction::Logout)
        }))
        .await;
    // The session has ended: with the directory down (degraded mode, docs/operations.md), the
    // logout stands and its journal line goes to the log instead.
    match audited {
        Err(e) if e.is_outage() => tracing::warn!(
            user_id = user.ident.identity.user_id,
            error = %e,
            "logout not written to the audit journal: directory unavailable"
        ),
        other => other?,
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        set_cookie(gw, &gw.cookies.session, "", true, true),
    );
    headers.insert(
        header::LOCATION,
        at_provider
            .as_deref()
            .unwrap_or("/login?logged_out=1")
            .parse()
            .map_err(|_| WebError::Internal("bad location".into()))?,
    );
    Ok((StatusCode::SEE_OTHER, headers).into_response())
}
