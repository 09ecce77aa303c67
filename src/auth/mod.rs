//! Credentials and tokens: password hashing, CSRF tokens, random identifiers.

pub mod csrf;
pub mod oidc_client;
pub mod password;
pub mod policy;
pub mod redirect;
pub mod sealed;
pub mod totp;
pub mod user_agent;

use base64::Engine;
use rand::RngCore;

/// 256 random bits, URL-safe: session ids, one-time tokens and handshake codes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
