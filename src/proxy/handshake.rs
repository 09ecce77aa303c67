//! What the proxy answers a request that may not reach its application yet: the way to the
//! portal's login or to the single sign-on handshake (docs/decisions/0004-sso-redirect-handshake.md),
//! the handshake's return on the application host, and the detour through the portal for a
//! second factor.

use super::headers::{authority_of, cookie, is_browser_navigation};
use super::pages::{redirect, redirect_with};
use super::routes::{RouteTable, ENROLMENT_PATH, STEP_UP_PATH};
use super::service::Proxy;
use bytes::Bytes;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::Session;

impl Proxy {
    /// The session may not reach the application without a second factor: the account must
    /// enrol one (the policy's grace period is over), or the application requires one that this
    /// session did not use. Browsers go to the portal to do it and come back; others get 403.
    pub(super) async fn second_factor_first(
        &self,
        session: &mut Session,
        routes: &RouteTable,
        must_enrol: bool,
    ) -> Result<bool> {
        let req = session.req_header();
        if !is_browser_navigation(req) {
            return self
                .send_page(session, 403, &self.pages.second_factor)
                .await;
        }
        let portal = &self.gw.config.public_url;
        let location = if must_enrol {
            format!("{portal}{ENROLMENT_PATH}")
        } else {
            let enc: String =
                form_urlencoded::byte_serialize(wanted_url(req, routes).as_bytes()).collect();
            format!("{portal}{STEP_UP_PATH}?mfa=1&return_to={enc}")
        };
        redirect(session, &location, None).await
    }

    /// No usable session: browsers go to the portal (login or handshake), others get 401.
    pub(super) async fn unauthenticated(
        &self,
        session: &mut Session,
        routes: &RouteTable,
        i: usize,
    ) -> Result<bool> {
        let req = session.req_header();
        if !is_browser_navigation(req) {
            let mut h = ResponseHeader::build(401, Some(4))?;
            h.insert_header(header::WWW_AUTHENTICATE, "Cookie realm=\"Convergences\"")?;
            h.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
            let body = Bytes::from_static("Authentification requise.\n".as_bytes());
            h.insert_header(header::CONTENT_LENGTH, body.len())?;
            h.insert_header(header::CACHE_CONTROL, "no-store")?;
            session.write_response_header(Box::new(h), false).await?;
            session.write_response_body(Some(body), true).await?;
            return Ok(true);
        }
        let gw = &self.gw;
        let app = &routes.apps[i];
        let enc: String =
            form_urlencoded::byte_serialize(wanted_url(req, routes).as_bytes()).collect();
        if app.shares_cookie {
            let location = format!("{}/login?return_to={enc}", gw.config.public_url);
            return redirect(session, &location, None).await;
        }
        // The handshake is bound to this browser: the portal's code will only be accepted
        // back here with the same handshake cookie (a cookie already set by a handshake in
        // another tab is reused, so that concurrent handshakes do not void each other).
        let (handshake, set) = match cookie(req, &gw.cookies.handshake) {
            Some(v) if v.len() == 43 && v.bytes().all(is_token_byte) => (v.to_string(), None),
            _ => {
                let v = crate::auth::random_token();
                let c = self.host_cookie(&gw.cookies.handshake, &v, Some(HANDSHAKE_MAX_AGE));
                (v, Some(c))
            }
        };
        let location = format!(
            "{}/sso/authorize?app={}&return_to={enc}&hs={}",
            gw.config.public_url,
            app.cfg.slug,
            crate::session::browser_binding(&handshake)
        );
        redirect(session, &location, set).await
    }

    /// A host-only cookie on the current host (`max_age`: `Some(0)` removes it).
    fn host_cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = cookie::Cookie::new(name.to_string(), value.to_string());
        c.set_http_only(true);
        c.set_same_site(cookie::SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.gw.is_tls());
        if let Some(s) = max_age {
            c.set_max_age(cookie::time::Duration::seconds(s));
        }
        c.to_string()
    }

    /// Second half of the handshake, on the application host: trade the code for a host-only
    /// cookie bound to the central session.
    pub(super) async fn callback(
        &self,
        session: &mut Session,
        routes: &RouteTable,
        i: usize,
    ) -> Result<bool> {
        let gw = &self.gw;
        let app = &routes.apps[i];
        let req = session.req_header();
        let handshake = cookie(req, &gw.cookies.handshake).unwrap_or("").to_string();
        let query = req.uri.query().unwrap_or("").to_string();
        let mut code = String::new();
        let mut back = String::from("/");
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "code" => code = v.into_owned(),
                "return_to" if crate::auth::redirect::is_local_path(&v) => back = v.into_owned(),
                _ => {}
            }
        }
        match gw
            .sessions
            .redeem_code(&code, &app.cfg.slug, &handshake)
            .await
        {
            Ok(Some(link)) => {
                let cookies = [
                    self.host_cookie(&gw.cookies.app, &link, None),
                    self.host_cookie(&gw.cookies.handshake, "", Some(0)),
                ];
                redirect_with(session, &back, &cookies).await
            }
            Ok(None) => self.send_page(session, 400, &self.pages.expired_link).await,
            Err(e) => {
                tracing::warn!(error = %e, "session store unavailable during handshake");
                self.send_page(session, 503, &self.pages.unavailable).await
            }
        }
    }
}

/// How long a handshake may take, from the application host to the portal (login included)
/// and back.
const HANDSHAKE_MAX_AGE: i64 = 15 * 60;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The absolute URL the browser asked for, to come back to it.
fn wanted_url(req: &RequestHeader, routes: &RouteTable) -> String {
    format!(
        "{}://{}{}",
        routes.scheme,
        authority_of(req),
        req.uri.path_and_query().map_or("/", |p| p.as_str())
    )
}
