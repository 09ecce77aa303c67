//! AJOUTER: a new account, without password until its first visit.

use super::form::{check, show_form, UserForm, EMAIL_TAKEN};
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{require, SignedIn};
use crate::web::aia::form_page::{Checked, FormErrors};
use crate::web::aia::photo::FormAndPhoto;
use crate::web::aia::see_other;
use crate::web::aia::FrQuery;
use crate::web::error::WebResult;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    structure: String,
}

pub async fn new_form(FrQuery(q): FrQuery<NewQuery>, who: SignedIn) -> WebResult<Response> {
    require(who.viewer.is_manager())?;
    let f = UserForm {
        structure_id: q.structure,
        ..Default::default()
    };
    show_form(&who, None, f, FormErrors::default(), "").await
}

/// AJOUTER, with "Ajouter une photo": a refused photo refuses the whole form (nothing is
/// created), like any other field.
pub async fn create(
    FormAndPhoto {
        who,
        form: f,
        photo,
    }: FormAndPhoto<UserForm>,
) -> WebResult<Response> {
    require(who.viewer.is_manager())?;
    let Checked {
        value: input,
        mut errors,
    } = check(&who, &f, None).await?;
    let photo = super::form::check_photo(photo, &mut errors).await?;
    if !errors.is_empty() {
        return show_form(&who, None, f, errors.into(), "").await;
    }
    let Some(id) = who.dir().create_account(&input, who.viewer.user_id).await? else {
        return show_form(&who, None, f, FormErrors::field("email", EMAIL_TAKEN), "").await;
    };
    who.audit(
        AuditAction::UserCreated,
        &input.email,
        Some(input.structure_id),
        "",
    )
    .await?;
    if let Some(p) = photo {
        who.dir().set_photo(id, p.content_type, p.bytes).await?;
        who.audit(
            AuditAction::PhotoUpdated,
            &input.email,
            Some(input.structure_id),
            "",
        )
        .await?;
    }
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "cree"))
}
