//! The card of an account: its data, applications and roles, and what the viewer may do with it.

use super::{manages_account, visible_user};
use crate::directory::admin_users::UserRecord;
use crate::web::aia::extract::SignedIn;
use crate::web::aia::{fmt_date, fmt_ts, grant_rows, FlashQuery, GrantRow, Nav};
use crate::web::aia::{FrPath, FrQuery};
use crate::web::error::WebResult;
use crate::web::pages::Layout;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "aia/user_card.html")]
pub struct CardPage {
    pub l: Layout,
    pub nav: Nav,
    pub u: UserRecord,
    pub grants: Vec<GrantRow>,
    pub manage: bool,
    pub is_self: bool,
    pub last_login: String,
    pub created: String,
    /// "heure de Paris": what the times are in.
    pub zone: String,
    /// Its validity ended before today: it cannot sign in.
    pub expired: bool,
    /// Its validity starts after today: it cannot sign in yet.
    pub upcoming: bool,
    pub valid_from: String,
    pub valid_until: String,
    /// The account has a second factor (a référent may reset it).
    pub has_factor: bool,
    /// Identities at external providers: (provider's name, slug, e-mail at linking, date).
    pub links: Vec<(String, String, String, String)>,
}

async fn card_page(who: &SignedIn, u: UserRecord, nav: Nav) -> WebResult<Html<String>> {
    let v = &who.viewer;
    let tz = &who.gw().config.time_zone;
    let ident = who.dir().identity(u.id).await?;
    let grants = grant_rows(who.gw(), ident.map(|i| i.grants).unwrap_or_default()).await?;
    let providers = who.gw().providers.all();
    let links = who
        .dir()
        .identity_links(u.id)
        .await?
        .into_iter()
        .map(|l| {
            let name = providers
                .iter()
                .find(|p| p.config.slug == l.provider)
                .map(|p| p.config.name.clone())
                .unwrap_or_else(|| l.provider.clone());
            (name, l.provider, l.email, fmt_ts(l.created_at, tz))
        })
        .collect();
    let today = crate::directory::today();
    let page = CardPage {
        expired: u.valid_until.as_deref().is_some_and(|d| d < today.as_str()),
        upcoming: u.valid_from.as_deref().is_some_and(|d| d > today.as_str()),
        l: who.layout(&format!("{} {}", u.first_name, u.last_name)),
        nav,
        manage: manages_account(v, &u),
        is_self: u.id == v.user_id,
        last_login: u.last_login_at.map(|t| fmt_ts(t, tz)).unwrap_or_default(),
        created: fmt_ts(u.created_at, tz),
        zone: crate::web::french::zone_label(tz),
        valid_from: u.valid_from.as_deref().map(fmt_date).unwrap_or_default(),
        valid_until: u.valid_until.as_deref().map(fmt_date).unwrap_or_default(),
        grants,
        has_factor: crate::second_factor::has_factor(who.gw(), u.id).await?,
        links,
        u,
    };
    Ok(Html(page.render()?))
}

pub async fn card(
    FrPath(id): FrPath<i64>,
    FrQuery(q): FrQuery<FlashQuery>,
    who: SignedIn,
) -> WebResult<Response> {
    let u = visible_user(&who, id).await?;
    let nav = who.nav("utilisateurs").with_flash(&q.ok);
    Ok(card_page(&who, u, nav).await?.into_response())
}
