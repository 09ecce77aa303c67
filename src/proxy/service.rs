//! `impl ProxyHttp`: authentication in `request_filter`, identity headers in
//! `upstream_request_filter`, French pages in `fail_to_proxy`, one access-log line per request
//! in `logging`.

use super::client_addr::client_ip;
use super::headers::{
    append_gateway_headers, cookie, cookie_name_of, host_of, scan_cookies, strip_identity_headers,
    take_cookies_as, CookieLayout, ReservedHeaders,
};
use super::identity_cache::{AppHeaders, CachedIdentity};
use super::memo::{Decision, DecisionMemo, Stamp, LIFETIME};
use super::pages::{Pages, FORBIDDEN_HEADING, FORBIDDEN_MESSAGE};
use super::routes::{AppRoute, RouteTable, Target, CALLBACK_PATH};
use super::thread_routes::{HeldRoutes, ThreadRoutes};
use crate::error_page::error_page;
use crate::state::Gateway;
use async_trait::async_trait;
use bytes::Bytes;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use std::sync::Arc;
use std::time::Instant;

pub struct Proxy {
    pub(super) gw: Arc<Gateway>,
    portal_peer: HttpPeer,
    pub(super) pages: Pages,
    /// Cookie names no application may receive or set (see `CookieNames::reserved`).
    reserved_cookies: Vec<String>,
    /// The header names a client may not send to the portal: the fixed lists alone.
    portal_reserved: ReservedHeaders,
    /// Recent decisions of [`Proxy::authorize`], per thread (`memo.rs`).
    memo: DecisionMemo,
    /// The routing table, held per thread (`thread_routes.rs`).
    routes: ThreadRoutes,
}

pub struct Ctx {
    /// The routing table this request was routed with, kept for all its phases even if the
    /// configuration is reloaded meanwhile.
    routes: Option<HeldRoutes>,
    target: Target,
    headers: Option<Arc<AppHeaders>>,
    user_id: Option<i64>,
    /// Where the gateway's cookies stand in the request, read with the session cookie.
    cookies: CookieLayout,
    upstream: Option<usize>,
    tries: usize,
    started: Instant,
    /// This request's place among the requests in flight (`resilience.max_requests`).
    admitted: Option<crate::resilience::Permit>,
}

impl Proxy {
    pub fn new(gw: Arc<Gateway>) -> Result<Proxy, String> {
        let portal_peer =
            HttpPeer::new_uds(&gw.portal_socket.to_string_lossy(), false, String::new())
                .map_err(|e| format!("portal socket {}: {e}", gw.portal_socket.display()))?;
        let pages = Pages::render(&gw)?;
        Ok(Proxy {
            reserved_cookies: gw.cookies.reserved(),
            portal_reserved: ReservedHeaders::new(&[]),
            gw,
            portal_peer,
            pages,
            memo: DecisionMemo::default(),
            routes: ThreadRoutes::default(),
        })
    }

    /// Writes one of the pre-rendered French pages.
    ///
    /// Here and on every path of `request_filter` that answers instead of proxying, the future
    /// awaited is boxed: held inline, the largest of them would size the future of every
    /// proxied request (one allocation per request, made large enough to leave the
    /// allocator's fast path), though none of them runs for a request that is let through.
    pub(super) async fn send_page(
        &self,
        session: &mut Session,
        status: u16,
        body: &Bytes,
    ) -> Result<bool> {
        Box::pin(self.pages.send(session, status, body, None)).await
    }

    /// Overload (docs/operations.md#overload): the French 503 with `Retry-After`, before any
    /// other work.
    async fn send_overloaded(&self, session: &mut Session) -> Result<bool> {
        let retry = Some(self.gw.limits.retry_after.clone());
        Box::pin(self.pages.send(session, 503, &self.pages.overloaded, retry)).await
    }

