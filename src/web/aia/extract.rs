//! The checks every directory request starts with, done by extractors before the handler runs,
//! so that no handler can forget one: code that has not passed them has no [`Viewer`] to ask
//! `directory::access` with (lldap's permission-gated handlers follow the same idea).
//!
//! - [`SignedIn`], for pages: the viewer and their rights; an anonymous visitor is sent to the
//!   login form and brought back to the page asked for.
//! - [`Action`], for forms that change something: the form (read once), the viewer, and the
//!   CSRF token checked (docs/security.md#csrf). An action without a session changes nothing and
//!   goes to the login form, since the session may have ended in another tab.
//! - `Option<SignedIn>`, for downloads and photos, which answer 403 or 404 to the anonymous
//!   rather than a login page nobody would see.
//!
//! Référent designations are read from the database on every request (not from the identity
//! cache) so that a removal applies at once (docs/aia.md#authorisation).

use super::{enc, FrForm, Nav};
use crate::directory::access::{Viewer, ADMIN_ROLE};
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::directory::Directory;
use crate::state::Gateway;
use crate::web::context::PortalRequest;
use crate::web::error::{WebError, WebResult};
use crate::web::pages::Layout;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;

/// A request from a signed-in viewer: the portal request and the viewer's rights.
pub struct SignedIn {
    pub req: PortalRequest,
    pub viewer: Viewer,
}

/// The viewer behind `req`, `None` when anonymous.
async fn viewer_of(req: &PortalRequest) -> WebResult<Option<Viewer>> {
    let Some(user) = &req.user else {
        return Ok(None);
    };
    let id = &user.ident.identity;
    let (establishment_path, referent_paths) = req.gw.dir.viewer_paths(id.user_id).await?;
    let mut admin_apps: Vec<String> = id
        .grants
        .iter()
        .filter(|g| g.role == ADMIN_ROLE)
        .map(|g| g.app_slug.clone())
        .collect();
    admin_apps.sort();
    admin_apps.dedup();
    Ok(Some(Viewer {
        user_id: id.user_id,
        email: id.email.clone(),
        structure_id: id.structure_id,
        platform_admin: id.platform_admin,
        referent_paths,
        admin_apps,
        establishment_path,
    }))
}

impl SignedIn {
    /// `None` when `req` is anonymous.
    pub async fn of(req: PortalRequest) -> WebResult<Option<SignedIn>> {
        Ok(viewer_of(&req)
            .await?
            .map(|viewer| SignedIn { req, viewer }))
    }

    pub fn gw(&self) -> &Arc<Gateway> {
        &self.req.gw
    }

    pub fn dir(&self) -> &Directory {
        &self.req.gw.dir
    }

    pub fn layout(&self, title: &str) -> Layout {
        self.req.layout(title)
    }

    /// The tabs this viewer may use, `tab` being the current one.
    pub fn nav(&self, tab: &'static str) -> Nav {
        Nav::new(&self.viewer, tab)
    }

    /// Records what the viewer did, from where (docs/product.md#audit-journal).
    pub async fn audit(
        &self,
        action: AuditAction,
        target: &str,
        structure_id: Option<i64>,
        details: &str,
    ) -> WebResult<()> {
        self.dir()
            .audit(AuditEvent {
                actor_id: Some(self.viewer.user_id),
                actor: &self.viewer.email,
                action,
                target,
                structure_id,
                client_ip: &self.req.ip,
                details,
            })
            .await?;
        Ok(())
    }
}

