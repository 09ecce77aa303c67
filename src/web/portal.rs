//! "Vos applications" (docs/product.md#portal). The profile lives in the AIA
//! (`web::aia::profile`).

use super::context::PortalRequest;
use super::error::WebResult;
use super::pages::{initials, PortalPage, Tile};
use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};

pub async fn home(ctx: PortalRequest) -> WebResult<Response> {
    let Some(user) = &ctx.user else {
        return Ok(Redirect::to("/login").into_response());
    };
    let id = &user.ident.identity;
    let mut tiles: Vec<Tile> = ctx
        .gw
        .routes()
        .apps
        .iter()
        .filter(|a| id.has_app(&a.cfg.slug))
        .map(|a| Tile {
            initials: initials(&a.cfg.name),
            name: a.cfg.name.clone(),
            description: a.cfg.description.clone(),
            url: a.entry_url.clone(),
            is_directory: false,
            support: a
                .cfg
                .support
                .clone()
                .or_else(|| ctx.gw.config.support.applications.clone()),
        })
        .collect();
    tiles.push(Tile {
        name: "Annuaire des identités et des accès".into(),
        description: "Votre profil, vos droits et, pour les référents, la gestion des comptes de votre structure.".into(),
        url: "/aia".into(),
        initials: "AIA".into(),
        is_directory: true,
        support: ctx.gw.config.support.correspondent.clone(),
    });
    let page = PortalPage {
        l: ctx.layout("Vos applications"),
        tiles,
    };
    Ok(Html(page.render()?).into_response())
}
