//! "Ajouter une photo" on the edit form.

use super::form::{show_form, UserForm};
use super::managed_user;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::form_page::FormErrors;
use crate::web::aia::photo::PhotoUpload;
use crate::web::aia::see_other;
use crate::web::aia::FrPath;
use crate::web::error::WebResult;
use axum::response::Response;

/// "Ajouter une photo" on the edit form: a manager sets the photo of an account they manage.
pub async fn upload_photo(
    FrPath(id): FrPath<i64>,
    PhotoUpload { who, file }: PhotoUpload,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    match file.reencode().await? {
        Ok(photo) => {
            who.dir()
                .set_photo(id, photo.content_type, photo.bytes)
                .await?;
            who.gw().user_changed(id);
            who.audit(
                AuditAction::PhotoUpdated,
                &u.email,
                Some(u.structure_id),
                "",
            )
            .await?;
            Ok(see_other(
                &format!("/aia/utilisateurs/{id}/editer"),
                "photo-agent",
            ))
        }
        Err(refused) => {
            let f = UserForm::from_record(&u);
            let errors = FormErrors::message(refused.message());
            show_form(&who, Some(id), f, errors, "").await
        }
    }
}
