//! "Exporter" on the users list.

use super::list::{filter_of, ListQuery};
use crate::directory::audit_action::AuditAction;
use crate::web::aia::csv_export;
use crate::web::aia::extract::{require, SignedIn};
use crate::web::aia::FrQuery;
use crate::web::error::{WebError, WebResult};
use axum::response::Response;

/// "Exporter": every user the viewer manages (within the current filters), streamed.
pub async fn export(FrQuery(q): FrQuery<ListQuery>, who: Option<SignedIn>) -> WebResult<Response> {
    let who = who.ok_or(WebError::Forbidden)?;
    require(who.viewer.can_export())?;
    who.require_recent().await?;
    let f = filter_of(&who, &q).await?.filter;
    who.audit(
        AuditAction::UsersExported,
        "",
        Some(who.viewer.structure_id),
        "",
    )
    .await?;
    let scope = who.viewer.manage_scope();
    Ok(csv_export::users(who.gw().clone(), "utilisateurs.csv", scope, f).await?)
}
