//! APPLICATIONS (docs/aia.md): the applications the viewer administers, their roles, the members
//! of a role, "Désaffecter les membres sélectionnés", "Réaffecter" and the export (AFFECTER is
//! in `assign.rs`).
//! Every id in a form is re-checked: one foreign id and nothing at all is changed.

use super::extract::{require, Action, SignedIn};
use super::{csv_export, num, page_number, per_page, see_other, Pager, PER_PAGE};
use super::{enc, form};
use super::{FrPath, FrQuery, Nav};
use crate::directory::access::Viewer;
use crate::directory::access::ADMIN_ROLE;
use crate::directory::admin_apps::{AppInfo, AssignmentInfo, MemberRow};
use crate::directory::admin_users::UserFilter;
use crate::directory::audit_action::AuditAction;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;

use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    app: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    par_page: String,
    #[serde(default)]
    ok: String,
}

pub struct Member {
    pub m: MemberRow,
    pub can_change: bool,
}

pub struct SelectedRole {
    pub app: AppInfo,
    pub role: String,
    pub role_id: i64,
    pub can_assign: bool,
    /// Roles members may be moved to (the current one included when they may change
    /// structure only).
    pub targets: Vec<String>,
    /// Structures members may be moved to ("pour le compte de"), as a select; `None` when
    /// the scope is too large for one (then typed).
    pub structures: Option<Vec<(i64, String, String)>>,
    /// "Réaffecter" can do something here: another role, or another structure.
    pub can_move: bool,
    /// At least one listed member has a checkbox.
    pub any_changeable: bool,
    /// Why the members cannot be changed, or why "Réaffecter" is not offered.
    pub why_not: Option<String>,
}

#[derive(Template)]
#[template(path = "aia/apps.html")]
pub struct AppsPage {
    pub l: Layout,
    pub nav: Nav,
    pub apps: Vec<AppInfo>,
    pub selected: Option<SelectedRole>,
    pub members: Vec<Member>,
    pub pager: Pager,
    pub per_page_choices: Vec<i64>,
    pub q: String,
}

/// The applications listed for the viewer.
async fn visible_apps(who: &SignedIn) -> WebResult<Vec<AppInfo>> {
    let v = &who.viewer;
    let only = if v.platform_admin {
        None
    } else {
        Some(v.admin_apps.as_slice())
    };
    Ok(who.dir().apps_with_roles(only, &v.manage_scope()).await?)
}

/// A role of an application the viewer administers.
pub(super) struct AdministeredRole {
    pub(super) app: AppInfo,
    pub(super) role_id: i64,
}

/// The role `slug`/`role` if the viewer administers the application, else 404.
pub(super) async fn role_of(who: &SignedIn, slug: &str, role: &str) -> WebResult<AdministeredRole> {
    if !who.viewer.can_admin_app(slug) {
        return Err(WebError::NotFound);
    }
    let apps = visible_apps(who).await?;
    find_role(&apps, &who.viewer, slug, role)
}

/// The role among applications already loaded (the page has them: counting every role's
/// members twice per request was most of the page's time at 300 000 assignments).
fn find_role(apps: &[AppInfo], v: &Viewer, slug: &str, role: &str) -> WebResult<AdministeredRole> {
    if !v.can_admin_app(slug) {
        return Err(WebError::NotFound);
    }
    let app = apps
        .iter()
        .find(|a| a.slug == slug)
        .cloned()
        .ok_or(WebError::NotFound)?;
    let role_id = app
        .roles
        .iter()
        .find(|r| r.name == role)
        .map(|r| r.id)
        .ok_or(WebError::NotFound)?;
    Ok(AdministeredRole { app, role_id })
}

pub async fn page(FrQuery(q): FrQuery<PageQuery>, who: SignedIn) -> WebResult<Response> {
    render_page(&who, &q, None).await
}

