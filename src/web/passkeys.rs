//! Passkeys and security keys on "Sécurité du compte" (docs/security.md#passkeys): the options
//! for the browser, the registration of a named key, its removal. Adding or removing a key
//! needs a recent authentication (step-up), like every change to the account's factors; the
//! first factor of an account comes with its recovery codes; every change is audited and told
//! to the user by mail.

use super::account_access::{AccountAction, AccountPage};
use super::aia::extract::{CsrfOnly, CsrfProtected};
use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::security;
use crate::directory::audit_action::AuditAction;
use crate::second_factor::passkeys::{self, PasskeyError};
use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// The options for `navigator.credentials.create()` (JSON). A session too old to change the
/// factors gets the address of the confirmation page instead.
pub async fn registration_options(
    ctx: PortalRequest,
    Form(f): Form<CsrfForm>,
) -> WebResult<Response> {
    let Some(user) = &ctx.user else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    if !ctx.csrf_ok(&f.csrf) {
        return Ok(json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "Le formulaire a expiré. Rechargez la page."}),
        ));
    }
    if !ctx.gw.ip_allowed(&ctx.ip) {
        return Ok(super::factor_check::too_many());
    }
    if !super::step_up::recent(&ctx).await? {
        let url = super::step_up::confirm_url(security::PATH);
        return Ok(json(StatusCode::OK, serde_json::json!({ "confirm": url })));
    }
    let id = &user.ident.identity;
    match passkeys::start_registration(&ctx.gw, id.user_id, &id.email, &id.display_name()).await {
        Ok((ceremony, options)) => Ok(json(
            StatusCode::OK,
            serde_json::json!({"ceremony": ceremony, "options": options}),
        )),
        Err(PasskeyError::Directory(e)) => Err(e.into()),
        Err(PasskeyError::Session(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a passkey registration");
            Ok(json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "Les clés de sécurité ne sont pas disponibles à cette adresse du portail."}),
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    response: String,
}

impl CsrfProtected for RegisterForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn register(
    AccountAction(AccountPage(ctx), f): AccountAction<RegisterForm>,
) -> WebResult<Response> {
    let user = ctx.require_user()?;
    super::step_up::require_recent(&ctx, None).await?;
    let id = user.ident.identity.clone();
    let gw = ctx.gw.clone();
    let count = gw.dir.passkey_count(id.user_id).await?;
    let Some(name) = passkeys::key_name(&f.name, count as usize + 1) else {
        let msg = format!(
            "Le nom de la clé est trop long ({} caractères au plus).",
            crate::directory::passkeys::NAME_MAX
        );
        return security::render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, None, Some(msg)).await;
    };
    let first = !crate::second_factor::has_factor(&gw, id.user_id).await?;
    let done =
        passkeys::finish_registration(&gw, id.user_id, &f.ceremony, &f.response, &name).await;
    let msg = match done {
        Ok(()) => None,
        Err(PasskeyError::Directory(e)) => return Err(e.into()),
        Err(PasskeyError::Session(e)) => return Err(e.into()),
        Err(PasskeyError::Duplicate) => Some("Cette clé est déjà enregistrée."),
        Err(PasskeyError::Expired) => Some("L'enregistrement a expiré. Recommencez."),
        Err(PasskeyError::Unavailable) => {
            Some("Les clés de sécurité ne sont pas disponibles à cette adresse du portail.")
        }
        Err(e @ PasskeyError::Refused(_)) => {
            tracing::info!(user_id = id.user_id, error = %e, "passkey registration refused");
            Some("La clé de sécurité n'a pas pu être enregistrée. Recommencez.")
        }
    };
    if let Some(msg) = msg {
        return security::render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(msg.into()),
        )
        .await;
    }
    // The key just proved itself with user verification: the session counts as confirmed
    // with it, and no longer owes an enrolment.
    let now = crate::directory::now();
    let previous = user
        .live
        .record
        .assurance
        .or_password(user.live.record.created_at);
    let assurance = previous.confirmed(now, Some("hwk"), true);
    gw.sessions
        .modify(&user.live.key, |r| {
            r.assurance = assurance;
            r.enrol_by = None;
        })
        .await?;
    security::record_change(
        &ctx,
        &id,
        AuditAction::FactorAdded,
        &format!("passkey or security key: {name}"),
        &format!(
            "Une clé de sécurité (« {name} ») vient d'être ajoutée à votre compte Convergences."
        ),
    )
    .await?;
    if first {
        let codes = crate::second_factor::regenerate_codes(&gw, id.user_id).await?;
        return security::codes_page(&ctx, "Votre clé de sécurité est enregistrée.", codes);
    }
    Ok(Redirect::to(&format!("{}?ok=cle", security::PATH)).into_response())
}

pub async fn remove(
    Path(key): Path<String>,
    AccountAction(AccountPage(ctx), f): AccountAction<CsrfOnly>,
) -> WebResult<Response> {
    let user = ctx.require_user()?;
    let form = format!(
        "csrf={}",
        form_urlencoded::byte_serialize(f.csrf.as_bytes()).collect::<String>()
    );
    super::step_up::require_recent(&ctx, Some(form.as_bytes())).await?;
    // Another account's key id removes nothing: the directory scopes it by account.
    let Ok(key) = key.parse::<i64>() else {
        return Err(WebError::NotFound);
    };
    let id = user.ident.identity.clone();
    let Some(name) = ctx.gw.dir.remove_passkey(id.user_id, key).await? else {
        return Err(WebError::NotFound);
    };
    security::record_change(
        &ctx,
        &id,
        AuditAction::FactorRemoved,
        &format!("passkey or security key: {name}"),
        &format!(
            "La clé de sécurité « {name} » vient d'être retirée de votre compte Convergences."
        ),
    )
    .await?;
    Ok(Redirect::to(&format!("{}?ok=cle-retiree", security::PATH)).into_response())
}
