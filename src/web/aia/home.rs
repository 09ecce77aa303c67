//! The AIA home: the tabs the viewer may use and what each is for.

use super::extract::SignedIn;
use super::Nav;
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

pub async fn home(who: SignedIn) -> WebResult<Response> {
    let page = HomePage {
        l: who.layout("Annuaire des identités et des accès"),
        nav: who.nav("accueil"),
        manager: who.viewer.is_manager(),
    };
    Ok(Html(page.render()?).into_response())
}
