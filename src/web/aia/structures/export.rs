//! "Exporter" the members of a structure.

use crate::directory::admin_users::UserFilter;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::csv_export;
use crate::web::aia::extract::{require, SignedIn};
use crate::web::aia::FrPath;
use crate::web::error::{WebError, WebResult};

use axum::response::Response;

use super::visible;

/// "Exporter" the members of a structure.
pub async fn export(FrPath(id): FrPath<i64>, who: Option<SignedIn>) -> WebResult<Response> {
    let who = who.ok_or(WebError::Forbidden)?;
    let s = visible(&who, id).await?;
    require(who.viewer.can_export())?;
    who.require_recent().await?;
    who.audit(
        AuditAction::StructureMembersExported,
        &s.short_name,
        Some(s.id),
        "",
    )
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
