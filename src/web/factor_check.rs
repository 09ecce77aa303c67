//! One check of a second factor, shared by the second step of the login and by the
//! confirmation of identity (step-up): a code (TOTP or recovery code) or a passkey's answer,
//! under the password's brute-force protections (the per-address pause, the growing delay per
//! account), every failure counted and journaled. Messages are French and never say more
//! than "this proof is wrong".

use super::context::PortalRequest;
use super::error::WebResult;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::second_factor::passkeys::{self, PasskeyError};
use crate::second_factor::{CodeCheck, Method};
use axum::http::StatusCode;
use serde::Deserialize;

/// The proof fields of a second-step form: a code, or a passkey ceremony and its answer.
#[derive(Deserialize, Default)]
pub struct ProofForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub ceremony: String,
    #[serde(default)]
    pub response: String,
}

pub enum Outcome {
    Accepted(Method),
    /// Refused, with the status and the French message to show.
    Refused(StatusCode, String),
}

fn refused(status: StatusCode, msg: &str) -> Outcome {
    Outcome::Refused(status, msg.to_string())
}

/// Checks the proof for the account, throttled and journaled like a password.
pub async fn check(
    ctx: &PortalRequest,
    user_id: i64,
    email: &str,
    f: &ProofForm,
) -> WebResult<Outcome> {
    let gw = &ctx.gw;
    if f.code.len() > 64 || f.ceremony.len() > 128 || f.response.len() > passkeys::MAX_RESPONSE {
        return Ok(refused(StatusCode::UNPROCESSABLE_ENTITY, "Code incorrect."));
    }
    if gw.ip_blocked(&ctx.ip) {
        crate::telemetry::login(false);
        return Ok(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives depuis votre connexion. Patientez une minute avant de réessayer.",
        ));
    }
    let wait = gw.dir.login_wait(email).await?;
    if wait > 0 {
        crate::telemetry::login(false);
        return Ok(Outcome::Refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Trop de tentatives infructueuses pour ce compte. Réessayez dans {}.",
                super::french::duration(wait)
            ),
        ));
    }
    let (details, reason, msg) = if !f.ceremony.is_empty() {
        match passkeys::finish_authentication(gw, user_id, &f.ceremony, &f.response).await {
            Ok(method) => return Ok(Outcome::Accepted(method)),
            Err(PasskeyError::Directory(e)) => return Err(e.into()),
            Err(PasskeyError::Session(e)) => return Err(e.into()),
            Err(PasskeyError::Expired | PasskeyError::Unavailable) => {
                // Not a wrong proof: the page simply waited too long.
                return Ok(refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "La vérification par clé de sécurité a expiré. Recommencez.",
                ));
            }
            Err(e) => {
                tracing::info!(user_id, error = %e, "passkey refused at sign-in");
                (
                    "passkey refused",
                    super::account_events::BAD_KEY,
                    "Cette clé de sécurité n'a pas été reconnue pour votre compte. Utilisez une clé enregistrée, ou un code.",
                )
            }
        }
    } else {
        let now = crate::directory::now();
        match crate::second_factor::check_code(gw, user_id, &f.code, now).await? {
            CodeCheck::Accepted(m) => return Ok(Outcome::Accepted(m)),
            CodeCheck::Replayed => (
                "second factor code already used",
                super::account_events::REPLAYED_CODE,
                "Ce code a déjà servi. Attendez le suivant (30 secondes au plus), puis saisissez-le.",
            ),
            CodeCheck::Wrong => (
                "wrong second factor code",
                super::account_events::BAD_CODE,
                "Code incorrect. Vérifiez l'heure de votre téléphone et saisissez le code affiché en ce moment.",
            ),
        }
    };
    crate::telemetry::login(false);
    gw.dir.login_failed(email, &gw.config.throttle).await?;
    gw.ip_failed(&ctx.ip);
    super::account_events::failed(ctx, user_id, super::account_events::SECOND_FACTOR, reason)
        .await?;
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(user_id),
            actor: email,
            client_ip: &ctx.ip,
            details,
            ..AuditEvent::of(AuditAction::LoginFailed)
        })
        .await?;
    Ok(refused(StatusCode::UNAUTHORIZED, msg))
}

/// The JSON answer of an options request beyond the per-address quota.
pub fn too_many() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({"error": "Trop de tentatives depuis votre connexion. Patientez une minute avant de réessayer."})),
    )
        .into_response()
}

/// What a second-step page offers the account.
pub struct Offer {
    pub code: bool,
    pub passkey: bool,
}

pub async fn offer(ctx: &PortalRequest, user_id: i64) -> WebResult<Offer> {
    let gw = &ctx.gw;
    Ok(Offer {
        code: gw.dir.totp(user_id).await?.is_some()
            || gw.dir.recovery_codes_left(user_id).await? > 0,
        passkey: gw.webauthn.is_some() && gw.dir.passkey_count(user_id).await? > 0,
    })
}

/// The JSON a page's script asks for before `navigator.credentials.get()`.
pub async fn passkey_options(
    ctx: &PortalRequest,
    user_id: i64,
) -> WebResult<axum::response::Response> {
    use axum::response::IntoResponse;
    // Each call keeps a ceremony in the session store: counted in the per-address quota.
    if !ctx.gw.ip_allowed(&ctx.ip) {
        return Ok(too_many());
    }
    match passkeys::start_authentication(&ctx.gw, user_id).await {
        Ok(Some((ceremony, options))) => Ok(axum::Json(serde_json::json!({
            "ceremony": ceremony,
            "options": options,
        }))
        .into_response()),
        Ok(None) => Ok((
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "Aucune clé de sécurité n'est enregistrée pour ce compte."})),
        )
            .into_response()),
        Err(PasskeyError::Directory(e)) => Err(e.into()),
        Err(PasskeyError::Session(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a passkey authentication");
            Ok((
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"error": "Les clés de sécurité sont indisponibles pour le moment."})),
            )
                .into_response())
        }
    }
}
