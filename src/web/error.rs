//! The portal's one error type, mapped to French pages in one place. Internal details are logged
//! with an incident reference and never shown.

use super::pages::{ErrorPage, Layout};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// 404: unknown page or object outside the viewer's reach.
    #[error("not found")]
    NotFound,
    /// 403: the viewer may not do this.
    #[error("forbidden")]
    Forbidden,
    /// 303 to the login form: an action arrived without a session (it ended in another tab,
    /// or timed out). Nothing was done.
    #[error("login required")]
    LoginRequired,
    /// 303 to the enrolment page: the second-factor policy's grace period is over and the
    /// account has no factor yet (docs/security.md#second-factor-policy).
    #[error("second factor enrolment required")]
    EnrolmentRequired,
    /// 303 to the confirmation of identity (step-up, docs/security.md#step-up): the action is
    /// sensitive and the session's authentication too old. Nothing was done.
    #[error("identity confirmation required")]
    ConfirmIdentity(String),
    /// 400 with a French message for the user.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A request refused before any handler looked at it (malformed, too large, wrong content
    /// type, NUL byte...): the status is kept, the page is French
    /// ([`crate::error_page::rejection_text`]).
    #[error("rejected: {0}")]
    Rejected(StatusCode),
    /// 503: the session store cannot be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 503: the directory (database) cannot be reached; the page says so
    /// (docs/operations.md#directory-down).
    #[error("directory unavailable: {0}")]
    DirectoryUnavailable(String),
    /// 500: a bug or an unexpected failure.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<crate::directory::DirectoryError> for WebError {
    fn from(e: crate::directory::DirectoryError) -> Self {
        match e {
            crate::directory::DirectoryError::NotFound => WebError::NotFound,
            e if e.is_outage() => WebError::DirectoryUnavailable(e.to_string()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<crate::session::SessionError> for WebError {
    fn from(e: crate::session::SessionError) -> Self {
        WebError::Unavailable(e.to_string())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::LoginRequired = self {
            return (
                StatusCode::SEE_OTHER,
                [(axum::http::header::LOCATION, "/login?expired=1")],
            )
                .into_response();
        }
        if let WebError::ConfirmIdentity(location) = &self {
            return match axum::http::HeaderValue::from_str(location) {
                Ok(v) => {
                    (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, v)]).into_response()
                }
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            };
        }
        if let WebError::EnrolmentRequired = self {
            return (
                StatusCode::SEE_OTHER,
                [(
                    axum::http::header::LOCATION,
                    crate::proxy::routes::ENROLMENT_PATH,
                )],
            )
                .into_response();
        }
        let mut reference = String::new();
        let (status, heading, message) = match &self {
            WebError::LoginRequired
            | WebError::EnrolmentRequired
            | WebError::ConfirmIdentity(_) => (StatusCode::SEE_OTHER, "", String::new()),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page introuvable",
                "La page demandée n'existe pas ou ne vous est pas accessible.".to_string(),
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Accès refusé",
                "Vous n'avez pas les droits nécessaires pour cette action.".to_string(),
            ),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Demande invalide", m.clone()),
            WebError::Rejected(status) => {
                let (heading, message) = crate::error_page::rejection_text(*status);
                (*status, heading, message.to_string())
            }
            WebError::Unavailable(detail) => {
                reference = crate::auth::random_token()[..10].to_string();
                tracing::warn!(reference, error = %detail, "service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service momentanément indisponible",
                    "Réessayez dans quelques instants.".to_string(),
                )
            }
            WebError::DirectoryUnavailable(detail) => {
                reference = crate::auth::random_token()[..10].to_string();
                tracing::warn!(reference, error = %detail, "directory unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Annuaire momentanément indisponible",
                    crate::error_page::DIRECTORY_UNAVAILABLE.to_string(),
                )
            }
            WebError::Internal(detail) => {
                reference = crate::auth::random_token()[..10].to_string();
                tracing::error!(reference, error = %detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Erreur interne", "Une erreur inattendue s'est produite. Si elle se reproduit, communiquez la référence ci-dessous à l'assistance.".to_string())
            }
        };
        let page = ErrorPage {
            l: Layout::new(heading, ""),
            status: status.as_u16(),
            heading: heading.to_string(),
            message,
            request_id: reference,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, heading.to_string()).into_response(),
        }
    }
}

pub type WebResult<T> = Result<T, WebError>;
