//! The one page of the demo's test provider: the choice of an account, or a short French
//! message (a refusal, the logout notice).

use super::*;

#[derive(Template)]
#[template(path = "demo_idp.html")]
pub(super) struct Page<'a> {
    pub(super) portal_url: &'a str,
    pub(super) client_id: &'a str,
    pub(super) error: Option<&'a str>,
    pub(super) notice: Option<&'a str>,
    /// The waiting authorization request, empty when the page only tells something.
    pub(super) request: String,
    /// Index, "que/qu'" and name, e-mail, description.
    pub(super) accounts: Vec<(usize, String, &'a str, &'a str)>,
}

impl<'a> Page<'a> {
    pub(super) fn new(idp: &'a Idp) -> Page<'a> {
        Page {
            portal_url: &idp.s.portal_url,
            client_id: CLIENT_ID,
            error: None,
            notice: None,
            request: String::new(),
            accounts: Vec::new(),
        }
    }

    pub(super) fn send(self, status: StatusCode) -> Response {
        let body = self
            .render()
            .unwrap_or_else(|e| format!("template error: {e}"));
        let mut res = (status, Html(body)).into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// A refused request: 400 and a short French message, never a redirect to an address the
/// request named.
pub(super) fn refuse(idp: &Idp, message: &str) -> Response {
    let mut p = Page::new(idp);
    p.error = Some(message);
    p.send(StatusCode::BAD_REQUEST)
}
