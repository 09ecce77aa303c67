//! The users list: search, filters (structure, application and role, account states), pages.

use super::ListRow;
use crate::directory::access::Scope;
use crate::directory::admin_users::{UserFilter, MIN_SEARCH};
use crate::directory::search;
use crate::directory::Directory;
use crate::web::aia::extract::SignedIn;
use crate::web::aia::{fmt_ts, num, page_number, per_page, Nav, Pager, PER_PAGE};
use crate::web::aia::{structure_field, FrQuery};
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub structure: String,
    /// The structure filter typed as text, where a select would hold too many structures.
    #[serde(default)]
    pub structure_q: String,
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub verrouille: String,
    #[serde(default)]
    pub expire: String,
    #[serde(default)]
    pub jamais: String,
    #[serde(default)]
    pub par_page: String,
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub ok: String,
}

impl ListQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("q", self.q.clone()),
            ("structure", self.structure.clone()),
            ("structure_q", self.structure_q.clone()),
            ("app", self.app.clone()),
            ("verrouille", self.verrouille.clone()),
            ("expire", self.expire.clone()),
            ("jamais", self.jamais.clone()),
        ]
    }
}

/// What a structure filter typed as text found, shown above the list.
#[derive(Default)]
pub struct StructureMatches {
    pub labels: Vec<String>,
    pub too_many: bool,
    /// The filter came as a structure id (a link), not as text.
    pub by_id: bool,
}

/// The filter of a users list and, when it names structures, what they turned out to be.
pub(super) struct ListFilter {
    pub filter: UserFilter,
    pub structures: Option<StructureMatches>,
}

/// Turns the query into a filter, checking the structure against the viewer's list scope
/// (an unknown or foreign structure is a 404, like any object out of reach). A structure typed
/// as text filters on every structure of the scope whose name contains it (and their
/// subtrees); more than `structure_field::MATCH_MAX` is refused with a message, not guessed.
pub(super) async fn filter_of(who: &SignedIn, q: &ListQuery) -> WebResult<ListFilter> {
    let (v, dir) = (&who.viewer, who.dir());
    // Account states are for managers only: agents cannot filter colleagues on them.
    let states = v.is_manager();
    let mut f = UserFilter {
        q: q.q.chars().take(100).collect(),
        locked: states && !q.verrouille.is_empty(),
        expired: states && !q.expire.is_empty(),
        never_logged_in: states && !q.jamais.is_empty(),
        ..Default::default()
    };
    let mut matches = None;
    if !q.structure.trim().is_empty() {
        let id = num(&q.structure, 0);
        let s = dir.structure_info(id).await?.ok_or(WebError::NotFound)?;
        if !v.can_view_card(&s.path) {
            return Err(WebError::NotFound);
        }
        matches = Some(StructureMatches {
            labels: vec![s.display_name().to_string()],
            too_many: false,
            by_id: true,
        });
        f.structure_paths = Some(vec![s.path]);
    }
    let text = q.structure_q.trim();
    if q.structure.trim().is_empty() && !text.is_empty() {
        let text: String = text.chars().take(100).collect();
        let found = dir
            .search_structures(
                &v.list_scope(),
                &text,
                structure_field::MATCH_MAX as i64 + 1,
            )
            .await?;
        let too_many = found.len() > structure_field::MATCH_MAX;
        let shown = &found[..found.len().min(structure_field::MATCH_MAX)];
        let paths: Vec<&str> = shown.iter().map(|s| s.path.as_str()).collect();
        let labels = dir.display_names(&paths).await?;
        f.structure_paths = Some(if too_many {
            Vec::new()
        } else {
            shown.iter().map(|s| s.path.clone()).collect()
        });
        matches = Some(StructureMatches {
            labels: paths
                .iter()
                .map(|p| labels.get(*p).cloned().unwrap_or_default())
                .collect(),
            too_many,
            by_id: false,
        });
    }
    if !q.app.trim().is_empty() {
        let (slug, role) = match q.app.split_once('/') {
            Some((a, r)) => (a.to_string(), Some(r.to_string())),
            None => (q.app.clone(), None),
        };
        f.app_role = Some((slug, role));
    }
    Ok(ListFilter {
        filter: f,
        structures: matches,
    })
}

