//! AFFECTER (docs/aia.md#affecter): search the accounts of the viewer's scope, see who already
//! holds the role, and grant it on behalf of a structure. Every id is re-checked: one foreign id
//! and nothing at all is changed; an assignment already held is never duplicated.

use super::apps::{role_of, AdministeredRole};
use super::extract::{require, Action, SignedIn};
use super::form_page::{self, FormErrors, FormPage};
use super::users::ListRow;
use super::{enc, fmt_ts, form, num, page_number, see_other, Pager};
use super::{FrPath, FrQuery, Nav};
use crate::directory::access::ADMIN_ROLE;
use crate::directory::admin_apps::AppInfo;
use crate::directory::admin_users::{UserFilter, MIN_SEARCH};
use crate::directory::audit_action::AuditAction;
use crate::directory::search;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct AssignQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
}

#[derive(Template)]
#[template(path = "aia/assign.html")]
pub struct AssignPage {
    pub l: Layout,
    pub nav: Nav,
    pub app: AppInfo,
    pub role: String,
    pub q: String,
    pub searched: bool,
    /// The users found, each with the structures on whose behalf they already hold the role
    /// (names; empty: not a member).
    pub rows: Vec<(ListRow, Vec<String>)>,
    pub pager: Pager,
    /// "Pour le compte de" as a select, or `None` for a typed structure (large scopes).
    pub structures: Option<Vec<(i64, String, String)>>,
    pub errors: FormErrors,
}

impl FormPage for AssignPage {
    fn errors(&self) -> &FormErrors {
        &self.errors
    }
}

/// AFFECTER: the search `q` (its page `page_no`) and what is wrong with the last submission.
async fn assign_page(
    who: &SignedIn,
    app: AppInfo,
    role: &str,
    q: &str,
    page_no: i64,
    errors: FormErrors,
) -> WebResult<Response> {
    let v = &who.viewer;
    // The same rule as the directory's search: 3 characters once folded.
    let searched = search::needle(q, MIN_SEARCH).is_some();
    let (total, rows) = if searched {
        let f = UserFilter {
            q: q.chars().take(100).collect(),
            ..Default::default()
        };
        who.dir()
            .list_users(&v.manage_scope(), &f, 25, (page_no - 1).saturating_mul(25))
            .await?
    } else {
        (0, Vec::new())
    };
    let role_id = app
        .roles
        .iter()
        .find(|r| r.name == role)
        .map(|r| r.id)
        .ok_or(WebError::NotFound)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let held = who.dir().role_holdings(role_id, &ids).await?;
    let held_ids: Vec<i64> = held.values().flatten().copied().collect();
    let names = who.dir().display_names_by_id(&held_ids).await?;
    let tz = &who.gw().config.time_zone;
    let rows: Vec<(ListRow, Vec<String>)> = rows
        .into_iter()
        .map(|r| {
            let on_behalf: Vec<String> = held
                .get(&r.id)
                .into_iter()
                .flatten()
                .map(|s| names.get(s).cloned().unwrap_or_default())
                .collect();
            let row = ListRow {
                is_self: r.id == v.user_id,
                manage: true,
                last_login: r.last_login_at.map(|t| fmt_ts(t, tz)).unwrap_or_default(),
                expired: false,
                upcoming: None,
                r,
            };
            (row, on_behalf)
        })
        .collect();
    let base = format!(
        "/aia/applications/{}/{}/affecter",
        enc(&app.slug),
        enc(role)
    );
    let page = AssignPage {
        l: who.layout("Affecter des utilisateurs"),
        nav: who.nav("applications"),
        pager: Pager::new(&base, &[("q", q.to_string())], page_no, 25, total),
        structures: super::structure_field::choices(who.dir(), &v.manage_scope()).await?,
        role: role.to_string(),
        q: q.to_string(),
        searched,
        rows,
        app,
        errors,
    };
    form_page::render(&page)
}

pub async fn assign_form(
    FrPath((slug, role)): FrPath<(String, String)>,
    FrQuery(q): FrQuery<AssignQuery>,
    who: SignedIn,
) -> WebResult<Response> {
    let app = role_of(&who, &slug, &role).await?.app;
    require(who.viewer.can_grant_role(&slug, &role))?;
    let page_no = page_number(&q.page);
    assign_page(&who, app, &role, &q.q, page_no, FormErrors::default()).await
}

