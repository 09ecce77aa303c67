//! `[[identity_providers]]`: external OpenID Connect providers an agent may sign in with
//! (docs/identity-providers.md). The file's form and the validated one live together here so
//! that the shared `file.rs` and `model.rs` only name them.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One `[[identity_providers]]` entry as written by operators.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderSection {
    pub slug: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Also `CONVERGENCES_IDENTITY_PROVIDERS__<SLUG>__CLIENT_SECRET`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Asked for in the authorization request and required in the returned ID token.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The `acr` values that count as a second factor (e.g. `["eidas2", "eidas3"]`).
    #[serde(default)]
    pub second_factor_acr: Vec<String>,
    #[serde(default = "yes")]
    pub pkce: bool,
    /// Take the provider's e-mail as verified even without `email_verified` (ProConnect
    /// vouches for its agents' addresses and sends no such claim).
    #[serde(default)]
    pub trust_email: bool,
    /// Create an account, with no role, for an identity that matches none.
    #[serde(default)]
    pub create_accounts: bool,
    /// `siret` claim → structure id, where created accounts go.
    #[serde(default)]
    pub siret_structures: BTreeMap<String, i64>,
    /// Read the userinfo endpoint after the token (names, `siret`...).
    #[serde(default = "yes")]
    pub userinfo: bool,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// How the client secret is sent: `client_secret_post` (ProConnect) or
    /// `client_secret_basic`; providers accept only the method the client was registered with.
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: String,
}

fn default_auth_method() -> String {
    "client_secret_post".into()
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn yes() -> bool {
    true
}
fn default_timeout() -> u64 {
    10
}

/// A validated provider.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityProvider {
    pub slug: String,
    pub name: String,
    /// Exactly as the provider writes `iss` (no trailing slash added or removed).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub acr_values: Vec<String>,
    pub second_factor_acr: Vec<String>,
    pub pkce: bool,
    pub trust_email: bool,
    pub create_accounts: bool,
    pub siret_structures: BTreeMap<String, i64>,
    pub userinfo: bool,
    pub timeout: Duration,
    /// `client_secret_basic` rather than `client_secret_post`.
    pub secret_basic: bool,
}

/// A client secret: `Debug` prints `<redacted>`, so a configuration can be logged whole.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
