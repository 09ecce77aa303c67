//! What a user sees of an answer: [`Page`] holds the status, the Location, the headers and the
//! body of one response, and reads the page's markup (templates/, rendered by askama) the way a
//! person reads the screen: its title and main heading, the flash message, the summary of a
//! refused form and the error under each field, the links, the tables.
//!
//! Text is returned as shown: entities decoded (`d'Exemple`, not `d&#39;Exemple`) and runs of
//! white space collapsed to one space.

use reqwest::blocking::Response;
use reqwest::header::HeaderMap;
use scraper::{ElementRef, Html, Selector};

/// What the French error page says.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorPage {
    /// "Erreur 404".
    pub code: String,
    pub heading: String,
    pub message: String,
}

/// One answer of the gateway, read once.
pub struct Page {
    pub status: u16,
    /// The `Location` header (empty when there is none).
    pub location: String,
    pub headers: HeaderMap,
    pub body: String,
}

fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e:?}"))
}

/// The text of an element as shown: its descendants' text, white space collapsed.
pub fn text_of(e: ElementRef<'_>) -> String {
    squash(&e.text().collect::<String>())
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Page {
    /// Reads a response (its body to the end).
    pub fn of(r: Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.text().unwrap_or_default();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    /// A page from a body read elsewhere (a raw socket, a helper that returns the text).
    pub fn from_body(status: u16, body: String) -> Page {
        Page {
            status,
            location: String::new(),
            headers: HeaderMap::new(),
            body,
        }
    }

    fn doc(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// The text of every element matching `css`, in order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let doc = self.doc();
        doc.select(&sel(css)).map(text_of).collect()
    }

    /// The text of the first element matching `css`.
    pub fn text_at(&self, css: &str) -> Option<String> {
        self.texts(css).into_iter().next()
    }

    /// The value of attribute `attr` of every element matching `css`.
    pub fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        let doc = self.doc();
        doc.select(&sel(css))
            .filter_map(|e| e.value().attr(attr).map(str::to_string))
            .collect()
    }

    /// The markup inside `<main>` (the page without its header and footer), trimmed.
    pub fn main_html(&self) -> String {
        let doc = self.doc();
        let main = doc
            .select(&sel("main"))
            .next()
            .map(|m| m.inner_html())
            .unwrap_or_default();
        main.trim().to_string()
    }

    /// Whether some element matches `css`.
    pub fn has(&self, css: &str) -> bool {
        self.doc().select(&sel(css)).next().is_some()
    }

    /// The whole visible text of the page's `<body>`, as one line.
    pub fn text(&self) -> String {
        self.text_at("body").unwrap_or_default()
    }

    /// The `<title>`, without the ` · Convergences` every page ends it with.
    pub fn title(&self) -> String {
        let t = self.text_at("title").unwrap_or_default();
        t.strip_suffix(" · Convergences").unwrap_or(&t).to_string()
    }

    /// The main heading.
    pub fn h1(&self) -> String {
        self.text_at("h1").unwrap_or_default()
    }

    /// Every `<h2>`, in order.
    pub fn h2s(&self) -> Vec<String> {
        self.texts("h2")
    }

    /// The error page's "Erreur NNN" line (templates/error.html), if this is one.
    pub fn error_code(&self) -> Option<String> {
        self.text_at("p.status-code")
    }

    /// The French error page (templates/error.html), if this is one.
    pub fn error_page(&self) -> Option<ErrorPage> {
        Some(ErrorPage {
            code: self.error_code()?,
            heading: self.h1(),
            message: self.text_at(".narrow > h1 + p").unwrap_or_default(),
        })
    }

    /// Panics unless this is the French error page for `status`, with that status.
    #[track_caller]
    pub fn assert_error(&self, status: u16) -> ErrorPage {
        assert_eq!(self.status, status, "{self:?}");
        let e = self
            .error_page()
            .unwrap_or_else(|| panic!("not an error page: {self:?}"));
        assert_eq!(e.code, format!("Erreur {status}"), "{self:?}");
        e
    }

    /// The "Aide et contacts" box of the footer (templates/help.html): its heading (none when
    /// the page has no such box) and its entries, `Label : address` or `Guide utilisateur`.
    pub fn help(&self) -> (Option<String>, Vec<String>) {
        (self.text_at("#help-title"), self.texts(".help-list li"))
    }

    /// The success message shown at the top (`alert-success`), if any.
    pub fn flash(&self) -> Option<String> {
        self.text_at(".alert-success")
    }

    /// Every error message in an alert box (`alert-error`), in order: the message about the
    /// whole form, the summary of field errors, a refused action's reason.
    pub fn alerts(&self) -> Vec<String> {
        self.texts(".alert-error")
    }

    /// The summary of a refused form (templates/aia/form_errors.html): one entry per field,
    /// `Label : message` as the user reads it, in order.
    pub fn error_summary(&self) -> Vec<String> {
        self.texts("#erreurs li")
    }

    /// The field each summary entry links to (`f-NAME` → `NAME`), in order.
    pub fn error_summary_fields(&self) -> Vec<String> {
        self.attrs("#erreurs li a", "href")
            .into_iter()
            .map(|h| h.trim_start_matches("#f-").to_string())
            .collect()
    }

    /// The error shown under field `name` (`<p class="field-error" id="e-NAME">`).
    pub fn field_error(&self, name: &str) -> Option<String> {
        self.text_at(&format!("p.field-error#e-{name}"))
    }

    /// Whether some error the page shows (an alert box or a field's error) contains `text`.
    pub fn shows_error(&self, text: &str) -> bool {
        self.alerts()
            .iter()
            .chain(self.field_errors().iter())
            .any(|e| e.contains(text))
    }

    /// Every field error of the page, with or without a field.
    pub fn field_errors(&self) -> Vec<String> {
        self.texts(".field-error")
    }

    /// What field `name` holds: an input's `value`, a textarea's text, a select's chosen
    /// option's value.
    pub fn field_value(&self, name: &str) -> Option<String> {
        let doc = self.doc();
        let e = doc.select(&sel(&format!("[name=\"{name}\"]"))).next()?;
        match e.value().name() {
            "textarea" => Some(e.text().collect()),
            "select" => e
                .select(&sel("option[selected]"))
                .next()
                .and_then(|o| o.value().attr("value").map(str::to_string)),
            _ => e.value().attr("value").map(str::to_string),
        }
    }

    /// The options of the select `id`, as (value, shown text).
    pub fn options(&self, select_id: &str) -> Vec<(String, String)> {
        let doc = self.doc();
        doc.select(&sel(&format!("select#{select_id} option")))
            .map(|o| {
                (
                    o.value().attr("value").unwrap_or("").to_string(),
                    text_of(o),
                )
            })
            .collect()
    }

    /// The `<dd>` of the first `<dt>` that reads `term` (the cards' "label: value" lists).
    pub fn definition(&self, term: &str) -> Option<String> {
        let doc = self.doc();
        let dt = doc.select(&sel("dt")).find(|dt| text_of(*dt) == term)?;
        let dd = dt.next_siblings().find_map(ElementRef::wrap).map(text_of);
        dd
    }

    /// Whether a link reads exactly `text`.
    pub fn has_link(&self, text: &str) -> bool {
        self.link(text).is_some()
    }

    /// The address of the first link that reads exactly `text`.
    pub fn link(&self, text: &str) -> Option<String> {
        let doc = self.doc();
        let found = doc
            .select(&sel("a"))
            .find(|a| text_of(*a) == text)
            .map(|a| a.value().attr("href").unwrap_or("").to_string());
        found
    }

    /// Every link's address, in order.
    pub fn hrefs(&self) -> Vec<String> {
        self.attrs("a[href]", "href")
    }

    /// The `mailto:` addresses of the page, in order.
    pub fn mailtos(&self) -> Vec<String> {
        self.hrefs()
            .into_iter()
            .filter_map(|h| h.strip_prefix("mailto:").map(str::to_string))
            .collect()
    }

    /// The body rows of the table whose `<caption>` reads `caption` or whose id is `caption`,
    /// each as its cells' text (header cells of the row included). Panics when there is no such
    /// table.
    pub fn table_rows(&self, caption: &str) -> Vec<Vec<String>> {
        self.table(caption)
            .unwrap_or_else(|| panic!("no table {caption:?} in\n{}", self.body))
    }

    /// Like [`Page::table_rows`], `None` when the page has no such table (an empty list shows
    /// a message instead of a table).
    pub fn table(&self, caption: &str) -> Option<Vec<Vec<String>>> {
        let doc = self.doc();
        let table = doc.select(&sel("table")).find(|t| {
            t.value().attr("id") == Some(caption)
                || t.select(&sel("caption")).next().map(text_of).as_deref() == Some(caption)
        })?;
        let rows = table
            .select(&sel("tbody tr"))
            .map(|tr| tr.select(&sel("td, th")).map(text_of).collect())
            .collect();
        Some(rows)
    }

    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        self.attrs("input[name=\"csrf\"]", "value")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("a csrf field in\n{}", self.body))
    }
}

impl std::fmt::Debug for Page {
    /// The status, the Location and the body: what an assertion message needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}\n{}",
            self.status,
            if self.location.is_empty() {
                ""
            } else {
                &self.location
            },
            self.body
        )
    }
}
