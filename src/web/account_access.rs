//! The checks every request to one's own account pages ("Sécurité du compte", "Sessions et
//! connexions") starts with, done by extractors before the handler runs, as the directory's
//! `aia::extract` does for its screens (these pages need the signed-in user only, not the
//! viewer's rights over others):
//!
//! - [`AccountPage`]: a signed-in user; an anonymous visitor is sent to the login form and
//!   brought back to the page.
//! - [`AccountAction`]: the same, and a form whose CSRF token matches the session
//!   (docs/security.md#csrf). Nothing has been changed when either refuses.

use super::aia::extract::{CsrfProtected, EXPIRED_FORM};
use super::aia::FrForm;
use super::context::PortalRequest;
use super::error::WebError;
use crate::state::Gateway;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A request of a signed-in user to their own account pages (`PortalRequest::require_user`
/// cannot fail behind it).
pub struct AccountPage(pub PortalRequest);

/// The page an account request belongs to: its first three path segments
/// (`/aia/profil/securite/totp/confirmer` belongs to `/aia/profil/securite`), where the user
/// comes back after logging in again.
fn account_page_of(path: &str) -> &str {
    match path.match_indices('/').nth(3) {
        Some((end, _)) => &path[..end],
        None => path,
    }
}

fn to_login(path: &str) -> Response {
    let back: String = form_urlencoded::byte_serialize(account_page_of(path).as_bytes()).collect();
    Redirect::to(&format!("/login?return_to={back}")).into_response()
}

impl FromRequestParts<Arc<Gateway>> for AccountPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, gw: &Arc<Gateway>) -> Result<Self, Response> {
        let req = PortalRequest::from_request_parts(parts, gw)
            .await
            .map_err(IntoResponse::into_response)?;
        if req.user.is_none() {
            return Err(to_login(parts.uri.path()));
        }
        Ok(AccountPage(req))
    }
}

/// A form sent from one's own account pages: signed in, form `F` read once, its CSRF token
/// checked. Rejections, in this order: a malformed form (French 400, or 413/415), no session
/// (to the login form, then back to the page), a bad token (French 400).
pub struct AccountAction<F>(pub AccountPage, pub F);

impl<F> FromRequest<Arc<Gateway>> for AccountAction<F>
where
    F: DeserializeOwned + CsrfProtected + Send + 'static,
{
    type Rejection = Response;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let page = AccountPage::from_request_parts(&mut parts, gw).await;
        let FrForm(form) = FrForm::<F>::from_request(Request::from_parts(parts, body), gw)
            .await
            .map_err(IntoResponse::into_response)?;
        let page = page?;
        if !page.0.csrf_ok(form.csrf()) {
            return Err(WebError::BadRequest(EXPIRED_FORM.into()).into_response());
        }
        Ok(AccountAction(page, form))
    }
}

#[cfg(test)]
mod tests {
    use super::account_page_of;

    #[test]
    fn an_action_belongs_to_the_page_above_it() {
        assert_eq!(
            account_page_of("/aia/profil/securite/totp/confirmer"),
            "/aia/profil/securite"
        );
        assert_eq!(
            account_page_of("/aia/profil/sessions/deconnecter"),
            "/aia/profil/sessions"
        );
        assert_eq!(
            account_page_of("/aia/profil/sessions"),
            "/aia/profil/sessions"
        );
        assert_eq!(account_page_of("/"), "/");
    }
}
