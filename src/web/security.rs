//! "Sécurité du compte" (docs/security.md#second-factor): the user's own second factors. The
//! authenticator application (TOTP) is enrolled from here with a QR code rendered on the
//! server and confirmed by a first code; passkeys are handled in `super::passkeys`; recovery
//! codes are shown once. Removal and regeneration are confirmed with a current code, or with a
//! recent authentication for an account without TOTP. Every change is audited and told to the
//! user by mail.

use super::account_access::{AccountAction, AccountPage};
use super::aia::extract::{CsrfOnly, CsrfProtected};
use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use crate::auth::totp;
use crate::directory::audit_action::AuditAction;
use crate::second_factor::CodeCheck;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

pub const PATH: &str = "/aia/profil/securite";
/// How long an enrolment may wait for its confirming code.
const ENROL_SECONDS: i64 = 15 * 60;

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    l: super::pages::Layout,
    notice: Option<String>,
    error: Option<String>,
    totp_since: Option<String>,
    codes_left: i64,
    passkeys: Vec<KeyRow>,
    /// The portal's address can serve passkeys.
    passkeys_available: bool,
    /// The policy requires a factor and the grace period is over.
    required_now: bool,
}

struct KeyRow {
    id: i64,
    name: String,
    added: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "security_enrol.html")]
struct EnrolPage {
    l: super::pages::Layout,
    error: Option<String>,
    qr_svg: String,
    account: String,
    secret_grouped: String,
    sealed: String,
}

#[derive(Template)]
#[template(path = "security_codes.html")]
struct CodesPage {
    l: super::pages::Layout,
    heading: String,
    codes: Vec<String>,
}

/// The secret being enrolled travels sealed in the form, bound to the user and dated: nothing
/// is stored until the first code confirms it.
#[derive(Serialize, Deserialize)]
struct Enrolment {
    secret: String,
    expires: i64,
}

fn enrol_aad(user_id: i64) -> Vec<u8> {
    format!("enrol:{user_id}").into_bytes()
}

pub async fn render(
    ctx: &PortalRequest,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> WebResult<Response> {
    let user = ctx.require_user()?;
    let uid = user.ident.identity.user_id;
    let totp = ctx.gw.dir.totp(uid).await?;
    let codes_left = ctx.gw.dir.recovery_codes_left(uid).await?;
    let tz = &ctx.gw.config.time_zone;
    let passkeys = ctx
        .gw
        .dir
        .passkeys(uid)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            added: super::french::date(k.created_at, tz),
            last_used: k
                .last_used_at
                .map(|t| super::french::date(t, tz))
                .unwrap_or_default(),
        })
        .collect();
    let html = SecurityPage {
        l: ctx.layout("Sécurité du compte"),
        notice,
        error,
        totp_since: totp.map(|t| super::french::date(t.created_at, tz)),
        codes_left,
        passkeys,
        passkeys_available: ctx.gw.webauthn.is_some(),
        required_now: user.live.record.must_enrol(crate::directory::now()),
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
        "desactivee" => Some("L'application d'authentification est retirée de votre compte."),
        "cle" => Some("La clé de sécurité est enregistrée."),
        "totp" => Some("L'application d'authentification est enregistrée."),
        "cle-retiree" => Some("La clé de sécurité est retirée de votre compte."),
        _ => None,
    }
    .map(str::to_string);
    render(&ctx, StatusCode::OK, notice, None).await
}

