//! How every AIA form answers a refused submission: the same page again, with what was typed, a
//! French message next to each wrong field, the list of them above the form, and status 422 so
//! that it is told apart from the page shown fresh. Nothing is changed then
//! (docs/product.md#accounts, docs/security.md#input-and-uploads).

use super::form::FieldErrors;
use crate::web::error::WebResult;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// What a refused submission shows (`templates/aia/form_errors.html`).
#[derive(Clone, Debug, Default)]
pub struct FormErrors {
    /// Shown next to their fields, and listed above the form with links to them.
    pub fields: FieldErrors,
    /// About the form as a whole rather than one field (no user selected, the mail could not
    /// be sent, the photo was refused).
    pub message: Option<String>,
}

impl FormErrors {
    /// One field's message.
    pub fn field(field: &'static str, message: impl Into<String>) -> FormErrors {
        let mut fields = FieldErrors::default();
        fields.add(field, message);
        fields.into()
    }

    /// A message about the whole form.
    pub fn message(message: impl Into<String>) -> FormErrors {
        FormErrors {
            message: Some(message.into()),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.message.is_none()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field)
    }
}

impl From<FieldErrors> for FormErrors {
    fn from(fields: FieldErrors) -> FormErrors {
        FormErrors {
            fields,
            message: None,
        }
    }
}

/// A page built around a form.
pub trait FormPage: askama::Template {
    fn errors(&self) -> &FormErrors;

    /// The message of `field`, for templates (`self.err("email")`).
    fn err(&self, field: &str) -> Option<&str> {
        self.errors().get(field)
    }
}

/// Renders a form page: 200 when it is shown fresh, 422 when it says what was refused.
pub fn render<P: FormPage>(page: &P) -> WebResult<Response> {
    let status = if page.errors().is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// The values a form's checks produced and what they found wrong. Both are kept: some checks
/// need the values even when another field is wrong (a refused e-mail change is audited
/// whatever else the form says).
pub struct Checked<T> {
    pub value: T,
    pub errors: FieldErrors,
}
