//! The signed identity assertion (docs/gateway.md#the-signed-assertion): an EdDSA JWT per user and application, whose public
//! key is published as a JWKS on the portal host. The signing key is read from the configured
//! PEM file, or generated there on first start (PKCS#8, mode 0600) so that restarts and every
//! instance sharing the file keep the same key.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("assertion key {path}: {message}")]
    Key { path: String, message: String },
    #[error("cannot sign the assertion: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Claims of `X-Convergences-Assertion`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    /// The application slug.
    pub aud: String,
    /// The user's stable id.
    pub sub: String,
    pub email: String,
    pub name: String,
    /// Each role held on this application with the structure it is held for, the structure
    /// path in the identity-header encoding (docs/gateway.md#identity-header-encoding).
    pub grants: Vec<GrantClaim>,
    /// The user's own structure path, in the identity-header encoding.
    pub structure_path: String,
    /// Deprecated (kept for one release): distinct roles held on this application, unpaired
    /// with `structures`; read `grants` instead.
    pub roles: Vec<String>,
    /// Deprecated (kept for one release): human labels ("a / b") of the structures those roles
    /// are held for; read `grants` instead.
    pub structures: Vec<String>,
    /// Deprecated (kept for one release): the human label of the user's own structure; read
    /// `structure_path` instead.
    pub structure: String,
    /// "Identifiant applicatif", empty when unset.
    pub app_id: String,
    /// When the user authenticated (Unix time), how (`amr`, RFC 8176) and at what level
    /// (`acr`: `eidas1` password, `eidas2` with a second factor).
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    pub iat: i64,
    pub exp: i64,
}

/// One role and the structure it is held for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantClaim {
    pub role: String,
    /// Encoded structure path, as in `X-Convergences-Roles`.
    pub structure: String,
}

pub struct Signer {
    key: EncodingKey,
    header: Header,
    jwks: String,
    pub issuer: String,
    pub ttl_seconds: i64,
}

