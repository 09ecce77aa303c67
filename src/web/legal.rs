//! The pages a French public service publishes besides "Données personnelles": "Mentions
//! légales" (publisher, director of publication, host) and "Accessibilité" (the RGAA 4.1
//! statement: status, audit, contact, recourse to the Défenseur des droits). Public, linked
//! from every footer; what is specific to the organisation comes from `[legal]` and
//! `[support]` (docs/product.md#public-pages).

use super::context::PortalRequest;
use super::error::WebResult;
use crate::config::{Contact, Legal};
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "legal.html")]
struct LegalPage<'a> {
    l: super::pages::Layout,
    legal: &'a Legal,
    dpo: Option<&'a Contact>,
    portal_url: &'a str,
}

#[derive(Template)]
#[template(path = "accessibility.html")]
struct AccessibilityPage<'a> {
    l: super::pages::Layout,
    legal: &'a Legal,
    /// Where to report a problem: `[legal].accessibility_contact_email`, else the directory's
    /// correspondent, else the applications' support.
    contact: Option<String>,
}

pub async fn legal_notice(ctx: PortalRequest) -> WebResult<Response> {
    let support = ctx.gw.config.support.clone();
    let html = LegalPage {
        l: ctx.layout("Mentions légales"),
        legal: &support.legal,
        dpo: support.dpo.as_ref(),
        portal_url: &ctx.gw.config.public_url,
    }
    .render()?;
    Ok(Html(html).into_response())
}

pub async fn accessibility(ctx: PortalRequest) -> WebResult<Response> {
    let support = ctx.gw.config.support.clone();
    let contact = support
        .legal
        .accessibility_contact
        .clone()
        .or_else(|| support.correspondent.as_ref().map(|c| c.email.clone()))
        .or_else(|| support.applications.as_ref().map(|c| c.email.clone()));
    let html = AccessibilityPage {
        l: ctx.layout("Accessibilité"),
        legal: &support.legal,
        contact,
    }
    .render()?;
    Ok(Html(html).into_response())
}
