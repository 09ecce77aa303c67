//! What happens to an account's access that its owner can review or is told of
//! (docs/security.md#sign-in-history): each sign-in attempt on an existing account goes into its
//! history; a successful one sets the browser-id cookie and, from a browser the account has not
//! used for [`RETENTION_DAYS`] days, mails the owner; so does a password change. The login
//! handlers make one call here per outcome.

use super::context::PortalRequest;
use super::error::WebResult;
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::directory::model::Identity;
use crate::directory::sign_ins::{NewSignIn, RETENTION_DAYS};
use axum::http::HeaderValue;
use sha2::{Digest, Sha256};

/// How the browser-id cookie lives: 400 days, the longest browsers keep a cookie; renewed at
/// each sign-in.
pub const BROWSER_COOKIE_DAYS: i64 = 400;

/// How a sign-in was made, as stored in the history.
pub const PASSWORD: &str = "password";
pub const TOTP: &str = "totp";
pub const RECOVERY_CODE: &str = "recovery_code";
/// A first-visit or reset link, which signs the user in once the password is chosen.
pub const LINK: &str = "link";
/// A failed second step: which kind of code was typed is not known.
pub const SECOND_FACTOR: &str = "second_factor";
pub const PASSKEY: &str = "passkey";
/// A sign-in at an external identity provider.
pub const PROVIDER: &str = "provider";

/// Why an attempt failed.
pub const BAD_PASSWORD: &str = "bad_password";
pub const BAD_CODE: &str = "bad_code";
pub const REPLAYED_CODE: &str = "replayed_code";
pub const UNUSABLE: &str = "unusable";
pub const BAD_KEY: &str = "bad_key";
/// A password typed for an account whose structure turned password sign-in off.
pub const PASSWORD_DISABLED: &str = "password_disabled";

/// The history's method code of a second-factor method.
pub fn method_of(m: crate::second_factor::Method) -> &'static str {
    match m {
        crate::second_factor::Method::Totp => TOTP,
        crate::second_factor::Method::RecoveryCode => RECOVERY_CODE,
        crate::second_factor::Method::Passkey { .. } => PASSKEY,
    }
}

/// The method as the user reads it.
pub fn method_label(method: &str) -> &'static str {
    match method {
        PASSWORD => "Mot de passe",
        TOTP => "Mot de passe et code de l'application",
        RECOVERY_CODE => "Mot de passe et code de secours",
        LINK => "Lien reçu par e-mail",
        SECOND_FACTOR => "Code de vérification",
        PASSKEY => "Mot de passe et clé de sécurité",
        PROVIDER => "Fournisseur d'identité",
        _ => "Autre",
    }
}

/// The reason of a failure as the user reads it.
pub fn reason_label(reason: &str) -> &'static str {
    match reason {
        BAD_PASSWORD => "mot de passe incorrect",
        BAD_CODE => "code incorrect",
        REPLAYED_CODE => "code déjà utilisé",
        BAD_KEY => "clé de sécurité non reconnue",
        UNUSABLE => "compte verrouillé ou hors de sa période de validité",
        PASSWORD_DISABLED => "connexion par mot de passe désactivée pour votre structure",
        _ => "refusée",
    }
}

