//! OpenID Connect Back-Channel Logout 1.0: when a portal session ends, each client that holds
//! tokens of it and declared a `backchannel_logout_uri` receives a signed logout token. The
//! instance that ends the session sends them (which clients hold tokens of which session is in
//! the shared store, one entry per session and client, taken once, so the session may have
//! started on another instance and two instances never both send); delivery is best effort, in
//! the background, and never delays the user's logout. A client the account loses access to
//! (role removed, lock) is told the same way.

use super::grants::ClientSession;
use super::keys::{OidcKeys, LOGOUT_TOKEN_TYP};
use crate::proxy::routes::{AppRoute, RouteTable};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Debug, Serialize, Deserialize)]
pub struct LogoutToken {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: serde_json::Value,
}

/// One logout token to deliver.
pub struct Notice {
    pub uri: String,
    pub token: String,
}

/// Builds the logout tokens for the clients of the ended sessions that asked for them.
pub fn notices(
    keys: &OidcKeys,
    issuer: &str,
    routes: &RouteTable,
    ended: &[ClientSession],
    now: i64,
) -> Vec<Notice> {
    let mut out = Vec::new();
    for c in ended {
        let Some(client) = routes
            .app_by_client_id(&c.client_id)
            .and_then(|a| a.cfg.oidc.as_ref())
        else {
            continue;
        };
        let Some(uri) = &client.backchannel_logout_uri else {
            continue;
        };
        let claims = LogoutToken {
            iss: issuer.to_string(),
            aud: c.client_id.clone(),
            iat: now,
            exp: now + 120,
            jti: crate::auth::random_token(),
            sub: c.sub.clone(),
            sid: c.sid.clone(),
            events: serde_json::json!({ EVENT: {} }),
        };
        match keys.sign(client.id_token_alg, LOGOUT_TOKEN_TYP, &claims) {
            Ok(token) => out.push(Notice {
                uri: uri.clone(),
                token,
            }),
            Err(e) => {
                tracing::error!(client = %c.client_id, error = %e, "cannot sign a logout token")
            }
        }
    }
    out
}

/// Posts each notice in the background (5 s each); failures are logged.
pub fn send(notices: Vec<Notice>) {
    if notices.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the back-channel logout client");
                return;
            }
        };
        for n in notices {
            let r = client
                .post(&n.uri)
                .form(&[("logout_token", n.token.as_str())])
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => {
                    crate::telemetry::oidc_event("backchannel_logout_sent");
                }
                Ok(r) => {
                    tracing::warn!(uri = %n.uri, status = r.status().as_u16(), "back-channel logout refused by the client");
                    crate::telemetry::oidc_event("backchannel_logout_failed");
                }
                Err(e) => {
                    tracing::warn!(uri = %n.uri, error = %e, "back-channel logout not delivered");
                    crate::telemetry::oidc_event("backchannel_logout_failed");
                }
            }
        }
    });
}

/// Whether a client wants logout tokens: only those get an entry per session.
pub fn notified(app: &AppRoute) -> bool {
    app.cfg
        .oidc
        .as_ref()
        .is_some_and(|c| c.backchannel_logout_uri.is_some())
}

/// Portal sessions `sids` ended, for every client or, after a change of access, for the
/// clients `which` selects: takes their entries (each once, across instances) and sends the
/// logout tokens. Errors of the store are logged: the logout itself has happened.
pub async fn clients_ended(
    keys: Option<std::sync::Arc<OidcKeys>>,
    store: &dyn crate::session::SessionStore,
    issuer: &str,
    routes: &RouteTable,
    sids: &[String],
    which: impl Fn(&AppRoute) -> bool,
) {
    let Some(keys) = keys else {
        return;
    };
    let grants = super::grants::Grants(store);
    let mut ended = Vec::new();
    for app in routes.apps.iter().filter(|a| notified(a) && which(a)) {
        let Some(client) = &app.cfg.oidc else {
            continue;
        };
        for sid in sids {
            match grants.take_client(sid, &client.client_id).await {
                Ok(Some(c)) => ended.push(c),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "back-channel logout: cannot read the clients of a session")
                }
            }
        }
    }
    send(notices(
        &keys,
        issuer,
        routes,
        &ended,
        crate::directory::now(),
    ));
}

/// A directory change touched this user: the clients the account may no longer use (role
/// removed, account locked or expired) are told that its sessions ended for them
/// (docs/oidc-provider.md#logout). Their tokens are refused already (`still_allowed`).
pub async fn access_changed(
    keys: Option<std::sync::Arc<OidcKeys>>,
    store: &dyn crate::session::SessionStore,
    dir: &crate::directory::Directory,
    issuer: &str,
    routes: &RouteTable,
    user_id: i64,
) {
    if keys.is_none() || !routes.apps.iter().any(notified) {
        return;
    }
    let identity = match dir.identity(user_id).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout: cannot read the account");
            return;
        }
    };
    let today = crate::directory::today();
    let allowed = |app: &AppRoute| {
        identity
            .as_ref()
            .is_some_and(|i| i.is_usable(&today) && i.has_app(&app.cfg.slug))
    };
    if routes.apps.iter().filter(|a| notified(a)).all(allowed) {
        return;
    }
    let sids: Vec<String> = match store.list_user(user_id).await {
        Ok(list) => list.iter().map(|(k, _)| super::grants::sid_of(k)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout: cannot list the sessions");
            return;
        }
    };
    clients_ended(keys, store, issuer, routes, &sids, |a| !allowed(a)).await;
}
