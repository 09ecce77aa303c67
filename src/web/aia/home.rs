//! The AIA home: the tabs the viewer may use and what each is for.

use super::{page_viewer, Access, Nav};
use crate::web::context::PortalRequest;
use crate::web::error::WebResult;
use crate::web::pages::Layout;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "aia/home.html")]
pub struct HomePage {
    pub l: Layout,
    pub nav: Nav,
    pub manager: bool,
}

pub async fn home(ctx: PortalRequest) -> WebResult<Response> {
    let v = match page_viewer(&ctx, "/aia").await? {
        Access::Viewer(v) => v,
        Access::Login(r) => return Ok(r),
    };
    let page = HomePage {
        l: ctx.layout("Annuaire des identités et des accès"),
        nav: Nav::new(&v, "accueil"),
        manager: v.is_manager(),
    };
    Ok(Html(page.render()?).into_response())
}
