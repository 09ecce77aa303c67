//! A new structure: below one the viewer may create in, or a principal establishment (platform
//! administrators).

use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{require, Action, SignedIn};
use crate::web::aia::form::FieldErrors;
use crate::web::aia::form_page::FormErrors;
use crate::web::aia::FrQuery;
use crate::web::aia::{num, see_other};
use crate::web::error::WebResult;

use axum::response::Response;
use serde::Deserialize;

use super::form::too_deep;
use super::form::{check, resolve_parent, show_form, StructureForm};
use super::visible;
use crate::directory::admin_structures::depth_of;

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
    let max_depth = who.gw().config.structures_max_depth;
    let level = parent.as_ref().map_or(1, |p| depth_of(&p.path) + 1);
    if level > max_depth {
        e.add("parent_id", too_deep(max_depth));
    }
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
    who.audit(
        AuditAction::StructureCreated,
        &fields.short_name,
        Some(id),
        &domains,
    )
    .await?;
    Ok(see_other(&format!("/aia/structures?id={id}"), "structure"))
}
