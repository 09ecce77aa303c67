//! "Fermer toutes les sessions" on an account's card: a référent whose scope covers the account
//! (or a platform administrator) ends every session of it on every instance, as a lock does but
//! without locking, e.g. after a lost phone. Audited; the owner can sign in again at once.

use super::managed_user;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{Action, CsrfProtected};
use crate::web::aia::see_other;
use crate::web::aia::FrPath;
use crate::web::error::{WebError, WebResult};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct EndSessionsForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for EndSessionsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn end_sessions(
    FrPath(id): FrPath<i64>,
    Action(who, _f): Action<EndSessionsForm>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if u.id == who.viewer.user_id {
        return Err(WebError::BadRequest(
            "Vos propres sessions se gèrent depuis votre profil, page « Sécurité du compte »."
                .into(),
        ));
    }
    if !who.gw().ip_allowed(&who.req.ip) {
        return Err(WebError::Rejected(StatusCode::TOO_MANY_REQUESTS));
    }
    let n = who.gw().revoke_user(id).await?;
    who.audit(
        AuditAction::SessionsEnded,
        &u.email,
        Some(u.structure_id),
        &format!("by a référent: {n} sessions"),
    )
    .await?;
    Ok(see_other(
        &format!("/aia/utilisateurs/{id}"),
        "sessions-fermees",
    ))
}
