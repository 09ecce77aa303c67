//! The OpenID Connect provider's protocol logic (docs/oidc-provider.md), below the web layer:
//! request validation (`request`, `params`, `pkce`, `client_auth`, `bearer`), authentication levels
//! (`acr`), cross-origin rules (`cors`), what tokens say (`claims`),
//! where codes and tokens live (`grants`), the signing keys (`keys`) and back-channel logout
//! (`backchannel`). The endpoints themselves are in `web::oidc`.

pub mod acr;
pub mod backchannel;
pub mod bearer;
pub mod claims;
pub mod client_auth;
pub mod cors;
pub mod grants;
pub mod keys;
pub mod params;
pub mod pkce;
pub mod request;

use crate::config::OidcSettings;
use arc_swap::{ArcSwap, ArcSwapOption};
use keys::OidcKeys;
use std::sync::Arc;

pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const AUTHORIZE_PATH: &str = "/oidc/authorize";
pub const TOKEN_PATH: &str = "/oidc/token";
pub const USERINFO_PATH: &str = "/oidc/userinfo";
pub const LOGOUT_PATH: &str = "/oidc/logout";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The provider's state: keys (loaded when a client exists, or when they exist already, so that
/// a gateway without clients never generates an RSA key), the published JWKS and the token
/// endpoint's rate limit.
pub struct Provider {
    settings: OidcSettings,
    keys: ArcSwapOption<OidcKeys>,
    assertion_jwks: String,
    jwks: ArcSwap<String>,
    token_limiter: governor::DefaultKeyedRateLimiter<String>,
}

impl Provider {
    pub fn new(
        settings: &OidcSettings,
        assertion_jwks: &str,
        any_client: bool,
    ) -> Result<Provider, String> {
        let per_minute = std::num::NonZeroU32::new(settings.token_requests_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
        let p = Provider {
            settings: settings.clone(),
            keys: ArcSwapOption::empty(),
            assertion_jwks: assertion_jwks.to_string(),
            jwks: ArcSwap::from_pointee(assertion_jwks.to_string()),
            token_limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute)),
        };
        if any_client || settings.rsa_key_file.exists() {
            p.ensure_keys()?;
        }
        Ok(p)
    }

    /// Loads (or generates) the keys unless they are loaded: at start, or when a reload adds
    /// the first client.
    pub fn ensure_keys(&self) -> Result<(), String> {
        if self.keys.load().is_some() {
            return Ok(());
        }
        let k = Arc::new(OidcKeys::load(&self.settings)?);
        self.jwks
            .store(Arc::new(keys::merged_jwks(&self.assertion_jwks, Some(&k))));
        self.keys.store(Some(k));
        Ok(())
    }

    pub fn keys(&self) -> Option<Arc<OidcKeys>> {
        self.keys.load_full()
    }

    /// The JWKS document: the assertion's keys and the provider's.
    pub fn jwks_json(&self) -> Arc<String> {
        self.jwks.load_full()
    }

    /// Counts a token request of `client_id`; false when its quota for the minute is used.
    pub fn token_allowed(&self, client_id: &str) -> bool {
        self.token_limiter.check_key(&client_id.to_string()).is_ok()
    }

    pub fn sweep(&self) {
        self.token_limiter.retain_recent();
    }
}

/// The discovery document (OpenID Connect Discovery 1.0 section 3).
pub fn discovery(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "userinfo_endpoint": format!("{issuer}{USERINFO_PATH}"),
        "end_session_endpoint": format!("{issuer}{LOGOUT_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "scopes_supported": request::SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims::CLAIMS,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": acr::SUPPORTED,
        "ui_locales_supported": ["fr"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
