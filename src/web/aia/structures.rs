//! STRUCTURES (docs/aia.md, docs/product.md#structures): the tree, the selected structure with
//! its référents and "Membres (N)", creation and edition (référents below their principal
//! structure only; domains, moves and référents by platform admins), and the members export.

use super::extract::{require, Action, CsrfProtected, SignedIn};
use super::form::{self, FieldErrors, MAX_TEXT};
use super::form_page::{self, FormErrors, FormPage};
use super::users::ListRow;
use super::{csv_export, fmt_ts, num, page_number, per_page, see_other, Pager, PER_PAGE};
use super::{FrPath, FrQuery, Nav};
use crate::directory::access::depth;
use crate::directory::admin_structures::{ReferentRow, StructureInfo};
use crate::directory::admin_users::UserFilter;
use crate::directory::DirectoryError;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;

use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;

/// One step of the nested rendering of the tree (askama has no recursion): `kind` is "open"
/// (`<ul>`), "item" (`<li>` and link), "end" (`</li>`) or "close" (`</ul>`).
pub struct TreeEvent {
    pub kind: &'static str,
    pub id: i64,
    pub name: String,
    pub current: bool,
    pub children: i64,
}

impl TreeEvent {
    fn mark(kind: &'static str) -> TreeEvent {
        TreeEvent {
            kind,
            id: 0,
            name: String::new(),
            current: false,
            children: 0,
        }
    }
}

/// Turns the path-ordered nodes into nested-list events, children sorted by name.
pub fn tree_events(
    nodes: &[StructureInfo],
    selected: Option<i64>,
    counts: &HashMap<i64, i64>,
) -> Vec<TreeEvent> {
    let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    let mut children: HashMap<Option<i64>, Vec<&StructureInfo>> = HashMap::new();
    for n in nodes {
        let parent = n.parent_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(n);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| {
            a.short_name
                .to_lowercase()
                .cmp(&b.short_name.to_lowercase())
        });
    }
    fn walk(
        parent: Option<i64>,
        children: &HashMap<Option<i64>, Vec<&StructureInfo>>,
        selected: Option<i64>,
        counts: &HashMap<i64, i64>,
        out: &mut Vec<TreeEvent>,
        guard: usize,
    ) {
        let Some(list) = children.get(&parent) else {
            return;
        };
        if guard > 64 {
            return;
        }
        out.push(TreeEvent::mark("open"));
        for n in list {
            out.push(TreeEvent {
                kind: "item",
                id: n.id,
                name: n.short_name.clone(),
                current: Some(n.id) == selected,
                children: counts.get(&n.id).copied().unwrap_or(0),
            });
            walk(Some(n.id), children, selected, counts, out, guard + 1);
            out.push(TreeEvent::mark("end"));
        }
        out.push(TreeEvent::mark("close"));
    }
    let mut out = Vec::new();
    walk(None, &children, selected, counts, &mut out, 0);
    out
}

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
    pub results: Vec<(i64, String)>,
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

