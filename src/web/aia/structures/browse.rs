//! The STRUCTURES tab: the tree, a search, the selected structure with its data, référents and
//! members.

use crate::directory::access::depth;
use crate::directory::admin_structures::{ReferentRow, StructureInfo};
use crate::directory::admin_users::UserFilter;
use crate::web::aia::extract::{require, SignedIn};
use crate::web::aia::users::ListRow;
use crate::web::aia::{fmt_ts, num, page_number, per_page, Pager, PER_PAGE};
use crate::web::aia::{FrQuery, Nav};
use crate::web::error::WebResult;
use crate::web::pages::Layout;
use askama::Template;

use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::tree::{tree_events, TreeEvent};
use super::visible;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    par_page: String,
    #[serde(default)]
    ok: String,
    #[serde(default)]
    err: String,
}

pub struct Selected {
    pub s: StructureInfo,
    pub label: String,
    pub own_domains: Vec<String>,
    pub domains: Vec<String>,
    pub referents: Vec<ReferentRow>,
    pub principal: bool,
    pub can_edit: bool,
    pub can_create_child: bool,
}

#[derive(Template)]
#[template(path = "aia/structures.html")]
pub struct StructuresPage {
    pub l: Layout,
    pub nav: Nav,
    pub tree: Vec<TreeEvent>,
    pub q: String,
    pub results: Vec<(i64, String, String)>,
    pub selected: Option<Selected>,
    pub members: Vec<ListRow>,
    pub pager: Pager,
    pub per_page_choices: Vec<i64>,
    pub admin: bool,
}

/// Error codes of redirects back to the structure page.
fn error_message(code: &str) -> Option<String> {
    Some(
        match code {
            "inconnu" => "Aucun compte ne correspond à cette adresse e-mail.",
            "hors-structure" => "Le référent doit appartenir à cette structure ou à une structure de son arborescence.",
            _ => return None,
        }
        .to_string(),
    )
}

pub async fn page(FrQuery(q): FrQuery<PageQuery>, who: SignedIn) -> WebResult<Response> {
    let (v, dir) = (&who.viewer, who.dir());
    require(v.is_manager())?;
    let scope = v.manage_scope();
    // A référent lands on the structure they were designated for.
    let default_id = if q.q.trim().is_empty() && !v.platform_admin {
        v.referent_paths.first().and_then(|p| {
            crate::directory::admin_structures::path_ids(p)
                .last()
                .copied()
        })
    } else {
        None
    };
    let selected_info = if !q.id.trim().is_empty() {
        Some(visible(&who, num(&q.id, 0)).await?)
    } else if let Some(id) = default_id {
        Some(visible(&who, id).await?)
    } else {
        None
    };
    let nodes = dir
        .structure_tree(&scope, selected_info.as_ref().map(|s| s.path.as_str()))
        .await?;
    let counts = dir
        .children_counts(&nodes.iter().map(|n| n.id).collect::<Vec<_>>())
        .await?;
    let tree = tree_events(&nodes, selected_info.as_ref().map(|s| s.id), &counts);
    let results = if q.q.trim().is_empty() {
        Vec::new()
    } else {
        let found = dir.search_structures(&scope, &q.q, 50).await?;
        let paths: Vec<&str> = found.iter().map(|s| s.path.as_str()).collect();
        let labels = dir.path_labels(&paths).await?;
        found
            .iter()
            .map(|s| {
                let label = labels.get(&s.path).cloned().unwrap_or_default();
                (s.id, s.display_name().to_string(), label)
            })
            .collect()
    };
    let per_page = per_page(&q.par_page);
    let page_no = page_number(&q.page);
    let mut members = Vec::new();
    let mut total = 0;
    let mut selected = None;
    if let Some(s) = selected_info {
        let f = UserFilter {
            structure_id: Some(s.id),
            ..Default::default()
        };
        let (t, rows) = dir
            .list_users(&scope, &f, per_page, (page_no - 1).saturating_mul(per_page))
            .await?;
        total = t;
        members = rows
            .into_iter()
            .map(|r| ListRow {
                is_self: r.id == v.user_id,
                manage: v.can_manage_user(&r.structure_path),
                last_login: r
                    .last_login_at
                    .map(|t| fmt_ts(t, &who.gw().config.time_zone))
                    .unwrap_or_default(),
                expired: false,
                upcoming: None,
                r,
            })
            .collect();
        let labels = dir.path_labels(&[s.path.as_str()]).await?;
        selected = Some(Selected {
            label: labels.get(&s.path).cloned().unwrap_or_default(),
            own_domains: dir.own_domains(s.id).await?,
            domains: dir.allowed_domains(s.id).await?,
            referents: dir.structure_referents(&s).await?,
            principal: depth(&s.path) == 1,
            can_edit: v.can_edit_structure(&s.path),
            can_create_child: v.can_create_structure(Some(&s.path))
                && depth(&s.path) < who.gw().config.structures_max_depth as usize,
            s,
        });
    }
    let id_param = selected
        .as_ref()
        .map(|s| s.s.id.to_string())
        .unwrap_or_default();
    let mut nav = who.nav("structures").with_flash(&q.ok);
    nav.error = error_message(&q.err);
    let page = StructuresPage {
        l: who.layout("Structures"),
        nav,
        tree,
        q: q.q.clone(),
        results,
        pager: Pager::new(
            "/aia/structures",
            &[("id", id_param)],
            page_no,
            per_page,
            total,
        ),
        per_page_choices: PER_PAGE.to_vec(),
        members,
        selected,
        admin: v.platform_admin,
    };
    Ok(Html(page.render()?).into_response())
}
