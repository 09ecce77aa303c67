//! "Réinitialisation mot de passe" on the edit form.

use super::form::{show_form, UserForm};
use super::managed_user;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{Action, CsrfOnly};
use crate::web::aia::form_page::FormErrors;
use crate::web::aia::see_other;
use crate::web::aia::FrPath;
use crate::web::error::WebResult;
use axum::response::Response;

/// "Réinitialisation mot de passe": sends a one-time link; the old password stays valid until
/// the new one is set (docs/product.md#first-visit-and-password-reset).
pub async fn reset_password(
    FrPath(id): FrPath<i64>,
    Action(who, _): Action<CsrfOnly>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if who.gw().password_refused(id).await? {
        let f = UserForm::from_record(&u);
        let message = crate::web::password_policy::refused(who.gw());
        let errors = FormErrors::message(format!("{message} Aucun lien n'a été envoyé."));
        return show_form(&who, Some(id), f, errors, "").await;
    }
    match crate::lifecycle::send_password_link(
        who.gw(),
        id,
        crate::directory::tokens::Purpose::Reset,
    )
    .await
    {
        Ok(_) => {
            who.audit(
                AuditAction::PasswordResetSent,
                &u.email,
                Some(u.structure_id),
                "",
            )
            .await?;
            Ok(see_other(&format!("/aia/utilisateurs/{id}/editer"), "lien"))
        }
        Err(e) => {
            tracing::warn!(user_id = id, error = %e, "password reset link not sent");
            let f = UserForm::from_record(&u);
            let errors = FormErrors::message("Le message n'a pas pu être envoyé. Réessayez dans quelques instants ou contactez le correspondant CIG.");
            show_form(&who, Some(id), f, errors, "").await
        }
    }
}
