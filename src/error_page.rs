//! The page layout and the French error page, shared by the proxy (which renders its own
//! error pages once at start-up) and the portal: a module below both, so that neither depends
//! on the other for them (docs/architecture.md#layers).

use crate::config::{Contact, Support};
use askama::Template;
use std::sync::Arc;

/// Fields shared by every gateway page.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub title: String,
    pub user_name: Option<String>,
    /// The signed-in user's photo URL (versioned), `None` without a photo: the header menu
    /// then shows their initials.
    pub user_photo: Option<String>,
    pub user_initials: String,
    pub csrf: String,
    pub portal_url: String,
    /// A notice shown on every page (the second-factor policy's deadline).
    pub banner: Option<String>,
    /// The page was built from an identity read before the directory became unreachable
    /// (degraded mode, docs/operations.md): it says so.
    pub directory_unavailable: bool,
    /// The help contacts of the footer (docs/product.md#help-and-contacts).
    pub help: Arc<Support>,
    /// An application's own support, on its 403 page.
    pub app_support: Option<Contact>,
}

tokio::task_local! {
    /// The help contacts of the gateway answering the current request. Error pages are built
    /// where no configuration is at hand (an error converted into a response, an extractor's
    /// rejection); the portal's outermost middleware sets this around every request so that
    /// they show the same help as every other page.
    pub static HELP: Arc<Support>;
}

impl Layout {
    pub fn new(title: &str, portal_url: &str) -> Layout {
        Layout {
            title: title.to_string(),
            portal_url: portal_url.to_string(),
            help: HELP.try_with(Arc::clone).unwrap_or_default(),
            ..Default::default()
        }
    }
}

/// "Marie Dupont" → "MD": the header menu's stand-in for a missing photo.
pub fn initials(first_name: &str, last_name: &str) -> String {
    [first_name, last_name]
        .iter()
        .filter_map(|w| w.trim().chars().next())
        .flat_map(char::to_uppercase)
        .collect()
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

/// Renders the French error page for `status`, with the help contacts of `help` and the
/// application's own support `app_support` (its 403 page).
pub fn error_page(
    portal_url: &str,
    help: &Arc<Support>,
    app_support: Option<&Contact>,
    status: u16,
    heading: &str,
    message: &str,
) -> String {
    let mut l = Layout::new(heading, portal_url);
    l.help = help.clone();
    l.app_support = app_support.cloned();
    ErrorPage {
        l,
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

/// French heading and message for a request refused for its form rather than its meaning
/// (the portal's rejections, and the proxy's answer to a request it cannot parse).
pub fn rejection_text(status: http::StatusCode) -> (&'static str, &'static str) {
    match status {
        http::StatusCode::PAYLOAD_TOO_LARGE => (
            "Envoi trop volumineux",
            "Les données envoyées dépassent la taille autorisée. Allégez-les puis recommencez.",
        ),
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "Format d'envoi non pris en charge",
            "Le formulaire n'a pas été envoyé dans le format attendu. Rechargez la page et recommencez.",
        ),
        http::StatusCode::UNPROCESSABLE_ENTITY => (
            "Formulaire invalide",
            "Le formulaire envoyé est incomplet ou invalide. Rechargez la page et recommencez.",
        ),
        http::StatusCode::METHOD_NOT_ALLOWED => (
            "Action non autorisée sur cette page",
            "Cette adresse ne peut pas être utilisée de cette façon. Revenez au portail et recommencez.",
        ),
        http::StatusCode::UNAUTHORIZED => (
            "Authentification requise",
            "Cette adresse demande une authentification.",
        ),
        http::StatusCode::NOT_FOUND => (
            "Page introuvable",
            "La page demandée n'existe pas ou ne vous est pas accessible.",
        ),
        http::StatusCode::FORBIDDEN => (
            "Accès refusé",
            "Vous n'avez pas les droits nécessaires pour cette action.",
        ),
        http::StatusCode::TOO_MANY_REQUESTS => (
            "Trop de demandes",
            "Trop de demandes ont été envoyées. Patientez quelques instants puis recommencez.",
        ),
        _ => (
            "Demande invalide",
            "La demande envoyée est invalide. Rechargez la page et recommencez.",
        ),
    }
}
