//! Template structs, one per page (askama, compiled in). The layout and the error page, which
//! the proxy renders too, are in `crate::error_page`.

pub use crate::error_page::{error_page, ErrorPage, Layout};
use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub l: Layout,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub return_to: String,
    /// "S'identifier avec ..." buttons, one per identity provider.
    pub providers: Vec<ProviderButton>,
}

/// One "S'identifier avec ..." button of the login page.
pub struct ProviderButton {
    pub url: String,
    pub name: String,
    /// False while the provider cannot be reached: the button says so.
    pub available: bool,
}

pub struct Tile {
    pub name: String,
    pub description: String,
    pub url: String,
    pub initials: String,
    pub is_directory: bool,
    /// Where to ask for help with it (docs/product.md#help-and-contacts).
    pub support: Option<crate::config::Contact>,
}

#[derive(Template)]
#[template(path = "portal.html")]
pub struct PortalPage {
    pub l: Layout,
    pub tiles: Vec<Tile>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    pub l: Layout,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub l: Layout,
    pub heading: String,
    pub message: String,
    pub link_url: String,
    pub link_label: String,
}

/// Initials for a tile icon: first letters of the first two words.
pub fn initials(name: &str) -> String {
    let letters: String = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(2)
        .filter_map(|w| w.chars().next())
        .collect();
    letters.to_uppercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn initials_of_names() {
        assert_eq!(super::initials("Net-Cotisations"), "NC");
        assert_eq!(super::initials("BIP"), "B");
        assert_eq!(super::initials("annuaire des identités"), "AD");
    }
}