/// The browser-id cookie's value, if it is one this gateway could have made (43 base64url
/// characters): anything else counts as no cookie.
fn browser_token(ctx: &PortalRequest) -> Option<&str> {
    ctx.browser_cookie.as_deref().filter(|v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What the history stores of a browser-id: its SHA-256, hex.
pub fn browser_hash(token: &str) -> String {
    let d = Sha256::digest(format!("browser\0{token}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records a failed attempt on an existing account. The caller's answer does not change:
/// an unknown account and a wrong password still look the same to the client.
pub async fn failed(
    ctx: &PortalRequest,
    user_id: i64,
    method: &str,
    reason: &str,
) -> WebResult<()> {
    let agent = crate::auth::user_agent::describe(&ctx.user_agent).label();
    let hash = browser_token(ctx).map(browser_hash).unwrap_or_default();
    ctx.gw
        .dir
        .record_sign_in(NewSignIn {
            user_id,
            success: false,
            method,
            reason,
            client_ip: &ctx.ip,
            agent: &agent,
            browser_hash: &hash,
        })
        .await?;
    Ok(())
}

/// Records a successful sign-in, tells the owner by mail when it comes from a browser the
/// account has not signed in from for [`RETENTION_DAYS`] days (never for the account's first
/// sign-in), and returns the browser-id cookie to set. Call it before `record_login`, which
/// it reads to tell a first sign-in.
pub async fn succeeded(ctx: &PortalRequest, id: &Identity, method: &str) -> WebResult<HeaderValue> {
    let gw = &ctx.gw;
    let token = browser_token(ctx)
        .map(str::to_string)
        .unwrap_or_else(crate::auth::random_token);
    let hash = browser_hash(&token);
    let first = !gw.dir.signed_in_before(id.user_id).await?;
    let known = gw.dir.browser_known(id.user_id, &hash).await?;
    let agent = crate::auth::user_agent::describe(&ctx.user_agent).label();
    gw.dir
        .record_sign_in(NewSignIn {
            user_id: id.user_id,
            success: true,
            method,
            reason: "",
            client_ip: &ctx.ip,
            agent: &agent,
            browser_hash: &hash,
        })
        .await?;
    if !first && !known {
        let what = format!(
            "Une connexion à votre compte Convergences vient d'avoir lieu depuis un navigateur que \
             vous n'avez pas utilisé ces {RETENTION_DAYS} derniers jours :\n\n- navigateur : {agent}\n\
             - adresse IP : {}\n- le {} ({})\n\nSi c'est vous, il n'y a rien à faire. \
             Vos sessions ouvertes sont listées sur la page « Sécurité du compte » de votre profil.",
            ctx.ip,
            super::aia::fmt_ts(crate::directory::now(), &gw.config.time_zone),
            super::french::zone_label(&gw.config.time_zone),
        );
        crate::second_factor::notify(gw, &id.email, &id.first_name, &what).await;
    }
    Ok(browser_cookie(ctx, &token))
}

fn browser_cookie(ctx: &PortalRequest, token: &str) -> HeaderValue {
    let mut c = cookie::Cookie::new(ctx.gw.cookies.browser.clone(), token.to_string());
    c.set_http_only(true);
    c.set_same_site(cookie::SameSite::Lax);
    c.set_path("/");
    c.set_secure(ctx.gw.is_tls());
    c.set_max_age(cookie::time::Duration::days(BROWSER_COOKIE_DAYS));
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Tells the owner that their password was just changed (through a reset link).
pub async fn password_changed(ctx: &PortalRequest, id: &Identity) {
    let what = format!(
        "Le mot de passe de votre compte Convergences vient d'être modifié, le {} ({}), \
         depuis l'adresse IP {}. Toutes les sessions ouvertes avec l'ancien mot de passe ont été fermées.",
        super::aia::fmt_ts(crate::directory::now(), &ctx.gw.config.time_zone),
        super::french::zone_label(&ctx.gw.config.time_zone),
        ctx.ip,
    );
    crate::second_factor::notify(&ctx.gw, &id.email, &id.first_name, &what).await;
}

/// Audits something the user did to their own account (factors, sessions), from this request.
pub async fn audit_own(
    ctx: &PortalRequest,
    id: &Identity,
    action: AuditAction,
    details: &str,
) -> WebResult<()> {
    ctx.gw
        .dir
        .audit(AuditEvent {
            actor_id: Some(id.user_id),
            actor: &id.email,
            action,
            target: &id.email,
            structure_id: Some(id.structure_id),
            client_ip: &ctx.ip,
            details,
        })
        .await?;
    Ok(())
}
