//! Per-request context of portal pages: who is asking (session, identity), from where, and the
//! CSRF token their forms must carry.

use super::error::WebError;
use super::pages::Layout;
use crate::proxy::identity_cache::CachedIdentity;
use crate::session::Live;
use crate::state::Gateway;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::Arc;

/// The account behind a request: its session is live and the account usable today (a locked or
/// expired account counts as anonymous, docs/product.md#accounts).
pub struct User {
    pub live: Live,
    pub ident: Arc<CachedIdentity>,
}

/// What every portal handler needs to know about the request it answers, read once by the
/// extractor below: the session and identity come through the proxy's identity cache, so a
/// portal page costs no more than a proxied request (docs/architecture.md#the-portal).
pub struct PortalRequest {
    pub gw: Arc<Gateway>,
    pub session_token: Option<String>,
    pub csrf_cookie: Option<String>,
    pub user: Option<User>,
    pub ip: String,
    pub user_agent: String,
    /// The browser-id cookie (docs/security.md#cookies), when the browser has one.
    pub browser_cookie: Option<String>,
    /// Path and query of the request, e.g. to come back to it after logging in.
    pub path_and_query: String,
}

/// The value of the cookie `name` in a request's headers (the first one, as browsers send the
/// most specific first).
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    for h in headers.get_all(axum::http::header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for c in cookie::Cookie::split_parse(s).flatten() {
            if c.name() == name {
                return Some(c.value().to_string());
            }
        }
    }
    None
}

/// What a session whose grace period is over may still reach: the enrolment itself, the
/// sign-in pages and logout (docs/security.md#second-factor-policy).
fn reachable_before_enrolment(path: &str) -> bool {
    path == "/aia/profil/securite"
        || path.starts_with("/aia/profil/securite/")
        || path == "/logout"
        || path == "/login"
        || path.starts_with("/login/")
}

impl FromRequestParts<Arc<Gateway>> for PortalRequest {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        // Only the proxy talks to this socket, and it always sets X-Forwarded-For itself.
        let ip = header("x-forwarded-for");
        let user_agent: String = header("user-agent").chars().take(256).collect();
        let session_token = cookie_value(&parts.headers, &gw.cookies.session);
        let browser_cookie = cookie_value(&parts.headers, &gw.cookies.browser);
        // A pre-session cookie counts only if this gateway made it, recently.
        let csrf_cookie = cookie_value(&parts.headers, &gw.cookies.csrf).filter(|v| {
            crate::auth::csrf::pre_session_valid(&gw.secret, v, crate::directory::now())
        });
        let mut user = None;
        if let Some(t) = &session_token {
            if let Some(live) = gw.sessions.resolve(t).await? {
                match gw.identities.get(&gw.dir, live.record.user_id).await? {
                    Some(ident) if ident.identity.is_usable(&crate::directory::today()) => {
                        user = Some(User { live, ident })
                    }
                    Some(_) => {}
                    None => gw.sessions.revoke(&live.key).await?,
                }
            }
        }
        if let Some(u) = &user {
            if u.live.record.must_enrol(crate::directory::now())
                && !reachable_before_enrolment(parts.uri.path())
            {
                // Enrolled meanwhile (in another session)? Then this one is free too.
                if crate::second_factor::has_factor(gw, u.live.record.user_id).await? {
                    gw.sessions
                        .modify(&u.live.key, |r| r.enrol_by = None)
                        .await?;
                } else {
                    return Err(WebError::EnrolmentRequired);
                }
            }
        }
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(PortalRequest {
            path_and_query,
            gw: gw.clone(),
            session_token,
            csrf_cookie,
            user,
            ip,
            user_agent,
            browser_cookie,
        })
    }
}

impl PortalRequest {
    /// What CSRF tokens are bound to: the session when logged in, else the pre-session cookie.
    fn csrf_binding(&self) -> Option<&str> {
        if self.user.is_some() {
            self.session_token.as_deref()
        } else {
            self.csrf_cookie.as_deref()
        }
    }

    pub fn csrf_token(&self) -> String {
        self.csrf_binding()
            .map(|b| crate::auth::csrf::token(&self.gw.secret, b))
            .unwrap_or_default()
    }

    pub fn csrf_ok(&self, presented: &str) -> bool {
        self.csrf_binding()
            .is_some_and(|b| crate::auth::csrf::verify(&self.gw.secret, b, presented))
    }

    pub fn layout(&self, title: &str) -> Layout {
        let ident = self.user.as_ref().map(|u| &u.ident.identity);
        Layout {
            title: title.to_string(),
            user_name: ident.map(|i| i.display_name()),
            user_photo: ident.and_then(|i| {
                i.photo_version
                    .map(|v| format!("/aia/photo/{}?v={v}", i.user_id))
            }),
            user_initials: ident
                .map(|i| crate::error_page::initials(&i.first_name, &i.last_name))
                .unwrap_or_default(),
            csrf: self.csrf_token(),
            portal_url: String::new(),
            banner: self.enrolment_banner(),
            directory_unavailable: self
                .user
                .as_ref()
                .is_some_and(|u| self.gw.identities.is_stale(&u.ident)),
            help: self.gw.config.support.clone(),
            app_support: None,
        }
    }

    /// Gives an anonymous visitor the pre-session cookie its forms' CSRF tokens bind to.
    pub fn ensure_csrf_cookie(&mut self, headers: &mut axum::http::HeaderMap) {
        if self.user.is_none() && self.csrf_cookie.is_none() {
            let fresh =
                crate::auth::csrf::pre_session_value(&self.gw.secret, crate::directory::now());
            headers.insert(
                axum::http::header::SET_COOKIE,
                super::set_cookie(&self.gw, &self.gw.cookies.csrf, &fresh, false, false),
            );
            self.csrf_cookie = Some(fresh);
        }
    }

    /// During the grace period of the second-factor policy: until when the user may postpone.
    fn enrolment_banner(&self) -> Option<String> {
        let by = self.user.as_ref()?.live.record.enrol_by?;
        Some(format!(
            "Votre compte doit être protégé par la vérification en deux étapes : activez-la avant le {}.",
            super::french::date(by, &self.gw.config.time_zone)
        ))
    }

    pub fn require_user(&self) -> Result<&User, WebError> {
        self.user.as_ref().ok_or(WebError::Forbidden)
    }
}
