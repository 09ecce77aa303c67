//! The page layout and the French error page, shared by the proxy (which renders its own
//! error pages once at start-up) and the portal: a module below both, so that neither depends
//! on the other for them (docs/architecture.md#layers).

use askama::Template;

/// Fields shared by every gateway page.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub title: String,
    pub user_name: Option<String>,
    pub csrf: String,
    pub portal_url: String,
    /// A notice shown on every page (the second-factor policy's deadline).
    pub banner: Option<String>,
}

impl Layout {
    pub fn new(title: &str, portal_url: &str) -> Layout {
        Layout {
            title: title.to_string(),
            portal_url: portal_url.to_string(),
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub l: Layout,
    pub status: u16,
    pub heading: String,
    pub message: String,
    pub request_id: String,
}

/// Renders the French error page for `status`.
pub fn error_page(portal_url: &str, status: u16, heading: &str, message: &str) -> String {
    ErrorPage {
        l: Layout::new(heading, portal_url),
        status,
        heading: heading.to_string(),
        message: message.to_string(),
        request_id: String::new(),
    }
    .render()
    .unwrap_or_else(|_| format!("Erreur {status}"))
}

/// What users read when the directory cannot be reached, on the portal's 503 page and on the
/// proxy's (docs/operations.md#directory-down).
pub const DIRECTORY_UNAVAILABLE: &str = "L'annuaire (comptes, structures et droits) ne répond pas pour le moment : la connexion, le portail et la gestion de l'annuaire sont indisponibles. Réessayez dans quelques instants.";

/// What users read when the gateway refuses work beyond its limits (docs/operations.md#overload).
pub const OVERLOADED: &str =
    "Le service reçoit trop de demandes en ce moment. Réessayez dans quelques secondes.";
