//! "Première visite ?" and "Mot de passe oublié ?"
//! (docs/product.md#first-visit-and-password-reset): the page answers the same text whatever
//! the e-mail, and the link is sent in the background (see `lifecycle::request_link`).

use super::context::PortalRequest;
use super::error::WebResult;
use super::pages::Layout;
use crate::directory::tokens::Purpose;
use askama::Template;
use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "request_link.html")]
pub struct RequestLinkPage {
    pub l: Layout,
    pub heading: String,
    pub intro: String,
    pub action: String,
    pub email: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// The answer given whatever the e-mail: it must not tell whether an account exists.
pub const NEUTRAL_ANSWER: &str = "Si cette adresse correspond à un compte qui peut recevoir ce lien, un message vient de lui être envoyé. Il contient un lien valable 24 heures, utilisable une seule fois. Pensez à vérifier vos courriers indésirables.";

fn texts(purpose: Purpose) -> (&'static str, &'static str, &'static str) {
    match purpose {
        Purpose::FirstVisit => (
            "Première visite",
            "Saisissez l'adresse e-mail professionnelle sous laquelle votre référent administrateur vous a inscrit : vous recevrez un lien pour créer votre mot de passe.",
            "/premiere-visite",
        ),
        Purpose::Reset => (
            "Mot de passe oublié",
            "Saisissez votre adresse e-mail professionnelle : vous recevrez un lien pour choisir un nouveau mot de passe. L'ancien reste valable tant que vous n'en avez pas choisi un nouveau.",
            "/mot-de-passe-oublie",
        ),
    }
}

fn page(
    mut ctx: PortalRequest,
    purpose: Purpose,
    status: StatusCode,
    email: String,
    notice: Option<String>,
    error: Option<String>,
) -> WebResult<Response> {
    let (heading, intro, action) = texts(purpose);
    let mut headers = HeaderMap::new();
    ctx.ensure_csrf_cookie(&mut headers);
    let p = RequestLinkPage {
        l: ctx.layout(heading),
        heading: heading.into(),
        intro: intro.into(),
        action: action.into(),
        email,
        notice,
        error,
    };
    Ok((status, headers, Html(p.render()?)).into_response())
}

async fn submit(ctx: PortalRequest, f: RequestForm, purpose: Purpose) -> WebResult<Response> {
    let email = f.email.trim().to_string();
    if !ctx.csrf_ok(&f.csrf) {
        let msg = "Le formulaire a expiré : veuillez le renvoyer.".to_string();
        return page(
            ctx,
            purpose,
            StatusCode::BAD_REQUEST,
            email,
            None,
            Some(msg),
        );
    }
    if !ctx.gw.ip_allowed(&ctx.ip) {
        let msg =
            "Trop de demandes depuis votre connexion. Patientez une minute avant de réessayer."
                .to_string();
        return page(
            ctx,
            purpose,
            StatusCode::TOO_MANY_REQUESTS,
            email,
            None,
            Some(msg),
        );
    }
    if email.len() > 254 || !email.contains('@') {
        let msg =
            "Saisissez une adresse e-mail complète, par exemple prenom.nom@mairie.fr.".to_string();
        return page(
            ctx,
            purpose,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            None,
            Some(msg),
        );
    }
    crate::lifecycle::request_link(ctx.gw.clone(), email, purpose, ctx.ip.clone());
    page(
        ctx,
        purpose,
        StatusCode::OK,
        String::new(),
        Some(NEUTRAL_ANSWER.into()),
        None,
    )
}

pub async fn first_visit_form(ctx: PortalRequest) -> WebResult<Response> {
    page(
        ctx,
        Purpose::FirstVisit,
        StatusCode::OK,
        String::new(),
        None,
        None,
    )
}

pub async fn first_visit_submit(
    ctx: PortalRequest,
    Form(f): Form<RequestForm>,
) -> WebResult<Response> {
    submit(ctx, f, Purpose::FirstVisit).await
}

pub async fn forgot_form(ctx: PortalRequest) -> WebResult<Response> {
    page(
        ctx,
        Purpose::Reset,
        StatusCode::OK,
        String::new(),
        None,
        None,
    )
}

pub async fn forgot_submit(ctx: PortalRequest, Form(f): Form<RequestForm>) -> WebResult<Response> {
    submit(ctx, f, Purpose::Reset).await
}