fn enrol_page(
    ctx: &PortalRequest,
    status: StatusCode,
    secret: &[u8],
    sealed: String,
    error: Option<String>,
) -> WebResult<Response> {
    let user = ctx.require_user()?;
    let account = user.ident.identity.email.clone();
    let uri = totp::otpauth_uri(secret, "Convergences", &account);
    let b32 = totp::to_base32(secret);
    let grouped = b32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let html = EnrolPage {
        l: ctx.layout("Activer la vérification en deux étapes"),
        error,
        qr_svg: totp::qr_svg(&uri).unwrap_or_default(),
        account,
        secret_grouped: grouped,
        sealed,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

/// Starts an enrolment: a new secret, shown as a QR code and in base32.
pub async fn start(
    AccountAction(AccountPage(ctx), f): AccountAction<CsrfOnly>,
) -> WebResult<Response> {
    let form = format!("csrf={}", super::aia::enc(&f.csrf));
    super::step_up::require_recent(&ctx, Some(form.as_bytes())).await?;
    let uid = ctx.require_user()?.ident.identity.user_id;
    let secret = totp::new_secret();
    let enrolment = Enrolment {
        secret: totp::to_base32(&secret),
        expires: crate::directory::now() + ENROL_SECONDS,
    };
    let json = serde_json::to_vec(&enrolment).map_err(|e| WebError::Internal(e.to_string()))?;
    let sealed = ctx.gw.factor_keys.seal(&json, &enrol_aad(uid));
    enrol_page(&ctx, StatusCode::OK, &secret, sealed, None)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enrol: String,
    #[serde(default)]
    code: String,
}

impl CsrfProtected for ConfirmForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn confirm(
    AccountAction(AccountPage(ctx), f): AccountAction<ConfirmForm>,
) -> WebResult<Response> {
    let id = ctx.require_user()?.ident.identity.clone();
    let gw = ctx.gw.clone();
    let now = crate::directory::now();
    let enrolment = gw
        .factor_keys
        .open(&f.enrol, &enrol_aad(id.user_id))
        .and_then(|p| serde_json::from_slice::<Enrolment>(&p).ok())
        .filter(|e| e.expires > now);
    let Some(secret) = enrolment.and_then(|e| totp::from_base32(&e.secret)) else {
        return render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(
                "L'activation a expiré. Recommencez : un nouveau QR code vous sera présenté."
                    .into(),
            ),
        )
        .await;
    };
    let code: String = f.code.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(step) = totp::matching_step(&secret, &code, now) else {
        return enrol_page(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &secret,
            f.enrol.clone(),
            Some("Ce code ne correspond pas. Vérifiez que l'heure de votre téléphone est juste, puis saisissez le code affiché en ce moment.".into()),
        );
    };
    let first = !crate::second_factor::has_factor(&gw, id.user_id).await?;
    let codes = crate::second_factor::enrol_totp(&gw, id.user_id, &secret, first).await?;
    // The confirming code counts as used: it cannot open a login afterwards.
    gw.dir.use_totp_step(id.user_id, step).await?;
    // It also confirms this session with the new factor, which owes no enrolment any more.
    if let Some(user) = &ctx.user {
        let now = crate::directory::now();
        let previous = user
            .live
            .record
            .assurance
            .or_password(user.live.record.created_at);
        let assurance = previous.confirmed(now, Some("otp"), true);
        gw.sessions
            .modify(&user.live.key, |r| {
                r.assurance = assurance;
                r.enrol_by = None;
            })
            .await?;
    }
    record_change(
        &ctx,
        &id,
        AuditAction::FactorAdded,
        "authenticator application (TOTP)",
        "La vérification en deux étapes vient d'être activée sur votre compte Convergences, avec une application d'authentification.",
    )
    .await?;
    match codes {
        Some(codes) => codes_page(&ctx, "La vérification en deux étapes est activée.", codes),
        None => Ok(Redirect::to(&format!("{PATH}?ok=totp")).into_response()),
    }
}

/// Records a change to the user's own factors: audited, and told to the user by mail.
pub async fn record_change(
    ctx: &PortalRequest,
    id: &crate::directory::model::Identity,
    action: AuditAction,
    details: &str,
    mail: &str,
) -> WebResult<()> {
    super::account_events::audit_own(ctx, id, action, details).await?;
    crate::second_factor::notify(&ctx.gw, &id.email, &id.first_name, mail).await;
    Ok(())
}

/// The recovery codes, shown once.
pub fn codes_page(ctx: &PortalRequest, heading: &str, codes: Vec<String>) -> WebResult<Response> {
    let html = CodesPage {
        l: ctx.layout("Vos codes de secours"),
        heading: heading.into(),
        codes,
    }
    .render()?;
    Ok(Html(html).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

impl CsrfProtected for CodeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Checks the current code of the signed-in user for a change to their factors; an error page
/// (422) when it does not match.
async fn confirm_with_code(ctx: &PortalRequest, f: &CodeForm) -> WebResult<Result<(), Response>> {
    let user = ctx.require_user()?;
    let gw = &ctx.gw;
    let id = &user.ident.identity;
    if gw.dir.totp(id.user_id).await?.is_none() {
        // No code to give (passkeys only): a recent authentication confirms instead.
        let form = format!("csrf={}", super::aia::enc(&f.csrf));
        super::step_up::require_recent(ctx, Some(form.as_bytes())).await?;
        return Ok(Ok(()));
    }
    let wait = gw.dir.login_wait(&id.email).await?;
    if wait > 0 {
        let msg = "Trop de codes erronés : patientez avant de réessayer.".to_string();
        return Ok(Err(render(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(msg),
        )
        .await?));
    }
    let check =
        crate::second_factor::check_code(gw, id.user_id, &f.code, crate::directory::now()).await?;
    if let CodeCheck::Accepted(_) = check {
        return Ok(Ok(()));
    }
    gw.dir.login_failed(&id.email, &gw.config.throttle).await?;
    let msg = "Code incorrect : saisissez le code affiché en ce moment par votre application.";
    Ok(Err(render(
        ctx,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        Some(msg.into()),
    )
    .await?))
}

pub async fn remove(
    AccountAction(AccountPage(ctx), f): AccountAction<CodeForm>,
) -> WebResult<Response> {
    if let Err(page) = confirm_with_code(&ctx, &f).await? {
        return Ok(page);
    }
    let id = ctx.require_user()?.ident.identity.clone();
    let gw = &ctx.gw;
    gw.dir.remove_totp(id.user_id).await?;
    let mail = if crate::second_factor::has_factor(gw, id.user_id).await? {
        "L'application d'authentification vient d'être retirée de votre compte Convergences ; vos clés de sécurité restent actives."
    } else {
        "La vérification en deux étapes vient d'être désactivée sur votre compte Convergences : il n'est plus protégé que par votre mot de passe."
    };
    record_change(
        &ctx,
        &id,
        AuditAction::FactorRemoved,
        "authenticator application (TOTP), by the user",
        mail,
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}?ok=desactivee")).into_response())
}

pub async fn regenerate(
    AccountAction(AccountPage(ctx), f): AccountAction<CodeForm>,
) -> WebResult<Response> {
    if let Err(page) = confirm_with_code(&ctx, &f).await? {
        return Ok(page);
    }
    let id = ctx.require_user()?.ident.identity.clone();
    let gw = &ctx.gw;
    let codes = crate::second_factor::regenerate_codes(gw, id.user_id).await?;
    record_change(
        &ctx,
        &id,
        AuditAction::RecoveryCodesRegenerated,
        "",
        "De nouveaux codes de secours viennent d'être générés pour votre compte Convergences ; les précédents ne fonctionnent plus.",
    )
    .await?;
    codes_page(
        &ctx,
        "Vos nouveaux codes de secours remplacent les précédents.",
        codes,
    )
}