/// AFFECTER: grants the role to the selected users on behalf of the chosen structure (their
/// own by default). All ids are checked before anything is written.
pub async fn assign(
    FrPath((slug, role)): FrPath<(String, String)>,
    Action(who, pairs): Action<Vec<(String, String)>>,
) -> WebResult<Response> {
    let (v, dir) = (&who.viewer, who.dir());
    let AdministeredRole { app, role_id } = role_of(&who, &slug, &role).await?;
    require(v.can_grant_role(&slug, &role))?;
    let user_ids = form::ids(&pairs, "user_ids");
    if user_ids.is_empty() || user_ids.len() > 500 {
        let q = form::first(&pairs, "q");
        let none = FormErrors::message("Sélectionnez au moins un utilisateur.");
        return assign_page(&who, app, &role, q, 1, none).await;
    }
    if role == ADMIN_ROLE {
        who.require_recent_form(&pairs).await?;
    }
    let mut on_behalf = form::first(&pairs, "structure").trim().to_string();
    let typed = form::first(&pairs, "structure_q").trim();
    if on_behalf.is_empty() && !typed.is_empty() {
        match super::structure_field::by_text(dir, &v.manage_scope(), typed).await? {
            Ok(id) => on_behalf = id.to_string(),
            Err(message) => {
                let q = form::first(&pairs, "q");
                let unknown = FormErrors::message(message);
                return assign_page(&who, app, &role, q, 1, unknown).await;
            }
        }
    }
    let behalf = if on_behalf.is_empty() {
        None
    } else {
        let s = dir
            .structure_info(num(&on_behalf, 0))
            .await?
            .ok_or(WebError::NotFound)?;
        if !v.manages_path(&s.path) {
            return Err(WebError::NotFound);
        }
        Some(s)
    };
    let mut plan = Vec::with_capacity(user_ids.len());
    for uid in &user_ids {
        let u = dir.user_record(*uid).await?.ok_or(WebError::NotFound)?;
        if !v.manages_path(&u.structure_path) {
            return Err(WebError::NotFound);
        }
        let (sid, spath, slabel) = match &behalf {
            Some(s) => (s.id, s.path.clone(), s.short_name.clone()),
            None => (
                u.structure_id,
                u.structure_path.clone(),
                u.structure_label.clone(),
            ),
        };
        require(v.can_change_assignment(&slug, &role, &u.structure_path, &spath))?;
        plan.push((u, sid, slabel));
    }
    // Those who already hold the role on behalf of that structure are left as they are; if
    // that is everyone selected, the page says so and nothing is written.
    let ids: Vec<i64> = plan.iter().map(|(u, _, _)| u.id).collect();
    let held = dir.role_holdings(role_id, &ids).await?;
    let (already, plan): (Vec<_>, Vec<_>) = plan
        .into_iter()
        .partition(|(u, sid, _)| held.get(&u.id).is_some_and(|s| s.contains(sid)));
    if plan.is_empty() {
        let names: Vec<String> = already
            .iter()
            .map(|(u, _, _)| format!("{} {}", u.first_name, u.last_name))
            .collect();
        let q = form::first(&pairs, "q");
        let message = FormErrors::message(format!(
            "Déjà membre{} du rôle « {role} » pour le compte de cette structure : {}. Rien n'a été modifié ; pour l'attribuer pour le compte d'une autre structure, choisissez-la dans « Pour le compte de ».",
            if names.len() > 1 { "s" } else { "" },
            names.join(", ")
        ));
        return assign_page(&who, app, &role, q, 1, message).await;
    }
    for (u, sid, slabel) in &plan {
        dir.assign_role_id(u.id, role_id, *sid, v.user_id).await?;
        who.audit(
            AuditAction::RoleAssigned,
            &u.email,
            Some(*sid),
            &format!("{} : {} ({})", app.name, role, slabel),
        )
        .await?;
        who.gw().user_changed(u.id);
    }
    if plan.len() > 1 {
        who.gw().directory_changed();
    }
    Ok(see_other(
        &format!("/aia/applications?app={}&role={}", enc(&slug), enc(&role)),
        if already.is_empty() {
            "affecte"
        } else {
            "affecte-en-partie"
        },
    ))
}
