//! "Journal": the audit log of the viewer's structures (platform admins: everything), with
//! filters on action, dates and text, and its CSV export.

use super::extract::{require, SignedIn};
use super::form::day_start;
use super::FrQuery;
use super::{csv_export, fmt_ts, page_number, per_page, Nav, Pager, PER_PAGE};
use crate::directory::audit_action::AuditAction;
use crate::directory::audit_log::{AuditFilter, AuditRow};
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;

use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

/// The journal's label of a stored action; a code this version does not know is shown as is.
fn label(code: &str) -> String {
    AuditAction::parse(code).map_or_else(|| code.to_string(), |a| a.label().to_string())
}

#[derive(Deserialize, Default)]
pub struct JournalQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    par_page: String,
}

impl JournalQuery {
    /// The filter, days read in the zone the journal shows times in.
    fn filter(&self, tz: &jiff::tz::TimeZone) -> AuditFilter {
        AuditFilter {
            action: self.action.chars().take(64).collect(),
            from: day_start(&self.du, tz, false),
            until: day_start(&self.au, tz, true),
            text: self.q.chars().take(100).collect(),
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("action", self.action.clone()),
            ("du", self.du.clone()),
            ("au", self.au.clone()),
            ("q", self.q.clone()),
        ]
    }
}

pub struct Line {
    pub e: AuditRow,
    pub when: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "aia/journal.html")]
pub struct JournalPage {
    pub l: Layout,
    pub nav: Nav,
    pub q: JournalQuery,
    pub actions: Vec<(&'static str, &'static str)>,
    pub lines: Vec<Line>,
    pub pager: Pager,
    pub per_page_choices: Vec<i64>,
    pub export_url: String,
    /// "heure de Paris": what the dates are in.
    pub zone: String,
}

pub async fn page(FrQuery(q): FrQuery<JournalQuery>, who: SignedIn) -> WebResult<Response> {
    require(who.viewer.can_read_journal())?;
    let per_page = per_page(&q.par_page);
    let page_no = page_number(&q.page);
    let (total, rows) = who
        .dir()
        .list_audit(
            &who.viewer.manage_scope(),
            &q.filter(&who.gw().config.time_zone),
            per_page,
            (page_no - 1).saturating_mul(per_page),
        )
        .await?;
    let params = q.params();
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, val) in &params {
        if !val.is_empty() {
            s.append_pair(k, val);
        }
    }
    let tz = &who.gw().config.time_zone;
    let page = JournalPage {
        zone: crate::web::french::zone_label(tz),
        l: who.layout("Journal"),
        nav: who.nav("journal"),
        export_url: format!("/aia/journal/export.csv?{}", s.finish()),
        pager: Pager::new("/aia/journal", &params, page_no, per_page, total),
        per_page_choices: PER_PAGE.to_vec(),
        actions: AuditAction::ALL
            .iter()
            .map(|a| (a.as_str(), a.label()))
            .collect(),
        lines: rows
            .into_iter()
            .map(|e| Line {
                when: fmt_ts(e.at, tz),
                label: label(&e.action),
                e,
            })
            .collect(),
        q,
    };
    Ok(Html(page.render()?).into_response())
}

pub async fn export(
    FrQuery(q): FrQuery<JournalQuery>,
    who: Option<SignedIn>,
) -> WebResult<Response> {
    let who = who.ok_or(WebError::Forbidden)?;
    require(who.viewer.can_read_journal())?;
    who.require_recent().await?;
    who.audit(
        AuditAction::AuditExported,
        "",
        Some(who.viewer.structure_id),
        "",
    )
    .await?;
    let scope = who.viewer.manage_scope();
    let gw = who.gw().clone();
    let tz = gw.config.time_zone.clone();
    let f = q.filter(&tz);
    let date_header = format!("Date ({})", crate::web::french::zone_label(&tz));
    Ok(csv_export::stream(
        "journal.csv",
        &[
            date_header.as_str(),
            "Auteur",
            "Action",
            "Cible",
            "Structure",
            "Adresse IP",
            "Détails",
        ],
        move |cursor| {
            let gw = gw.clone();
            let scope = scope.clone();
            let f = f.clone();
            let tz = tz.clone();
            // The cursor counts down from the newest id; 0 means "start".
            let before = if cursor == 0 { i64::MAX } else { cursor };
            async move {
                let rows = gw
                    .dir
                    .audit_page(&scope, &f, before, csv_export::PAGE)
                    .await?;
                let next = (rows.len() as i64 == csv_export::PAGE)
                    .then(|| rows.last().map(|r| r.id))
                    .flatten();
                let lines = rows
                    .iter()
                    .map(|e| {
                        vec![
                            fmt_ts(e.at, &tz),
                            e.actor.clone(),
                            label(&e.action),
                            e.target.clone(),
                            e.structure.clone(),
                            e.client_ip.clone(),
                            e.details.clone(),
                        ]
                    })
                    .collect();
                Ok((lines, next))
            }
        },
    ))
}
