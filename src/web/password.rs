//! "Créer mon mot de passe" from a one-time link (first visit, reset, or the link the admin CLI
//! prints). On success every other session of the user ends and the user is logged in.

use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::pages::{Layout, MessagePage};
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::directory::tokens::Purpose;
use askama::Template;
use axum::extract::{Form, Path};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub l: Layout,
    pub heading: String,
    pub email: String,
    pub token: String,
    pub errors: Vec<String>,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

/// A token is valid for either purpose; which one only changes the wording.
async fn token_user(ctx: &PortalRequest, token: &str) -> WebResult<Option<(i64, Purpose)>> {
    if token.len() > 128 {
        return Ok(None);
    }
    for p in [Purpose::FirstVisit, Purpose::Reset] {
        if let Some(uid) = ctx.gw.dir.peek_token(token, p).await? {
            return Ok(Some((uid, p)));
        }
    }
    Ok(None)
}

fn invalid_link(ctx: &PortalRequest) -> WebResult<Response> {
    let page = MessagePage {
        l: ctx.layout("Lien invalide"),
        heading: "Ce lien n'est plus valide".into(),
        message: "Le lien a expiré, a déjà servi, ou un lien plus récent a été envoyé. Demandez-en un nouveau depuis la page de connexion (« Première visite ? » ou « Mot de passe oublié ? »).".into(),
        link_url: "/login".into(),
        link_label: "Aller à la page de connexion".into(),
    };
    Ok((StatusCode::GONE, Html(page.render()?)).into_response())
}

/// A link to an account whose structure turned password sign-in off (sent before the change,
/// or by the command line): it sets no password and signs nobody in; the token stays unused.
fn password_turned_off(ctx: &PortalRequest) -> WebResult<Response> {
    let page = MessagePage {
        l: ctx.layout("Connexion par mot de passe désactivée"),
        heading: "Ce lien ne peut pas servir".into(),
        message: super::password_policy::refused(&ctx.gw),
        link_url: "/login".into(),
        link_label: "Aller à la page de connexion".into(),
    };
    Ok((StatusCode::FORBIDDEN, Html(page.render()?)).into_response())
}

fn heading(p: Purpose) -> String {
    match p {
        Purpose::FirstVisit => "Créer mon mot de passe".into(),
        Purpose::Reset => "Réinitialiser mon mot de passe".into(),
    }
}

pub async fn form(mut ctx: PortalRequest, Path(token): Path<String>) -> WebResult<Response> {
    let Some((uid, purpose)) = token_user(&ctx, &token).await? else {
        return invalid_link(&ctx);
    };
    if ctx.gw.password_refused(uid).await? {
        return password_turned_off(&ctx);
    }
    let ident = ctx.gw.dir.identity(uid).await?.ok_or(WebError::NotFound)?;
    let mut headers = HeaderMap::new();
    ctx.ensure_csrf_cookie(&mut headers);
    let page = PasswordPage {
        l: ctx.layout(&heading(purpose)),
        heading: heading(purpose),
        email: ident.email,
        token,
        errors: vec![],
    };
    Ok((headers, Html(page.render()?)).into_response())
}

pub async fn submit(
    ctx: PortalRequest,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> WebResult<Response> {
    let Some((uid, purpose)) = token_user(&ctx, &token).await? else {
        return invalid_link(&ctx);
    };
    if ctx.gw.password_refused(uid).await? {
        return password_turned_off(&ctx);
    }
    let gw = ctx.gw.clone();
    let ident = gw.dir.identity(uid).await?.ok_or(WebError::NotFound)?;
    let mut errors = Vec::new();
    if !ctx.csrf_ok(&f.csrf) {
        errors.push("Le formulaire a expiré : saisissez à nouveau votre mot de passe.".to_string());
    } else if f.password != f.confirmation {
        errors.push("Les deux mots de passe saisis sont différents.".to_string());
    } else {
        errors = crate::auth::policy::check(
            &f.password,
            &ident.first_name,
            &ident.last_name,
            &ident.email,
        );
    }
    if !errors.is_empty() {
        let page = PasswordPage {
            l: ctx.layout(&heading(purpose)),
            heading: heading(purpose),
            email: ident.email,
            token,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    // Consume first: of two concurrent submissions only one gets past this line.
    if gw.dir.consume_token(&token, purpose).await?.is_none() {
        return invalid_link(&ctx);
    }
    let hash = crate::auth::password::hash(f.password)
        .await
        .map_err(WebError::Internal)?;
    gw.dir.set_password_hash(uid, &hash).await?;
    gw.revoke_user(uid).await?;
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(uid),
            actor: &ident.email,
            action: AuditAction::PasswordSet,
            target: &ident.email,
            structure_id: Some(ident.structure_id),
            client_ip: &ctx.ip,
            details: match purpose {
                Purpose::FirstVisit => "first visit",
                Purpose::Reset => "reset",
            },
        })
        .await?;
    if purpose == Purpose::Reset {
        super::account_events::password_changed(&ctx, &ident).await;
    }
    let fresh = gw.identities.get(&gw.dir, uid).await?;
    // A link proves access to the mailbox, not the second factor: an account that has one
    // signs in through the login form, which asks for it.
    let fresh = fresh.filter(|i| i.identity.is_usable(&crate::directory::today()));
    match fresh {
        Some(i) if !crate::second_factor::has_factor(&gw, uid).await? => {
            super::sign_in::open_session(
                &ctx,
                &i.identity,
                super::sign_in::SignIn {
                    assurance: crate::session::Assurance::password(crate::directory::now()),
                    details: "password set from a link",
                    return_to: "/",
                    extra: &[],
                    provider: None,
                    method: super::account_events::LINK,
                },
            )
            .await
        }
        _ => Ok(Redirect::to("/login").into_response()),
    }
}
