//! CSRF tokens: an HMAC of the session token (or, before login, of a random pre-session cookie)
//! under the server secret. Nothing to store, and a token stolen from one session is worthless
//! in another.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub fn token(secret: &[u8], binding: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"csrf:");
    mac.update(binding.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn verify(secret: &[u8], binding: &str, presented: &str) -> bool {
    let expected = token(secret, binding);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_bound_to_its_binding_and_secret() {
        let t = token(b"secret", "session-a");
        assert!(verify(b"secret", "session-a", &t));
        assert!(!verify(b"secret", "session-b", &t));
        assert!(!verify(b"other", "session-a", &t));
        assert!(!verify(b"secret", "session-a", ""));
    }
}
