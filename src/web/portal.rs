//! "Vos applications" (SPEC 3.2) and the user's own profile.

use super::context::Ctx;
use super::error::WebResult;
use super::pages::{initials, Layout, PortalPage, Tile};
use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};

pub async fn home(ctx: Ctx) -> WebResult<Response> {
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
        })
        .collect();
    tiles.push(Tile {
        name: "Annuaire des identités et des accès".into(),
        description: "Votre profil, vos droits et, pour les référents, la gestion des comptes de votre structure.".into(),
        url: "/aia".into(),
        initials: "AIA".into(),
        is_directory: true,
    });
    let page = PortalPage {
        l: ctx.layout("Vos applications"),
        tiles,
    };
    Ok(Html(page.render()?).into_response())
}

pub struct GrantRow {
    pub app: String,
    pub role: String,
    pub structure: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub struct ProfilePage {
    pub l: Layout,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub structure: String,
    pub app_identifier: String,
    pub grants: Vec<GrantRow>,
}

pub async fn profile(ctx: Ctx) -> WebResult<Response> {
    let Some(user) = &ctx.user else {
        return Ok(Redirect::to("/login?return_to=/aia").into_response());
    };
    let id = &user.ident.identity;
    let grants = id
        .grants
        .iter()
        .map(|g| GrantRow {
            app: ctx
                .gw
                .routes()
                .app_by_slug(&g.app_slug)
                .map_or_else(|| g.app_slug.clone(), |a| a.cfg.name.clone()),
            role: g.role.clone(),
            structure: g.structure_path.clone(),
        })
        .collect();
    let page = ProfilePage {
        l: ctx.layout("Mon profil"),
        first_name: id.first_name.clone(),
        last_name: id.last_name.clone(),
        email: id.email.clone(),
        structure: id.structure_path.clone(),
        app_identifier: id.app_identifier.clone(),
        grants,
    };
    Ok(Html(page.render()?).into_response())
}