impl Signer {
    pub fn load_or_generate(
        path: &Path,
        issuer: String,
        ttl_seconds: i64,
    ) -> Result<Signer, AssertionError> {
        let err = |message: String| AssertionError::Key {
            path: path.display().to_string(),
            message,
        };
        let pem = match std::fs::read(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate_pem().map_err(err)?;
                write_private(path, pem.as_bytes())
                    .map_err(|e| err(format!("cannot write a new key: {e}")))?;
                tracing::info!(path = %path.display(), "generated a new Ed25519 assertion signing key");
                pem.into_bytes()
            }
            Err(e) => return Err(err(format!("cannot read: {e}"))),
        };
        Self::from_pem(&pem, issuer, ttl_seconds).map_err(err)
    }

    pub fn from_pem(pem: &[u8], issuer: String, ttl_seconds: i64) -> Result<Signer, String> {
        let (key, jwk) = public_jwk(pem)?;
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).map_err(|e| e.to_string())?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        Ok(Signer {
            key,
            header,
            jwks,
            issuer,
            ttl_seconds,
        })
    }

    /// Also publishes the public halves of keys being rotated out, so that assertions signed
    /// by another instance still on the old key keep verifying during a rolling restart.
    pub fn with_previous_keys(
        mut self,
        paths: &[std::path::PathBuf],
    ) -> Result<Signer, AssertionError> {
        let mut set: JwkSet =
            serde_json::from_str(&self.jwks).map_err(|e| AssertionError::Key {
                path: "(jwks)".into(),
                message: e.to_string(),
            })?;
        for path in paths {
            let err = |message: String| AssertionError::Key {
                path: path.display().to_string(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
            let (_, jwk) = public_jwk(&pem).map_err(err)?;
            if !set
                .keys
                .iter()
                .any(|k| k.common.key_id == jwk.common.key_id)
            {
                set.keys.push(jwk);
            }
        }
        self.jwks = serde_json::to_string(&set).map_err(|e| AssertionError::Key {
            path: "(jwks)".into(),
            message: e.to_string(),
        })?;
        Ok(self)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, AssertionError> {
        Ok(jsonwebtoken::encode(&self.header, claims, &self.key)?)
    }

    /// The JWKS document served at `/.well-known/jwks.json`.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

/// The signing key in a PEM file and its public JWK (with its key id).
pub(crate) fn public_jwk(pem: &[u8]) -> Result<(EncodingKey, Jwk), String> {
    let key = EncodingKey::from_ed_pem(pem)
        .map_err(|e| format!("not an Ed25519 private key in PKCS#8 PEM form ({e})"))?;
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(key_id(&jwk));
    Ok((key, jwk))
}

/// A stable key id: the first 16 bytes of the SHA-256 of the public key, base64url.
pub(crate) fn key_id(jwk: &Jwk) -> String {
    use base64::Engine;
    use sha2::Digest;
    let public = serde_json::to_string(&jwk.algorithm).unwrap_or_default();
    let d = sha2::Sha256::digest(public.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
}

pub(crate) fn generate_pem() -> Result<String, String> {
    use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, KeypairBytes};
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    // PKCS#8 v1 (no embedded public key): the form jsonwebtoken derives its JWK from.
    KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map(|z| z.to_string())
    .map_err(|e| format!("cannot encode a new key: {e}"))
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signed_assertion_verifies_against_the_jwks_and_not_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let signer =
            Signer::load_or_generate(&dir.path().join("k.pem"), "https://auth".into(), 60).unwrap();
        let again =
            Signer::load_or_generate(&dir.path().join("k.pem"), "https://auth".into(), 60).unwrap();
        assert_eq!(
            signer.jwks_json(),
            again.jwks_json(),
            "the key is kept across restarts"
        );
        let other =
            Signer::load_or_generate(&dir.path().join("o.pem"), "https://auth".into(), 60).unwrap();
        let now = crate::directory::now();
        let claims = Claims {
            iss: "https://auth".into(),
            aud: "bip".into(),
            sub: "u1".into(),
            email: "a@b.fr".into(),
            name: "Ada Lovelace".into(),
            grants: vec![GrantClaim {
                role: "utilisateur".into(),
                structure: "mairie".into(),
            }],
            structure_path: "mairie".into(),
            roles: vec!["utilisateur".into()],
            structures: vec!["mairie".into()],
            structure: "mairie".into(),
            app_id: String::new(),
            auth_time: now,
            amr: vec!["pwd".into()],
            acr: "eidas1".into(),
            iat: now,
            exp: now + 60,
        };
        let jwt = signer.sign(&claims).unwrap();
        let set: JwkSet = serde_json::from_str(signer.jwks_json()).unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&["bip"]);
        v.set_issuer(&["https://auth"]);
        let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let got = jsonwebtoken::decode::<Claims>(&jwt, &key, &v).unwrap();
        assert_eq!(got.claims, claims);
        let other_set: JwkSet = serde_json::from_str(other.jwks_json()).unwrap();
        let other_key = DecodingKey::from_jwk(&other_set.keys[0]).unwrap();
        assert!(jsonwebtoken::decode::<Claims>(&jwt, &other_key, &v).is_err());
    }

    #[test]
    fn previous_keys_stay_in_the_jwks_during_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let old = Signer::load_or_generate(&dir.path().join("old.pem"), "i".into(), 60).unwrap();
        let new = Signer::load_or_generate(&dir.path().join("new.pem"), "i".into(), 60)
            .unwrap()
            .with_previous_keys(&[dir.path().join("old.pem")])
            .unwrap();
        let set: JwkSet = serde_json::from_str(new.jwks_json()).unwrap();
        assert_eq!(set.keys.len(), 2);
        let claims = Claims {
            iss: "i".into(),
            aud: "bip".into(),
            sub: "s".into(),
            email: "e@x.fr".into(),
            name: "n".into(),
            grants: vec![],
            structure_path: String::new(),
            roles: vec![],
            structures: vec![],
            structure: String::new(),
            app_id: String::new(),
            auth_time: 0,
            amr: vec![],
            acr: String::new(),
            iat: crate::directory::now(),
            exp: crate::directory::now() + 60,
        };
        let by_old = old.sign(&claims).unwrap();
        let kid = jsonwebtoken::decode_header(&by_old).unwrap().kid.unwrap();
        let jwk = set.find(&kid).expect("old key published");
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&["bip"]);
        assert!(
            jsonwebtoken::decode::<Claims>(&by_old, &DecodingKey::from_jwk(jwk).unwrap(), &v)
                .is_ok()
        );
        let missing = Signer::load_or_generate(&dir.path().join("n2.pem"), "i".into(), 60)
            .unwrap()
            .with_previous_keys(&[dir.path().join("absent.pem")]);
        assert!(missing.err().unwrap().to_string().contains("absent.pem"));
    }

    #[test]
    fn a_bad_key_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.pem");
        std::fs::write(&p, "not a key").unwrap();
        let e = Signer::load_or_generate(&p, "i".into(), 60)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bad.pem") && e.contains("Ed25519"), "{e}");
    }
}
