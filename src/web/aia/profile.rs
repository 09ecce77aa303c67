//! "Profil" (docs/aia.md): the user's own data and rights, and the photo ("Ajouter une photo"),
//! plus the authorised URL that serves photos on directory cards.

use super::extract::{Action, CsrfOnly, SignedIn};
use super::form_page::{self, FormErrors, FormPage};
use super::photo::PhotoUpload;
use super::{grant_rows, see_other, FlashQuery, GrantRow, Nav};
use super::{FrPath, FrQuery};
use crate::directory::admin_users::UserRecord;
use crate::directory::audit_action::AuditAction;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "aia/profile.html")]
pub struct ProfilePage {
    pub l: Layout,
    pub nav: Nav,
    pub u: UserRecord,
    pub grants: Vec<GrantRow>,
    pub referent_of: Vec<String>,
    /// A refused photo, next to the file field.
    pub errors: FormErrors,
}

impl FormPage for ProfilePage {
    fn errors(&self) -> &FormErrors {
        &self.errors
    }
}

async fn show(who: &SignedIn, nav: Nav, errors: FormErrors) -> WebResult<Response> {
    let v = &who.viewer;
    let dir = who.dir();
    let u = dir
        .user_record(v.user_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ident = dir.identity(v.user_id).await?.ok_or(WebError::NotFound)?;
    let grants = grant_rows(who.gw(), ident.grants).await?;
    let refs: Vec<&str> = v.referent_paths.iter().map(String::as_str).collect();
    let labels = dir.display_names(&refs).await?;
    let referent_of = v
        .referent_paths
        .iter()
        .filter_map(|p| labels.get(p).cloned())
        .collect();
    let page = ProfilePage {
        l: who.layout("Mon profil"),
        nav,
        u,
        grants,
        referent_of,
        errors,
    };
    form_page::render(&page)
}

pub async fn profile(FrQuery(q): FrQuery<FlashQuery>, who: SignedIn) -> WebResult<Response> {
    let nav = who.nav("profil").with_flash(&q.ok);
    show(&who, nav, FormErrors::default()).await
}

/// Receives the one-file form; any failure re-renders the profile with a French message and
/// stores nothing.
pub async fn upload_photo(PhotoUpload { who, file }: PhotoUpload) -> WebResult<Response> {
    match file.reencode().await? {
        Ok(photo) => {
            let v = &who.viewer;
            who.dir()
                .set_photo(v.user_id, photo.content_type, photo.bytes)
                .await?;
            // The header shows the photo: the identity carries its version.
            who.gw().user_changed(v.user_id);
            who.audit(
                AuditAction::PhotoUpdated,
                &v.email,
                Some(v.structure_id),
                "",
            )
            .await?;
            Ok(see_other("/aia/profil", "photo"))
        }
        Err(refused) => {
            let errors = FormErrors::field("photo", refused.message());
            show(&who, who.nav("profil"), errors).await
        }
    }
}

pub async fn delete_photo(Action(who, _): Action<CsrfOnly>) -> WebResult<Response> {
    let v = &who.viewer;
    who.dir().delete_photo(v.user_id).await?;
    who.gw().user_changed(v.user_id);
    who.audit(
        AuditAction::PhotoDeleted,
        &v.email,
        Some(v.structure_id),
        "",
    )
    .await?;
    Ok(see_other("/aia/profil", "photo-supprimee"))
}

/// Serves a photo to those who may see the user's card (and to the user).
pub async fn photo(FrPath(id): FrPath<i64>, who: Option<SignedIn>) -> WebResult<Response> {
    let who = who.ok_or(WebError::NotFound)?;
    let v = &who.viewer;
    if id != v.user_id {
        let u = who.dir().user_record(id).await?.ok_or(WebError::NotFound)?;
        if !v.can_view_card(&u.structure_path) {
            return Err(WebError::NotFound);
        }
    }
    let (ct, data) = who.dir().photo(id).await?.ok_or(WebError::NotFound)?;
    let ct = HeaderValue::from_str(&ct).unwrap_or_else(|_| HeaderValue::from_static("image/jpeg"));
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=60"),
            ),
        ],
        data,
    )
        .into_response())
}