/// The APPLICATIONS page; with `error`, the refusal of a members action, shown above the
/// list with status 422 (the page keeps its header, its role and its way back).
async fn render_page(who: &SignedIn, q: &PageQuery, error: Option<String>) -> WebResult<Response> {
    let v = &who.viewer;
    require(v.platform_admin || !v.admin_apps.is_empty())?;
    let apps = visible_apps(who).await?;
    let per_page = per_page(&q.par_page);
    let page_no = page_number(&q.page);
    let mut selected = None;
    let mut members = Vec::new();
    let mut total = 0;
    if !q.app.is_empty() && !q.role.is_empty() {
        let AdministeredRole { app, role_id } = find_role(&apps, v, &q.app, &q.role)?;
        let (t, rows) = who
            .dir()
            .role_members(
                role_id,
                &v.manage_scope(),
                &q.q,
                per_page,
                (page_no - 1).saturating_mul(per_page),
            )
            .await?;
        total = t;
        members = rows
            .into_iter()
            .map(|m| Member {
                can_change: v.can_change_assignment(
                    &app.slug,
                    &q.role,
                    &m.user_path,
                    &m.on_behalf_path,
                ),
                m,
            })
            .collect();
        let other_roles: Vec<String> = app
            .roles
            .iter()
            .filter(|r| r.name != q.role && v.can_grant_role(&app.slug, &r.name))
            .map(|r| r.name.clone())
            .collect();
        let can_change_role = v.can_grant_role(&app.slug, &q.role);
        let structures = if can_change_role {
            super::structure_field::choices(who.dir(), &v.manage_scope()).await?
        } else {
            Some(Vec::new())
        };
        let several_structures = structures.as_ref().is_none_or(|c| c.len() > 1);
        let mut targets = other_roles.clone();
        if several_structures {
            targets.insert(0, q.role.clone());
        }
        let any_changeable = members.iter().any(|m| m.can_change);
        let can_move = can_change_role && (!other_roles.is_empty() || several_structures);
        let why_not = if !can_change_role {
            Some(format!(
                "Le rôle « {} » est attribué et retiré par le correspondant CIG (administrateur de la plateforme) : vous ne pouvez ni désaffecter ni réaffecter ses membres.",
                q.role
            ))
        } else if !members.is_empty() && !any_changeable {
            Some("Ces membres détiennent le rôle pour le compte d'une structure hors de votre périmètre : seul le correspondant CIG peut les désaffecter ou les réaffecter.".to_string())
        } else if !can_move && !members.is_empty() {
            Some("« Réaffecter » déplace les membres vers un autre rôle que vous pouvez attribuer ou vers une autre structure de votre périmètre ; ici, il n'y a ni l'un ni l'autre.".to_string())
        } else {
            None
        };
        selected = Some(SelectedRole {
            can_assign: can_change_role,
            role: q.role.clone(),
            role_id,
            targets,
            structures,
            can_move,
            any_changeable,
            why_not,
            app,
        });
    }
    let params = [
        ("app", q.app.clone()),
        ("role", q.role.clone()),
        ("q", q.q.clone()),
    ];
    let mut nav = who.nav("applications").with_flash(&q.ok);
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    nav.error = error;
    let page = AppsPage {
        l: who.layout("Applications"),
        nav,
        apps,
        selected,
        members,
        pager: Pager::new("/aia/applications", &params, page_no, per_page, total),
        per_page_choices: PER_PAGE.to_vec(),
        q: q.q.clone(),
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// "Désaffecter les membres sélectionnés" and "Réaffecter": the selected assignments are
/// removed, or moved to `to_role` (a role the viewer may grant, the current one included)
/// and/or on behalf of `to_structure` (a structure of the viewer's scope; empty: unchanged)
/// (docs/aia.md#reaffecter). Every id is re-checked, both ends of a move included: one foreign
/// id and nothing at all is changed. A form with nothing selected, or a move that changes
/// nothing, shows the page again with the reason.
pub async fn members_action(
    FrPath((slug, role)): FrPath<(String, String)>,
    Action(who, pairs): Action<Vec<(String, String)>>,
) -> WebResult<Response> {
    let v = &who.viewer;
    let AdministeredRole { app, role_id } = role_of(&who, &slug, &role).await?;
    let dir = who.dir();
    let back = PageQuery {
        app: slug.clone(),
        role: role.clone(),
        q: form::first(&pairs, "q").chars().take(100).collect(),
        ..Default::default()
    };
    let action = form::first(&pairs, "action");
    let target = match action {
        "desaffecter" => None,
        "reaffecter" => {
            let to = form::first(&pairs, "to_role").to_string();
            let to_id = app
                .roles
                .iter()
                .find(|r| r.name == to)
                .map(|r| r.id)
                .ok_or(WebError::NotFound)?;
            require(v.can_grant_role(&slug, &to))?;
            let structure = form::first(&pairs, "to_structure").trim().to_string();
            let typed = form::first(&pairs, "to_structure_q").trim();
            let structure = if structure.is_empty() && !typed.is_empty() {
                match super::structure_field::by_text(dir, &v.manage_scope(), typed).await? {
                    Ok(id) => Some(id),
                    Err(message) => return render_page(&who, &back, Some(message)).await,
                }
            } else if structure.is_empty() {
                None
            } else {
                Some(num(&structure, 0))
            };
            let behalf = match structure {
                Some(id) => {
                    let s = dir.structure_info(id).await?.ok_or(WebError::NotFound)?;
                    if !v.manages_path(&s.path) {
                        return Err(WebError::NotFound);
                    }
                    Some(s)
                }
                None => None,
            };
            if to == role && behalf.is_none() {
                let nothing = "Choisissez un autre rôle ou une autre structure « pour le compte de » : la réaffectation demandée ne change rien.";
                return render_page(&who, &back, Some(nothing.into())).await;
            }
            Some((to, to_id, behalf))
        }
        // A form sent without one of its buttons (Enter in a field, a script): the page again.
        _ => {
            let which = "Choisissez « Désaffecter les membres sélectionnés » ou « Réaffecter ».";
            return render_page(&who, &back, Some(which.into())).await;
        }
    };
    let ids = form::ids(&pairs, "ids");
    if ids.is_empty() {
        let none = "Sélectionnez au moins un membre (cochez la case en début de ligne).";
        return render_page(&who, &back, Some(none.into())).await;
    }
    if ids.len() > 1000 {
        let many = "Sélectionnez au plus 1 000 membres à la fois.";
        return render_page(&who, &back, Some(many.into())).await;
    }
    if role == ADMIN_ROLE || target.as_ref().is_some_and(|(to, _, _)| to == ADMIN_ROLE) {
        who.require_recent_form(&pairs).await?;
    }
    let dir = who.dir();
    let mut plan: Vec<AssignmentInfo> = Vec::with_capacity(ids.len());
    for id in &ids {
        let a = dir.assignment(*id).await?.ok_or(WebError::NotFound)?;
        if a.role_id != role_id || !v.manages_path(&a.user_path) {
            return Err(WebError::NotFound);
        }
        require(v.can_change_assignment(&slug, &role, &a.user_path, &a.on_behalf_path))?;
        if let Some((to, _, behalf)) = &target {
            let to_path = behalf
                .as_ref()
                .map_or(a.on_behalf_path.as_str(), |s| s.path.as_str());
            require(v.can_change_assignment(&slug, to, &a.user_path, to_path))?;
        }
        plan.push(a);
    }
    for a in &plan {
        let email = dir
            .user_record(a.user_id)
            .await?
            .map(|u| u.email)
            .unwrap_or_default();
        match &target {
            None => {
                dir.delete_assignment(a.id).await?;
                who.audit(
                    AuditAction::RoleUnassigned,
                    &email,
                    Some(a.structure_id),
                    &format!("{} : {}", app.name, role),
                )
                .await?;
            }
            Some((to, to_id, behalf)) => {
                let to_structure = behalf.as_ref().map_or(a.structure_id, |s| s.id);
                dir.move_assignment_to(a, *to_id, to_structure, v.user_id)
                    .await?;
                let whom = match behalf {
                    Some(s) => format!(" pour le compte de {}", s.display_name()),
                    None => String::new(),
                };
                who.audit(
                    AuditAction::RoleReassigned,
                    &email,
                    Some(to_structure),
                    &format!("{} : {} → {}{}", app.name, role, to, whom),
                )
                .await?;
            }
        }
        who.gw().user_changed(a.user_id);
    }
    if plan.len() > 1 {
        who.gw().directory_changed();
    }
    let code = if target.is_some() {
        "reaffecte"
    } else {
        "desaffecte"
    };
    Ok(see_other(
        &format!("/aia/applications?app={}&role={}", enc(&slug), enc(&role)),
        code,
    ))
}

/// "Exporter" the members of a role (those in the viewer's structures), streamed.
pub async fn export(
    FrPath((slug, role)): FrPath<(String, String)>,
    who: Option<SignedIn>,
) -> WebResult<Response> {
    let who = who.ok_or(WebError::Forbidden)?;
    let v = &who.viewer;
    let AdministeredRole { app, role_id } = role_of(&who, &slug, &role).await?;
    who.require_recent().await?;
    who.audit(
        AuditAction::RoleMembersExported,
        "",
        Some(v.structure_id),
        &format!("{} : {}", app.name, role),
    )
    .await?;
    let place = who
        .dir()
        .place(&v.manage_scope(), &UserFilter::default())
        .await?;
    let gw = who.gw().clone();
    let filename: String = format!("membres-{slug}-{role}.csv")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let names = std::sync::Arc::new(tokio::sync::Mutex::new(std::collections::HashMap::new()));
    Ok(csv_export::stream(
        &filename,
        &csv_export::USER_COLUMNS,
        move |after| {
            let gw = gw.clone();
            let place = place.clone();
            let names = names.clone();
            async move {
                let ids = gw
                    .dir
                    .role_member_ids_page(role_id, &place, after, csv_export::PAGE)
                    .await?;
                let next = (ids.len() as i64 == csv_export::PAGE)
                    .then(|| ids.last().copied())
                    .flatten();
                let mut names = names.lock().await;
                let rows = gw.dir.export_users_by_ids(&ids, &mut names).await?;
                let tz = &gw.config.time_zone;
                Ok((
                    rows.iter().map(|r| csv_export::user_line(r, tz)).collect(),
                    next,
                ))
            }
        },
    ))
}
