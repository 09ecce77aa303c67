//! "Verrouillage du compte".

use super::managed_user;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{Action, CsrfProtected};
use crate::web::aia::see_other;
use crate::web::aia::FrPath;
use crate::web::error::{WebError, WebResult};
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verrouiller: String,
}

impl CsrfProtected for LockForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// "Verrouillage du compte": a locked account loses its sessions at once.
pub async fn lock(
    FrPath(id): FrPath<i64>,
    Action(who, f): Action<LockForm>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if u.id == who.viewer.user_id {
        return Err(WebError::BadRequest(
            "Vous ne pouvez pas verrouiller votre propre compte.".into(),
        ));
    }
    let locked = f.verrouiller == "1";
    who.dir().set_locked(id, locked).await?;
    let action = if locked {
        AuditAction::UserLocked
    } else {
        AuditAction::UserUnlocked
    };
    who.audit(action, &u.email, Some(u.structure_id), "")
        .await?;
    if locked {
        who.gw().revoke_user(id).await?;
    } else {
        who.gw().user_changed(id);
    }
    Ok(see_other(
        &format!("/aia/utilisateurs/{id}"),
        if locked { "verrouille" } else { "deverrouille" },
    ))
}