/// A structure the viewer manages, else 404 (existence not revealed).
async fn visible(who: &SignedIn, id: i64) -> WebResult<StructureInfo> {
    let s = who
        .dir()
        .structure_info(id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !who.viewer.can_view_structure(&s.path) {
        return Err(WebError::NotFound);
    }
    Ok(s)
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
            .map(|s| (s.id, labels.get(&s.path).cloned().unwrap_or_default()))
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
                last_login: r.last_login_at.map(fmt_ts).unwrap_or_default(),
                expired: false,
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
            can_create_child: v.can_create_structure(Some(&s.path)),
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

/// "Exporter" the members of a structure.
pub async fn export(FrPath(id): FrPath<i64>, who: Option<SignedIn>) -> WebResult<Response> {
    let who = who.ok_or(WebError::Forbidden)?;
    let s = visible(&who, id).await?;
    require(who.viewer.can_export())?;
    who.audit("structure_members_exported", &s.short_name, Some(s.id), "")
        .await?;
    let scope = who.viewer.manage_scope();
    let f = UserFilter {
        structure_id: Some(s.id),
        ..Default::default()
    };
    Ok(csv_export::users(
        who.gw().clone(),
        &format!("membres-structure-{id}.csv"),
        scope,
        f,
    )
    .await?)
}

#[derive(Deserialize, Default, Clone)]
pub struct StructureForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub parent_id: String,
    /// The parent typed as text (platform administrators, when a select would hold too many
    /// structures); empty means none.
    #[serde(default)]
    pub parent_q: String,
    #[serde(default)]
    pub short_name: String,
    #[serde(default)]
    pub long_name: String,
    #[serde(default)]
    pub postal_address: String,
    #[serde(default)]
    pub domains: String,
}

#[derive(Template)]
#[template(path = "aia/structure_form.html")]
pub struct StructureFormPage {
    pub l: Layout,
    pub nav: Nav,
    pub id: Option<i64>,
    pub f: StructureForm,
    pub errors: FormErrors,
    /// The parent as a select, or `None` for a typed parent (large scopes).
    pub parents: Option<Vec<(i64, String, String)>>,
    pub admin: bool,
    /// Parent chosen by the platform admin, or fixed (shown as text) for référents.
    pub parent_label: String,
}

impl CsrfProtected for StructureForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl FormPage for StructureFormPage {
    fn errors(&self) -> &FormErrors {
        &self.errors
    }
}

impl StructureFormPage {
    pub fn is_parent(&self, id: &i64) -> bool {
        self.f.parent_id == id.to_string()
    }
}

/// The new structure form (`id` is `None`) or the edit form, with what was typed and what is
/// wrong.
async fn show_form(
    who: &SignedIn,
    id: Option<i64>,
    f: StructureForm,
    errors: FormErrors,
) -> WebResult<Response> {
    let v = &who.viewer;
    let parents = if v.platform_admin {
        super::structure_field::choices(who.dir(), &v.manage_scope()).await?
    } else {
        Some(Vec::new())
    };
    let parent_label = match who.dir().structure_info(num(&f.parent_id, 0)).await? {
        Some(p) if v.can_view_structure(&p.path) => who
            .dir()
            .path_labels(&[p.path.as_str()])
            .await?
            .remove(&p.path)
            .unwrap_or_default(),
        _ => String::new(),
    };
    let page = StructureFormPage {
        l: who.layout(if id.is_some() {
            "Éditer la structure"
        } else {
            "Nouvelle structure"
        }),
        nav: who.nav("structures"),
        id,
        f,
        errors,
        parents,
        admin: v.platform_admin,
        parent_label,
    };
    form_page::render(&page)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    parent: String,
}

pub async fn new_form(FrQuery(q): FrQuery<NewQuery>, who: SignedIn) -> WebResult<Response> {
    let parent = if q.parent.trim().is_empty() {
        None
    } else {
        Some(visible(&who, num(&q.parent, 0)).await?)
    };
    require(
        who.viewer
            .can_create_structure(parent.as_ref().map(|p| p.path.as_str())),
    )?;
    let f = StructureForm {
        parent_id: parent.map(|p| p.id.to_string()).unwrap_or_default(),
        ..Default::default()
    };
    show_form(&who, None, f, FormErrors::default()).await
}

/// The fields of the structure form once checked.
struct StructureFields {
    short_name: String,
    long_name: String,
    postal_address: String,
    domains: Vec<String>,
}

/// The checks the new and edit forms share: names, address and (platform admins) domains;
/// what is wrong goes to `e`, next to what the caller found already.
fn check(f: &StructureForm, e: &mut FieldErrors) -> StructureFields {
    StructureFields {
        short_name: form::text(e, "short_name", &f.short_name, true, MAX_TEXT),
        long_name: form::text(e, "long_name", &f.long_name, false, MAX_TEXT),
        postal_address: form::text(e, "postal_address", &f.postal_address, false, 500),
        domains: form::parse_domains(e, "domains", &f.domains),
    }
}

/// Shown when a move would put a structure below itself.
const MOVE_INTO_ITSELF: &str =
    "Une structure ne peut pas être rattachée à elle-même ni à l'une de ses sous-structures.";

/// A parent typed as text by a platform administrator becomes `parent_id`; `Some(message)`
/// when the text designates no structure or several.
async fn resolve_parent(who: &SignedIn, f: &mut StructureForm) -> WebResult<Option<String>> {
    let v = &who.viewer;
    let typed = f.parent_q.trim();
    if !v.platform_admin || typed.is_empty() {
        return Ok(None);
    }
    Ok(
        match super::structure_field::by_text(who.dir(), &v.manage_scope(), typed).await? {
            Ok(id) => {
                f.parent_id = id.to_string();
                None
            }
            Err(message) => Some(message),
        },
    )
}

pub async fn create(Action(who, mut f): Action<StructureForm>) -> WebResult<Response> {
    let v = &who.viewer;
    if let Some(message) = resolve_parent(&who, &mut f).await? {
        return show_form(&who, None, f, FormErrors::field("parent_id", message)).await;
    }
    let parent = if f.parent_id.trim().is_empty() {
        None
    } else {
        Some(visible(&who, num(&f.parent_id, 0)).await?)
    };
    require(v.can_create_structure(parent.as_ref().map(|p| p.path.as_str())))?;
    require(f.domains.trim().is_empty() || v.can_edit_domains())?;
    let mut e = FieldErrors::default();
    let fields = check(&f, &mut e);
    if !e.is_empty() {
        return show_form(&who, None, f, e.into()).await;
    }
    let id = who
        .dir()
        .create_structure_full(
            parent.as_ref().map(|p| p.id),
            &fields.short_name,
            &fields.long_name,
            &fields.postal_address,
        )
        .await?;
    if !fields.domains.is_empty() {
        who.dir().set_domains(id, &fields.domains).await?;
    }
    let domains = fields.domains.join(", ");
    who.audit("structure_created", &fields.short_name, Some(id), &domains)
        .await?;
    Ok(see_other(&format!("/aia/structures?id={id}"), "structure"))
}

pub async fn edit_form(FrPath(id): FrPath<i64>, who: SignedIn) -> WebResult<Response> {
    let s = visible(&who, id).await?;
    require(who.viewer.can_edit_structure(&s.path))?;
    let f = StructureForm {
        csrf: String::new(),
        parent_id: s.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        parent_q: String::new(),
        short_name: s.short_name.clone(),
        long_name: s.long_name.clone(),
        postal_address: s.postal_address.clone(),
        domains: who.dir().own_domains(id).await?.join(", "),
    };
    show_form(&who, Some(id), f, FormErrors::default()).await
}

pub async fn update(
    FrPath(id): FrPath<i64>,
    Action(who, mut f): Action<StructureForm>,
) -> WebResult<Response> {
    let (v, dir) = (&who.viewer, who.dir());
    let s = visible(&who, id).await?;
    require(v.can_edit_structure(&s.path))?;
    let old_domains = dir.own_domains(id).await?;
    if !v.can_edit_domains() {
        // Référents neither see nor change domains or the parent.
        f.domains = old_domains.join(", ");
        f.parent_id = s.parent_id.map(|p| p.to_string()).unwrap_or_default();
    }
    let mut e = FieldErrors::default();
    if let Some(message) = resolve_parent(&who, &mut f).await? {
        e.add("parent_id", message);
    }
    let fields = check(&f, &mut e);
    let new_parent = if e.get("parent_id").is_some() {
        s.parent_id
    } else if f.parent_id.trim().is_empty() {
        None
    } else {
        match dir.structure_info(num(&f.parent_id, 0)).await? {
            Some(p) if v.can_view_structure(&p.path) => {
                if p.path.starts_with(&s.path) {
                    e.add("parent_id", MOVE_INTO_ITSELF);
                }
                Some(p.id)
            }
            _ => {
                e.add("parent_id", "Choisissez une structure de rattachement.");
                None
            }
        }
    };
    if !e.is_empty() {
        return show_form(&who, Some(id), f, e.into()).await;
    }
    dir.update_structure(
        id,
        &fields.short_name,
        &fields.long_name,
        &fields.postal_address,
    )
    .await?;
    let mut details = Vec::new();
    if v.can_edit_domains() && fields.domains != old_domains {
        dir.set_domains(id, &fields.domains).await?;
        details.push(format!("domaines : {}", fields.domains.join(", ")));
    }
    if new_parent != s.parent_id && v.can_move_structure() {
        match dir.move_structure(id, new_parent).await {
            Ok(()) => details.push("structure déplacée".to_string()),
            Err(DirectoryError::Invalid(_)) => {
                let refused = FormErrors::field("parent_id", MOVE_INTO_ITSELF);
                return show_form(&who, Some(id), f, refused).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
    let details = details.join("; ");
    who.audit("structure_updated", &fields.short_name, Some(id), &details)
        .await?;
    who.gw().directory_changed();
    Ok(see_other(&format!("/aia/structures?id={id}"), "structure"))
}

#[derive(Deserialize)]
pub struct ReferentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    user_id: String,
}

impl CsrfProtected for ReferentForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Designates a référent (platform admins): the person must belong to the structure's tree.
pub async fn add_referent(
    FrPath(id): FrPath<i64>,
    Action(who, f): Action<ReferentForm>,
) -> WebResult<Response> {
    let s = visible(&who, id).await?;
    require(who.viewer.can_manage_referents())?;
    let dir = who.dir();
    let Some(uid) = dir.user_id_by_email(f.email.trim()).await? else {
        return Ok(see_other(
            &format!("/aia/structures?id={id}&err=inconnu"),
            "",
        ));
    };
    let u = dir.user_record(uid).await?.ok_or(WebError::NotFound)?;
    let establishment = crate::directory::access::establishment_of(&s.path);
    if !crate::directory::access::in_subtree(&u.structure_path, &establishment) {
        return Ok(see_other(
            &format!("/aia/structures?id={id}&err=hors-structure"),
            "",
        ));
    }
    dir.add_referent(uid, id).await?;
    who.audit("referent_added", &u.email, Some(id), &s.short_name)
        .await?;
    who.gw().user_changed(uid);
    Ok(see_other(&format!("/aia/structures?id={id}"), "referent"))
}

pub async fn remove_referent(
    FrPath(id): FrPath<i64>,
    Action(who, f): Action<ReferentForm>,
) -> WebResult<Response> {
    let s = visible(&who, id).await?;
    require(who.viewer.can_manage_referents())?;
    let uid = num(&f.user_id, 0);
    let u = who
        .dir()
        .user_record(uid)
        .await?
        .ok_or(WebError::NotFound)?;
    if !who.dir().remove_referent(uid, id).await? {
        return Err(WebError::NotFound);
    }
    who.audit("referent_removed", &u.email, Some(id), &s.short_name)
        .await?;
    who.gw().user_changed(uid);
    Ok(see_other(
        &format!("/aia/structures?id={id}"),
        "referent-retire",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, parent: Option<i64>, path: &str, name: &str) -> StructureInfo {
        StructureInfo {
            id,
            parent_id: parent,
            path: path.into(),
            short_name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn tree_events_nest_children_sorted_by_name() {
        let nodes = vec![
            node(2, None, "/2/", "mairie"),
            node(3, Some(2), "/2/3/", "ccas"),
            node(5, Some(2), "/2/5/", "bibliothèque"),
            node(9, Some(7), "/7/8/9/", "orphelin"),
        ];
        let counts = HashMap::from([(2, 2)]);
        let kinds: Vec<String> = tree_events(&nodes, Some(3), &counts)
            .iter()
            .map(|e| match e.kind {
                "item" => format!("{}{}", e.name, if e.current { "*" } else { "" }),
                k => k.to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "open",
                "mairie",
                "open",
                "bibliothèque",
                "end",
                "ccas*",
                "end",
                "close",
                "end",
                "orphelin",
                "end",
                "close"
            ]
        );
    }
}
