//! The validated OpenID Connect settings (docs/oidc-provider.md).

use super::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// How ID tokens of a client are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenAlg {
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::Rs256 => "RS256",
            IdTokenAlg::EdDsa => "EdDSA",
        }
    }
}

/// How a client proves who it is at the token endpoint.
#[derive(Clone, Debug)]
pub enum ClientSecret {
    /// A public client: none, PKCE instead.
    None,
    /// Argon2id PHC string.
    Hash(String),
    /// The secret itself, read from the environment at load time.
    Plain(Secret),
}

/// One application's OpenID Connect client.
#[derive(Clone, Debug)]
pub struct OidcClient {
    pub client_id: String,
    pub secret: ClientSecret,
    /// Exact strings: a redirect URI matches only when equal, byte for byte.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub id_token_alg: IdTokenAlg,
    pub offline_access: bool,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
}

impl OidcClient {
    pub fn is_public(&self) -> bool {
        matches!(self.secret, ClientSecret::None)
    }
}

/// `[oidc]`.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub rsa_key_file: PathBuf,
    pub eddsa_key_file: PathBuf,
    pub previous_key_files: Vec<PathBuf>,
    pub token_requests_per_minute: u32,
}