    /// With `server.tls.redirect_http`, where a plain-HTTP request must go instead (health
    /// probes excepted, so a load balancer can still check the plain port).
    fn https_redirect(&self, session: &Session, routes: &RouteTable) -> Option<String> {
        let tls = self.gw.config.tls.as_ref().filter(|t| t.redirect_http)?;
        let over_tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        if over_tls {
            return None;
        }
        let req = session.req_header();
        let path = req.uri.path();
        if path == "/healthz" || path == "/readyz" {
            return None;
        }
        let host = host_of(req);
        if routes.route(&host.to_ascii_lowercase(), path) == Target::Unknown {
            return None;
        }
        let port = if tls.listen.port() == 443 {
            String::new()
        } else {
            format!(":{}", tls.listen.port())
        };
        Some(format!(
            "https://{host}{port}{}",
            req.uri.path_and_query().map_or("/", |p| p.as_str())
        ))
    }

    /// The cookie that carries the session on this application's host.
    fn cookie_name(&self, app: &AppRoute) -> &str {
        if app.shares_cookie {
            &self.gw.cookies.session
        } else {
            &self.gw.cookies.app
        }
    }

    /// Keeps a decision to let a request through for this thread's next requests with the same
    /// cookie, until the first of its deadlines (`memo.rs`).
    #[allow(clippy::too_many_arguments)]
    fn remember(
        &self,
        session: &Session,
        app: &AppRoute,
        stamp: Stamp,
        (clock, now): (Instant, i64),
        live: &crate::session::Live,
        ident: &CachedIdentity,
        headers: &AppHeaders,
    ) {
        let gw = &self.gw;
        let Some(token) = cookie(session.req_header(), self.cookie_name(app)) else {
            return;
        };
        let link = (!app.shares_cookie).then_some((token, app.cfg.slug.as_str()));
        let mut until = (clock + LIFETIME).min(gw.identities.reuse_until(ident));
        if let Some(cached) = gw.sessions.fresh_until(&live.key, link) {
            until = until.min(cached);
        }
        let mut until_unix = gw
            .sessions
            .reusable_until(&live.record)
            .min(headers.refresh_at());
        if let Some(by) = live.record.enrol_by.filter(|&by| by > now) {
            until_unix = until_unix.min(by);
        }
        let decision = Decision {
            user_id: ident.identity.user_id,
            headers: headers.thread_copy(),
            stamp,
            until,
            until_unix,
        };
        self.memo.put(app.idx, token, decision);
    }

