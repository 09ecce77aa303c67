//! "Profil" (docs/aia.md): the user's own data and rights, and the photo ("Ajouter une photo"),
//! plus the authorised URL that serves photos on directory cards.

use super::photo;
use super::{action_viewer, audit, page_viewer, see_other, Access, Nav};
use super::{FrForm, FrPath, FrQuery};
use crate::directory::access::Viewer;
use crate::directory::admin_users::UserRecord;
use crate::web::context::PortalRequest;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

pub struct GrantRow {
    pub app: String,
    pub role: String,
    pub structure: String,
}

#[derive(Template)]
#[template(path = "aia/profile.html")]
pub struct ProfilePage {
    pub l: Layout,
    pub nav: Nav,
    pub u: UserRecord,
    pub grants: Vec<GrantRow>,
    pub referent_of: Vec<String>,
    pub photo_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct FlashQuery {
    #[serde(default)]
    ok: String,
}

async fn render(
    ctx: &PortalRequest,
    v: &Viewer,
    nav: Nav,
    photo_error: Option<String>,
) -> WebResult<Html<String>> {
    let dir = &ctx.gw.dir;
    let u = dir
        .user_record(v.user_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ident = dir.identity(v.user_id).await?.ok_or(WebError::NotFound)?;
    let grants = ident
        .grants
        .iter()
        .map(|g| GrantRow {
            app: ctx
                .gw
                .routes()
                .app_by_slug(&g.app_slug)
                .map_or_else(|| g.app_slug.clone(), |a| a.cfg.name.clone()),
            role: g.role.clone(),
            structure: g.structure_path.clone(),
        })
        .collect();
    let refs: Vec<&str> = v.referent_paths.iter().map(String::as_str).collect();
    let labels = dir.path_labels(&refs).await?;
    let referent_of = v
        .referent_paths
        .iter()
        .filter_map(|p| labels.get(p).cloned())
        .collect();
    let page = ProfilePage {
        l: ctx.layout("Mon profil"),
        nav,
        u,
        grants,
        referent_of,
        photo_error,
    };
    Ok(Html(page.render()?))
}

pub async fn profile(ctx: PortalRequest, FrQuery(q): FrQuery<FlashQuery>) -> WebResult<Response> {
    let v = match page_viewer(&ctx, "/aia/profil").await? {
        Access::Viewer(v) => v,
        Access::Login(r) => return Ok(r),
    };
    let nav = Nav::new(&v, "profil").with_flash(&q.ok);
    Ok(render(&ctx, &v, nav, None).await?.into_response())
}

async fn fail(ctx: &PortalRequest, v: &Viewer, err: &str) -> WebResult<Response> {
    let nav = Nav::new(v, "profil");
    let html = render(ctx, v, nav, Some(err.to_string())).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

/// Receives the one-file form; any failure re-renders the profile with a French message and
/// stores nothing.
pub async fn upload_photo(
    ctx: PortalRequest,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> WebResult<Response> {
    let (v, data) = photo::receive(&ctx, &headers, body).await?;
    let encoded = match data {
        Ok(data) => photo::process(data).await?,
        Err(e) => Err(e),
    };
    match encoded {
        Ok((content_type, bytes)) => {
            ctx.gw.dir.set_photo(v.user_id, content_type, bytes).await?;
            audit(
                &ctx,
                &v,
                "photo_updated",
                &v.email,
                Some(v.structure_id),
                "",
            )
            .await?;
            Ok(see_other("/aia/profil", "photo"))
        }
        Err(e) => fail(&ctx, &v, e.message()).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn delete_photo(ctx: PortalRequest, FrForm(f): FrForm<CsrfForm>) -> WebResult<Response> {
    let v = action_viewer(&ctx, &f.csrf).await?;
    ctx.gw.dir.delete_photo(v.user_id).await?;
    audit(
        &ctx,
        &v,
        "photo_deleted",
        &v.email,
        Some(v.structure_id),
        "",
    )
    .await?;
    Ok(see_other("/aia/profil", "photo-supprimee"))
}

/// Serves a photo to those who may see the user's card (and to the user).
pub async fn photo(ctx: PortalRequest, FrPath(id): FrPath<i64>) -> WebResult<Response> {
    let v = super::viewer_of(&ctx).await?.ok_or(WebError::NotFound)?;
    if id != v.user_id {
        let u = ctx
            .gw
            .dir
            .user_record(id)
            .await?
            .ok_or(WebError::NotFound)?;
        if !v.can_view_card(&u.structure_path) {
            return Err(WebError::NotFound);
        }
    }
    let (ct, data) = ctx.gw.dir.photo(id).await?.ok_or(WebError::NotFound)?;
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
