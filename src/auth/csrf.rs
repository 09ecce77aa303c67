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

/// How long a pre-session cookie is honoured: a login form older than this is re-displayed.
pub const PRE_SESSION_MAX_AGE: i64 = 2 * 3600;

fn pre_session_mac(secret: &[u8], random: &str, issued: &str) -> String {
    token(secret, &format!("pre-session:{random}.{issued}"))
}

/// A new pre-session cookie value: `random.issued.mac`. Signed and dated so that a value made
/// up by someone else is refused, and one obtained earlier only works for a short while.
pub fn pre_session_value(secret: &[u8], now: i64) -> String {
    let random = crate::auth::random_token();
    let issued = now.to_string();
    let mac = pre_session_mac(secret, &random, &issued);
    format!("{random}.{issued}.{mac}")
}

/// True for a value [`pre_session_value`] made with this secret less than
/// [`PRE_SESSION_MAX_AGE`] ago.
pub fn pre_session_valid(secret: &[u8], value: &str, now: i64) -> bool {
    let mut parts = value.splitn(3, '.');
    let (Some(random), Some(issued), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(at) = issued.parse::<i64>() else {
        return false;
    };
    // Checked: the issue time is the client's text, any i64.
    let fresh = at <= now.saturating_add(60)
        && now
            .checked_sub(at)
            .is_some_and(|age| age < PRE_SESSION_MAX_AGE);
    let expected = pre_session_mac(secret, random, issued);
    let genuine: bool = expected.as_bytes().ct_eq(mac.as_bytes()).into();
    fresh && genuine && random.len() == 43
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

    #[test]
    fn pre_session_cookies_are_signed_and_dated() {
        let now = 1_800_000_000;
        let v = pre_session_value(b"secret", now);
        assert!(pre_session_valid(b"secret", &v, now));
        assert!(pre_session_valid(
            b"secret",
            &v,
            now + PRE_SESSION_MAX_AGE - 1
        ));
        assert!(!pre_session_valid(b"secret", &v, now + PRE_SESSION_MAX_AGE));
        assert!(!pre_session_valid(b"other", &v, now), "another secret");
        let (random, rest) = v.split_once('.').unwrap();
        let made_up = format!("{}.{rest}", "A".repeat(random.len()));
        assert!(!pre_session_valid(b"secret", &made_up, now));
        let (head, _) = v.rsplit_once('.').unwrap();
        let later = format!("{}.{}", head.rsplit_once('.').unwrap().0, now + 3600);
        assert!(!pre_session_valid(b"secret", &format!("{later}.x"), now));
        for junk in [
            "",
            "a",
            "a.b",
            "a.b.c",
            "..",
            &"x".repeat(200),
            "x.-9223372036854775808.y",
            "x.9223372036854775807.y",
        ] {
            assert!(!pre_session_valid(b"secret", junk, now), "{junk:?}");
        }
    }
}
