//! "Identité externe" on an account's card: a référent removes the link between the account
//! and its identity at a provider (docs/identity-providers.md#account-linking), e.g. when the
//! wrong identity was linked. The account's sessions end; the next sign-in through the
//! provider is a first sign-in again.

use super::managed_user;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{Action, CsrfProtected};
use crate::web::aia::see_other;
use crate::web::aia::FrPath;
use crate::web::error::{WebError, WebResult};
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UnlinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    fournisseur: String,
}

impl CsrfProtected for UnlinkForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn unlink_provider(
    FrPath(id): FrPath<i64>,
    Action(who, f): Action<UnlinkForm>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if f.fournisseur.is_empty() || f.fournisseur.len() > 64 {
        return Err(WebError::NotFound);
    }
    if !who.dir().unlink_identity(id, &f.fournisseur).await? {
        return Err(WebError::NotFound);
    }
    who.audit(
        AuditAction::ProviderUnlinked,
        &u.email,
        Some(u.structure_id),
        &format!("provider: {}", f.fournisseur),
    )
    .await?;
    who.gw().revoke_user(id).await?;
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "dissocie"))
}
