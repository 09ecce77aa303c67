//! Secrets stored encrypted at rest (the TOTP secrets): XChaCha20-Poly1305 under a key of their
//! own, kept in a file beside the database and never in it, so that a database dump alone does
//! not give the second factors away (docs/security.md#second-factor).
//!
//! A sealed value is `v1.<key id>.<base64url(nonce ‖ ciphertext)>`, with associated data that
//! binds it to its owner (a value copied to another account's row does not open). The key id
//! lets a rotation keep opening values sealed under the previous key while they are re-sealed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::Digest;

pub struct SealKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// A second key derived from the same material, for keyed hashes (recovery codes).
    mac_key: [u8; 32],
}

impl SealKey {
    /// From 32 bytes of key material; the id is derived from it (not secret, not reversible).
    pub fn from_bytes(key: &[u8]) -> Result<SealKey, String> {
        if key.len() != 32 {
            return Err(format!("a key is 32 bytes, this one has {}", key.len()));
        }
        let digest = sha2::Sha256::digest([b"seal-key-id:".as_slice(), key].concat());
        let mac_key: [u8; 32] = sha2::Sha256::digest([b"mac-key:".as_slice(), key].concat()).into();
        Ok(SealKey {
            id: URL_SAFE_NO_PAD.encode(&digest[..6]),
            cipher: XChaCha20Poly1305::new_from_slice(key).map_err(|e| e.to_string())?,
            mac_key,
        })
    }

    pub fn generate() -> Vec<u8> {
        use rand::RngCore;
        let mut k = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        k
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current key and the previous ones, still accepted for opening.
pub struct KeyRing {
    pub current: SealKey,
    pub previous: Vec<SealKey>,
}

impl KeyRing {
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        use rand::RngCore;
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let ct = self
            .current
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1.{}.{}", self.current.id, URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext, if `sealed` was sealed under one of the ring's keys with this `aad`.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
        let mut parts = sealed.splitn(3, '.');
        if parts.next()? != "v1" {
            return None;
        }
        let kid = parts.next()?;
        let data = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        if data.len() < 24 + 16 {
            return None;
        }
        let nonce: [u8; 24] = data[..24].try_into().ok()?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == kid)?;
        key.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &data[24..],
                    aad,
                },
            )
            .ok()
    }

    /// Keyed hashes of `data` under the current key, then the previous ones: a hash stored under
    /// a previous key still matches during a rotation.
    pub fn macs(&self, data: &[u8]) -> Vec<String> {
        use hmac::{Hmac, Mac};
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| {
                let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&k.mac_key)
                    .expect("HMAC takes keys of any length");
                m.update(data);
                URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
            })
            .collect()
    }

    /// True when `sealed` was sealed under a key other than the current one.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) != Some(self.current.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing {
            current: SealKey::from_bytes(&SealKey::generate()).unwrap(),
            previous: vec![],
        }
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_owner() {
        let r = ring();
        let s = r.seal(b"secret", b"user:1");
        assert!(!s.contains("secret"));
        assert_eq!(r.open(&s, b"user:1").unwrap(), b"secret");
        assert_eq!(r.open(&s, b"user:2"), None, "copied to another account");
        assert_eq!(ring().open(&s, b"user:1"), None, "another key");
        let mut tampered = s.clone();
        tampered.pop();
        tampered.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(r.open(&tampered, b"user:1"), None);
        for junk in ["", "v1", "v1..", "v2.x.y", "v1.x.!!"] {
            assert_eq!(r.open(junk, b"user:1"), None, "{junk:?}");
        }
    }

    #[test]
    fn a_rotation_keeps_opening_values_sealed_under_the_previous_key() {
        let old_bytes = SealKey::generate();
        let old = KeyRing {
            current: SealKey::from_bytes(&old_bytes).unwrap(),
            previous: vec![],
        };
        let s = old.seal(b"x", b"a");
        let new = KeyRing {
            current: SealKey::from_bytes(&SealKey::generate()).unwrap(),
            previous: vec![SealKey::from_bytes(&old_bytes).unwrap()],
        };
        assert!(new.is_stale(&s));
        assert_eq!(new.open(&s, b"a").unwrap(), b"x");
        assert!(!new.is_stale(&new.seal(b"x", b"a")));
        assert!(SealKey::from_bytes(&[0u8; 31]).is_err());
    }
}
