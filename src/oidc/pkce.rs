//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` would give the code's thief the
//! verifier.

use base64::Engine;
use sha2::{Digest, Sha256};

/// 43 to 128 characters of `[A-Za-z0-9-._~]`: the form of both verifiers and S256 challenges.
pub fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// True when `verifier` hashes to `challenge`.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    bool::from(subtle::ConstantTimeEq::ct_eq(
        computed.as_bytes(),
        challenge.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_example_and_refusals() {
        // RFC 7636, appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(v, c));
        assert!(!verify(c, c), "the challenge is not a verifier");
        assert!(!verify(v, v), "plain is not accepted");
        assert!(!verify("short", c));
        assert!(!verify(&format!("{v}!"), c));
        assert!(well_formed(c));
        assert!(!well_formed(&"a".repeat(129)));
    }
}
