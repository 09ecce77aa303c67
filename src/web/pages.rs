//! Template structs, one per page (askama, compiled in). The proxy renders its error pages from
//! here too, once at start-up.

use askama::Template;

/// Fields shared by every gateway page.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub title: String,
    pub user_name: Option<String>,
    pub csrf: String,
    pub portal_url: String,
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
#[template(path = "login.html")]
pub struct LoginPage {
    pub l: Layout,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub return_to: String,
}

pub struct Tile {
    pub name: String,
    pub description: String,
    pub url: String,
    pub initials: String,
    pub is_directory: bool,
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
#[template(path = "error.html")]
pub struct ErrorPage {
    pub l: Layout,
    pub status: u16,
    pub heading: String,
    pub message: String,
    pub request_id: String,
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
