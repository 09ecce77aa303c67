//! AJOUTER: a new account, without password until its first visit.

use super::form::{check, show_form, UserForm, EMAIL_TAKEN};
use crate::web::aia::extract::{require, Action, SignedIn};
use crate::web::aia::form_page::{Checked, FormErrors};
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

pub async fn create(Action(who, f): Action<UserForm>) -> WebResult<Response> {
    require(who.viewer.is_manager())?;
    let Checked {
        value: input,
        errors,
    } = check(&who, &f, None).await?;
    if !errors.is_empty() {
        return show_form(&who, None, f, errors.into(), "").await;
    }
    let Some(id) = who
        .dir()
        .create_user_full(&input, who.viewer.user_id)
        .await?
    else {
        return show_form(&who, None, f, FormErrors::field("email", EMAIL_TAKEN), "").await;
    };
    who.audit("user_created", &input.email, Some(input.structure_id), "")
        .await?;
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "cree"))
}
