//! `[oidc]` and `[apps.oidc]` as operators write them: the OpenID Connect provider's keys and
//! each application's client (docs/oidc-provider.md).

use serde::Deserialize;
use std::path::PathBuf;

/// The provider's own settings; the clients are declared per application.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSection {
    /// RSA key (PKCS#8 PEM) that signs RS256 ID tokens; default `data_dir/oidc-rsa-key.pem`,
    /// generated on first use.
    pub rsa_key_file: Option<PathBuf>,
    /// Ed25519 key (PKCS#8 PEM) for clients that ask for EdDSA ID tokens; default
    /// `data_dir/oidc-ed25519-key.pem`. Never the assertion's key.
    pub eddsa_key_file: Option<PathBuf>,
    /// Keys being rotated out (either kind): published, never used to sign.
    pub previous_key_files: Vec<PathBuf>,
    /// Token requests allowed per client and minute.
    pub token_requests_per_minute: u32,
}

impl Default for OidcSection {
    fn default() -> Self {
        Self {
            rsa_key_file: None,
            eddsa_key_file: None,
            previous_key_files: Vec::new(),
            token_requests_per_minute: 600,
        }
    }
}

/// One application's client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClientSection {
    pub client_id: String,
    /// Argon2id hash (PHC string) of the client secret.
    #[serde(default)]
    pub client_secret_hash: Option<String>,
    /// Name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A client that cannot keep a secret (single-page or native application): no secret, PKCE
    /// mandatory.
    #[serde(default)]
    pub public: bool,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// `RS256` (default) or `EdDSA`.
    #[serde(default = "default_alg")]
    pub id_token_signed_response_alg: String,
    /// Refresh tokens are issued when the client asks for `offline_access` and this is true.
    #[serde(default)]
    pub offline_access: bool,
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl_seconds: u64,
    #[serde(default = "default_id_ttl")]
    pub id_token_ttl_seconds: u64,
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl_seconds: u64,
}

fn default_alg() -> String {
    "RS256".into()
}
fn default_access_ttl() -> u64 {
    300
}
fn default_id_ttl() -> u64 {
    300
}
fn default_refresh_ttl() -> u64 {
    12 * 3600
}
