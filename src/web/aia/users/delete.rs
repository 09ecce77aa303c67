//! "Supprimer": the confirmation page and the GDPR deletion (docs/aia.md#deletion-gdpr).

use super::managed_user;
use crate::directory::admin_users::UserRecord;
use crate::directory::audit_action::AuditAction;
use crate::directory::audit_log::pseudonym;
use crate::web::aia::extract::{CsrfOnly, Sensitive, SignedIn};
use crate::web::aia::FrPath;
use crate::web::aia::{see_other, Nav};
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

#[derive(Template)]
#[template(path = "aia/user_delete.html")]
pub struct DeletePage {
    pub l: Layout,
    pub nav: Nav,
    pub u: UserRecord,
}

pub async fn confirm_delete(FrPath(id): FrPath<i64>, who: SignedIn) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    let page = DeletePage {
        l: who.layout("Supprimer l'utilisateur"),
        nav: who.nav("utilisateurs"),
        u,
    };
    Ok(Html(page.render()?).into_response())
}

/// GDPR deletion (docs/product.md#account-deletion): personal data gone at once, sessions and
/// assignments revoked, the audit log keeps the event under a non-reversible reference.
pub async fn delete(
    FrPath(id): FrPath<i64>,
    Sensitive(who, _): Sensitive<CsrfOnly>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if u.id == who.viewer.user_id {
        return Err(WebError::BadRequest(
            "Vous ne pouvez pas supprimer votre propre compte.".into(),
        ));
    }
    let reference = pseudonym(&who.gw().secret, &u.email);
    who.dir().delete_user_gdpr(id, &u.email, &reference).await?;
    who.gw().revoke_user(id).await?;
    who.audit(
        AuditAction::UserDeleted,
        &reference,
        Some(u.structure_id),
        "",
    )
    .await?;
    Ok(see_other("/aia/utilisateurs", "supprime"))
}