#[derive(Template)]
#[template(path = "aia/users.html")]
pub struct UsersPage {
    pub l: Layout,
    pub nav: Nav,
    pub q: ListQuery,
    pub rows: Vec<ListRow>,
    pub pager: Pager,
    pub per_page_choices: Vec<i64>,
    /// The structure filter as a select; `None` when the scope holds too many structures and
    /// the filter is a search field instead.
    pub structures: Option<Vec<(i64, String, String)>>,
    pub structure_matches: Option<StructureMatches>,
    /// This list without its structure filter.
    pub clear_structure_url: String,
    pub app_choices: Vec<AppChoice>,
    pub can_add: bool,
    pub can_export: bool,
    pub export_url: String,
    pub short_search: bool,
}

/// An option of the application/role filter: `value` is "slug" or "slug/role".
pub struct AppChoice {
    pub value: String,
    pub label: String,
}

/// Every application, then each of its roles.
async fn app_choices(dir: &Directory) -> WebResult<Vec<AppChoice>> {
    let apps = dir.apps_with_roles(None, &Scope::Subtrees(vec![])).await?;
    let mut out = Vec::new();
    for a in apps {
        out.push(AppChoice {
            value: a.slug.clone(),
            label: format!("{} (tous les rôles)", a.name),
        });
        for r in a.roles {
            out.push(AppChoice {
                value: format!("{}/{}", a.slug, r.name),
                label: format!("{} — {}", a.name, r.name),
            });
        }
    }
    Ok(out)
}

pub async fn list(FrQuery(q): FrQuery<ListQuery>, who: SignedIn) -> WebResult<Response> {
    let ListFilter {
        filter: f,
        structures: structure_matches,
    } = filter_of(&who, &q).await?;
    let (v, dir) = (&who.viewer, who.dir());
    let per_page = per_page(&q.par_page);
    let page = page_number(&q.page);
    let scope = v.list_scope();
    let (mut total, mut rows) = dir
        .list_users(&scope, &f, per_page, (page - 1).saturating_mul(per_page))
        .await?;
    let last_page = ((total + per_page - 1) / per_page).max(1);
    if rows.is_empty() && page > last_page && total > 0 {
        // A page past the end (stale link): show the last one instead of an empty list.
        (total, rows) = dir
            .list_users(&scope, &f, per_page, (last_page - 1) * per_page)
            .await?;
    }
    let today = crate::directory::today();
    let rows = rows
        .into_iter()
        .map(|r| ListRow {
            is_self: r.id == v.user_id,
            manage: v.can_manage_user(&r.structure_path),
            last_login: r
                .last_login_at
                .map(|t| fmt_ts(t, &who.gw().config.time_zone))
                .unwrap_or_default(),
            expired: r.valid_until.as_deref().is_some_and(|u| u < today.as_str()),
            upcoming: r
                .valid_from
                .as_deref()
                .filter(|f| *f > today.as_str())
                .map(crate::web::aia::fmt_date),
            r,
        })
        .collect();
    let params = q.params();
    let clear_structure_url = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, val) in &params {
            if !val.is_empty() && !k.starts_with("structure") {
                s.append_pair(k, val);
            }
        }
        format!("/aia/utilisateurs?{}", s.finish())
    };
    let export_url = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, val) in &params {
            if !val.is_empty() {
                s.append_pair(k, val);
            }
        }
        format!("/aia/utilisateurs/export.csv?{}", s.finish())
    };
    let page = UsersPage {
        l: who.layout("Utilisateurs"),
        nav: who.nav("utilisateurs").with_flash(&q.ok),
        pager: Pager::new("/aia/utilisateurs", &params, page, per_page, total),
        per_page_choices: PER_PAGE.to_vec(),
        structures: structure_field::choices(dir, &scope).await?,
        structure_matches,
        clear_structure_url,
        app_choices: app_choices(dir).await?,
        can_add: v.is_manager(),
        can_export: v.can_export(),
        export_url,
        short_search: !q.q.trim().is_empty() && search::needle(&q.q, MIN_SEARCH).is_none(),
        q,
        rows,
    };
    Ok(Html(page.render()?).into_response())
}