    /// Decides whether the request may reach application `i`; answers it otherwise.
    async fn authorize(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        routes: &RouteTable,
        i: usize,
    ) -> Result<bool> {
        let gw = &self.gw;
        let app = &routes.apps[i];
        let req = session.req_header();
        if !app.shares_cookie && req.uri.path() == CALLBACK_PATH {
            return Box::pin(self.callback(session, routes, i)).await;
        }
        let (token, layout) = scan_cookies(req, self.cookie_name(app), &self.reserved_cookies);
        ctx.cookies = layout;
        // Read before anything is looked up (see `memo.rs`).
        let stamp = Stamp {
            sessions: gw.sessions.generation(),
            identities: gw.identities.epoch(),
            routes: app.generation,
        };
        // The request's start, read when its header had just been read (`new_ctx`): no second
        // clock reading on the per-request path.
        let clock = ctx.started;
        let now = crate::directory::now();
        if let Some((user_id, headers)) =
            token.and_then(|t| self.memo.get(app.idx, t, stamp, clock, now))
        {
            ctx.user_id = Some(user_id);
            ctx.headers = Some(headers);
            return Ok(false);
        }
        let resolved = match token {
            Some(t) if app.shares_cookie => gw.sessions.resolve(t).await,
            Some(t) => gw.sessions.resolve_link(t, &app.cfg.slug).await,
            None => Ok(None),
        };
        let live = match resolved {
            Ok(Some(live)) => live,
            Ok(None) => return Box::pin(self.unauthenticated(session, routes, i)).await,
            Err(e) => {
                tracing::warn!(error = %e, app = %app.cfg.slug, "session store unavailable: refusing");
                return self.send_page(session, 503, &self.pages.unavailable).await;
            }
        };
        let ident = match gw.identities.get(&gw.dir, live.record.user_id).await {
            Ok(Some(ident)) => ident,
            Ok(None) => {
                let _ = Box::pin(gw.sessions.revoke(&live.key)).await;
                return Box::pin(self.unauthenticated(session, routes, i)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, app = %app.cfg.slug, "directory unavailable: refusing");
                let page = if e.is_outage() {
                    &self.pages.directory_unavailable
                } else {
                    &self.pages.unavailable
                };
                return self.send_page(session, 503, page).await;
            }
        };
        if gw.identities.claim_refresh(&ident)
            && gw.identities.queue_refresh(ident.identity.user_id)
        {
            let gw = gw.clone();
            tokio::spawn(async move { gw.identities.refresh_queued(&gw.dir).await });
        }
        ctx.user_id = Some(ident.identity.user_id);
        if !ident.identity.is_usable(&crate::directory::today_cached()) {
            return Box::pin(self.unauthenticated(session, routes, i)).await;
        }
        if !ident.identity.has_app(&app.cfg.slug) {
            if let Some(own) = &app.cfg.support {
                // Not the per-request path: a refusal, rendered with the application's own
                // support address (docs/product.md#help-and-contacts).
                let page = Bytes::from(error_page(
                    &gw.config.public_url,
                    &gw.config.support,
                    Some(own),
                    403,
                    FORBIDDEN_HEADING,
                    FORBIDDEN_MESSAGE,
                ));
                return self.send_page(session, 403, &page).await;
            }
            return self.send_page(session, 403, &self.pages.forbidden).await;
        }
        // Sessions from before assurance was recorded stand for a password (no allocation
        // otherwise: this is the per-request path).
        let fallback;
        let assurance = if live.record.assurance.amr.is_empty() {
            fallback = crate::session::Assurance::password(live.record.created_at);
            &fallback
        } else {
            &live.record.assurance
        };
        let must_enrol = live.record.must_enrol(now);
        if must_enrol || (app.cfg.require_mfa && !assurance.has_second_factor()) {
            return Box::pin(self.second_factor_first(session, routes, must_enrol)).await;
        }
        match ident.headers_for(app, &gw.signer, assurance, now) {
            Ok(h) => {
                self.remember(session, app, stamp, (clock, now), &live, &ident, &h);
                ctx.headers = Some(h);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot sign the identity assertion");
                return self.send_page(session, 503, &self.pages.unavailable).await;
            }
        }
        Ok(false)
    }
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            routes: None,
            target: Target::Unknown,
            headers: None,
            user_id: None,
            // Until `authorize` has read them, the cookies are read again when forwarded.
            cookies: CookieLayout::Rewrite,
            upstream: None,
            tries: 0,
            started: Instant::now(),
            admitted: None,
        }
    }

    /// No downstream module. Pingora's default installs its response compression, disabled,
    /// and pays for it on every request (a boxed context and its filter calls); the gateway
    /// never compresses, the applications do if they want to (docs/architecture.md, the
    /// request path).
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        match self.gw.limits.request() {
            Some(permit) => ctx.admitted = Some(permit),
            None => return self.send_overloaded(session).await,
        }
        let routes = self.routes.current(&self.gw.routes);
        if let Some(location) = self.https_redirect(session, &routes) {
            let mut h = ResponseHeader::build(301, Some(3))?;
            h.insert_header(header::LOCATION, location)?;
            h.insert_header(header::CONTENT_LENGTH, 0)?;
            Box::pin(session.write_response_header(Box::new(h), true)).await?;
            return Ok(true);
        }
        let req = session.req_header();
        let host = host_of(req);
        let target = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            routes.route(&host.to_ascii_lowercase(), req.uri.path())
        } else {
            routes.route(host, req.uri.path())
        };
        ctx.target = target;
        let answered = match target {
            Target::Portal => Ok(false),
            Target::Unknown => self.send_page(session, 404, &self.pages.unknown).await,
            Target::App(i) => self.authorize(session, ctx, &routes, i).await,
        };
        ctx.routes = Some(routes);
        answered
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        match ctx.target {
            Target::Portal => Ok(Box::new(self.portal_peer.clone())),
            Target::App(i) => {
                let Some(app) = ctx.routes.as_ref().and_then(|r| r.apps.get(i)) else {
                    return Error::e_explain(ErrorType::HTTPStatus(502), "route vanished");
                };
                let u = app.pick_upstream(ctx.upstream);
                ctx.upstream = Some(u);
                ctx.tries += 1;
                Ok(Box::new(app.peers[u].clone()))
            }
            Target::Unknown => Error::e_explain(ErrorType::HTTPStatus(404), "no route"),
        }
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let app = match ctx.target {
            Target::App(i) => ctx.routes.as_ref().and_then(|r| r.apps.get(i)),
            _ => None,
        };
        if let (Some(app), Some(u)) = (app, ctx.upstream) {
            app.mark_down(u);
            app.metrics.upstream_error();
            if ctx.tries < app.cfg.upstreams.len() {
                e.set_retry(true);
            }
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let ip = client_ip(session, &self.gw.config.trusted_proxies);
        let mut cookies = None;
        let identity = match ctx.target {
            Target::App(i) => {
                cookies = take_cookies_as(up, &self.reserved_cookies, ctx.cookies);
                let Some(app) = ctx.routes.as_ref().and_then(|r| r.apps.get(i)) else {
                    return Error::e_explain(ErrorType::HTTPStatus(502), "route vanished");
                };
                strip_identity_headers(up, &app.reserved);
                ctx.headers.as_deref().map(|h| &h.lines)
            }
            _ => {
                strip_identity_headers(up, &self.portal_reserved);
                // The portal's HTTP server (hyper) closes a connection after some answers
                // without saying so (a request it could not parse, a body it did not read);
                // pooled, that connection would fail the next request with a 502. Portal
                // requests are page views, not the proxied hot path: each gets its own
                // connection over the local socket.
                up.insert_header(header::CONNECTION, "close")?;
                None
            }
        };
        let scheme = ctx.routes.as_ref().map_or("http", |r| r.scheme);
        append_gateway_headers(up, identity, cookies.as_deref(), ip, scheme)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Target::App(_) = ctx.target {
            // An application may not set, clear or shadow any of the gateway's own cookies.
            if resp.headers.contains_key(header::SET_COOKIE) {
                let reserved = &self.reserved_cookies;
                let ours = |v: &http::HeaderValue| {
                    let name = cookie_name_of(v.as_bytes());
                    reserved.iter().any(|r| r.as_bytes() == name)
                };
                if resp.headers.get_all(header::SET_COOKIE).iter().any(ours) {
                    let keep: Vec<http::HeaderValue> = resp
                        .headers
                        .get_all(header::SET_COOKIE)
                        .iter()
                        .filter(|v| !ours(v))
                        .cloned()
                        .collect();
                    let _ = resp.remove_header(&header::SET_COOKIE);
                    for v in keep {
                        resp.append_header(header::SET_COOKIE, v)?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(c) => *c,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
            _ => match e.esource() {
                pingora::ErrorSource::Upstream => 502,
                pingora::ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                _ => 502,
            },
        };
        if let (Target::App(i), Some(r)) = (ctx.target, &ctx.routes) {
            if let Some(app) = r.apps.get(i).filter(|_| code >= 500) {
                app.metrics.upstream_error();
            }
        }
        if code > 0 && session.response_written().is_none() {
            // The connection is closed after this page (`can_reuse_downstream` below): say so
            // in it (`Connection: close`), or a client that pools connections sends its next
            // request on a socket about to close and gets a reset instead of an answer.
            session.set_keepalive(None);
            let body = match code {
                504 => &self.pages.timeout,
                503 => &self.pages.unavailable,
                404 => &self.pages.unknown,
                _ => &self.pages.bad_gateway,
            };
            let status = if code == 400 { 400 } else { code };
            if let Err(err) = self.send_page(session, status, body).await {
                tracing::debug!(error = %err, "could not send the error page");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let Target::App(i) = ctx.target else { return };
        let Some(app) = ctx.routes.as_ref().and_then(|r| r.apps.get(i)) else {
            return;
        };
        let label = app.label;
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        app.metrics.proxied(status, elapsed.as_secs_f64());
        tracing::info!(
            target: "convergences::access",
            app = label,
            method = %session.req_header().method,
            path = session.req_header().uri.path(),
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            user_id = ctx.user_id,
            error = e.map(|e| e.etype().as_str()),
        );
    }
}
