//! Designating and removing référents (platform administrators).

use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{require, Action, CsrfProtected, Sensitive};
use crate::web::aia::FrPath;
use crate::web::aia::{num, see_other};
use crate::web::error::{WebError, WebResult};

use axum::response::Response;
use serde::Deserialize;

use super::visible;

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
    Sensitive(who, f): Sensitive<ReferentForm>,
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
    who.audit(
        AuditAction::ReferentAdded,
        &u.email,
        Some(id),
        &s.short_name,
    )
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
    who.audit(
        AuditAction::ReferentRemoved,
        &u.email,
        Some(id),
        &s.short_name,
    )
    .await?;
    who.gw().user_changed(uid);
    Ok(see_other(
        &format!("/aia/structures?id={id}"),
        "referent-retire",
    ))
}
