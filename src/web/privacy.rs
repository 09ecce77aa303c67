//! "Données personnelles": what the portal keeps about a person and for how long, with the
//! durations this instance is configured with (docs/security.md#personal-data). Public, so
//! that anyone can read it before signing in.

use super::context::PortalRequest;
use super::error::WebResult;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    l: super::pages::Layout,
    idle_minutes: u64,
    absolute_hours: u64,
    sign_in_days: i64,
    audit_days: u32,
    browser_cookie_days: i64,
}

pub async fn page(ctx: PortalRequest) -> WebResult<Response> {
    let s = &ctx.gw.config.sessions;
    let html = PrivacyPage {
        l: ctx.layout("Données personnelles"),
        idle_minutes: s.idle_timeout.as_secs().div_ceil(60),
        absolute_hours: s.absolute_timeout.as_secs().div_ceil(3600),
        sign_in_days: crate::directory::sign_ins::RETENTION_DAYS,
        audit_days: ctx.gw.config.audit_retention_days,
        browser_cookie_days: super::account_events::BROWSER_COOKIE_DAYS,
    }
    .render()?;
    Ok(Html(html).into_response())
}