/// 403 unless `allowed`: for rules that concern the viewer alone (objects out of reach answer
/// 404 instead, so that their existence is not revealed).
pub fn require(allowed: bool) -> WebResult<()> {
    if allowed {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// The login form, then back to the very page asked for, query included.
fn to_login(req: &PortalRequest) -> Response {
    // Every AIA page lies under /aia; the fallback only guards against a future route elsewhere.
    let back = if req.path_and_query.starts_with("/aia") {
        req.path_and_query.as_str()
    } else {
        "/aia"
    };
    Redirect::to(&format!("/login?return_to={}", enc(back))).into_response()
}

impl FromRequestParts<Arc<Gateway>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, gw: &Arc<Gateway>) -> Result<Self, Response> {
        let req = PortalRequest::from_request_parts(parts, gw)
            .await
            .map_err(IntoResponse::into_response)?;
        match viewer_of(&req).await {
            Ok(Some(viewer)) => Ok(SignedIn { req, viewer }),
            Ok(None) => Err(to_login(&req)),
            Err(e) => Err(e.into_response()),
        }
    }
}

impl OptionalFromRequestParts<Arc<Gateway>> for SignedIn {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Option<Self>, WebError> {
        let req = PortalRequest::from_request_parts(parts, gw).await?;
        SignedIn::of(req).await
    }
}

/// A form that carries the CSRF token of the page it was sent from.
pub trait CsrfProtected {
    fn csrf(&self) -> &str;
}

/// A form with nothing but its CSRF token (buttons such as "Supprimer").
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

impl CsrfProtected for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Forms with repeated fields (`ids=1&ids=2`), read as pairs.
impl CsrfProtected for Vec<(String, String)> {
    fn csrf(&self) -> &str {
        super::form::first(self, "csrf")
    }
}

/// The message of a form whose token does not match the session (it was loaded in another
/// session, or forged).
pub const EXPIRED_FORM: &str = "Le formulaire a expiré. Rechargez la page et recommencez.";

/// A sensitive action (docs/security.md#step-up): an [`Action`] whose session authenticated
/// recently enough; otherwise the form is kept and the user sent to confirm their identity,
/// then brought back to send it again. Nothing has been changed when it is refused.
pub struct Sensitive<F>(pub SignedIn, pub F);

impl<F> FromRequest<Arc<Gateway>> for Sensitive<F>
where
    F: DeserializeOwned + CsrfProtected + Send + 'static,
{
    type Rejection = WebError;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, WebError> {
        let (parts, body) = request.into_parts();
        // The body was already read and bounded by the portal's body layer (`web::body`).
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|_| WebError::Rejected(axum::http::StatusCode::PAYLOAD_TOO_LARGE))?;
        let rebuilt = Request::from_parts(parts, axum::body::Body::from(bytes.clone()));
        let Action(who, form) = Action::<F>::from_request(rebuilt, gw).await?;
        crate::web::step_up::require_recent(&who.req, Some(&bytes)).await?;
        Ok(Sensitive(who, form))
    }
}

impl SignedIn {
    /// For a sensitive read (an export): the session authenticated recently enough, else the
    /// error that sends the user to confirm and come back.
    pub async fn require_recent(&self) -> WebResult<()> {
        crate::web::step_up::require_recent(&self.req, None).await
    }

    /// For a form that is sensitive only for some values (granting `administrateur`): the
    /// same check, keeping the form's fields to send them again after the confirmation.
    pub async fn require_recent_form(&self, pairs: &[(String, String)]) -> WebResult<()> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        crate::web::step_up::require_recent(&self.req, Some(body.as_bytes())).await
    }
}

/// A state-changing request: who sends it and the form `F`, its CSRF token checked. Rejections,
/// in this order: a malformed form (French 400, or 413/415), no session (303 to the login
/// form), a bad token (French 400). Nothing has been changed in any of these cases.
pub struct Action<F>(pub SignedIn, pub F);

impl<F> FromRequest<Arc<Gateway>> for Action<F>
where
    F: DeserializeOwned + CsrfProtected + Send + 'static,
{
    type Rejection = WebError;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let req = PortalRequest::from_request_parts(&mut parts, gw).await?;
        let FrForm(form) = FrForm::<F>::from_request(Request::from_parts(parts, body), gw).await?;
        let who = SignedIn::of(req).await?.ok_or(WebError::LoginRequired)?;
        if !who.req.csrf_ok(form.csrf()) {
            return Err(WebError::BadRequest(EXPIRED_FORM.into()));
        }
        Ok(Action(who, form))
    }
}
