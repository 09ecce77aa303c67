//! The end of every message the product sends: the portal's address and where to ask for help
//! (`[support]`), the same contacts as every page's footer (docs/product.md#help-and-contacts).
//! A key that is not set is not shown.

use crate::config::Support;
use askama::Template;

#[derive(Template)]
#[template(path = "mail/signature.txt")]
struct Text<'a> {
    help: &'a Support,
    portal_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/signature.html")]
struct Html<'a> {
    help: &'a Support,
    portal_url: &'a str,
}

/// The plain-text signature, starting with the "--" line.
pub fn text(help: &Support, portal_url: &str) -> String {
    Text { help, portal_url }
        .render()
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "--\nConvergences — portail des applications".into())
}

/// The same for the HTML alternative (escaped, to be inserted as is).
pub fn html(help: &Support, portal_url: &str) -> String {
    Html { help, portal_url }
        .render()
        .unwrap_or_else(|_| "<p>Convergences — portail des applications</p>".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Contact;

    #[test]
    fn the_signature_lists_the_contacts_that_are_set() {
        let bare = text(&Support::default(), "https://auth.example.fr");
        assert_eq!(
            bare,
            "--\nConvergences — portail des applications\nhttps://auth.example.fr"
        );
        let help = Support {
            correspondent: Some(Contact {
                label: "Correspondant CIG".into(),
                email: "cig@example.fr".into(),
            }),
            guide_url: Some("https://example.fr/guide".into()),
            ..Default::default()
        };
        assert_eq!(
            text(&help, "https://auth.example.fr"),
            "--\nConvergences — portail des applications\nhttps://auth.example.fr\n\nBesoin d'aide ?\n- Correspondant CIG : cig@example.fr\n- Guide utilisateur : https://example.fr/guide"
        );
        let h = html(&help, "https://auth.example.fr");
        assert!(
            h.contains("<a href=\"mailto:cig@example.fr\">cig@example.fr</a>"),
            "{h}"
        );
        assert!(!h.contains("Délégué"), "{h}");
    }
}
