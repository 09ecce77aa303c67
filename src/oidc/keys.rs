//! The provider's signing keys (docs/oidc-provider.md#keys): an RSA key for RS256 ID tokens
//! and an Ed25519 key for clients that ask for EdDSA, both distinct from the assertion's key
//! (an ID token must never verify as an assertion, nor the reverse). Stored and rotated like
//! the assertion key (docs/decisions/0005-assertion-signing-key-and-rotation.md): PKCS#8 PEM
//! files generated with mode 0600 on first start, `kid` derived from the public key, previous
//! keys published and never used to sign.

use crate::config::{IdTokenAlg, OidcSettings};
use crate::proxy::assertion::{generate_pem, key_id, public_jwk, write_private};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// `typ` of ID tokens: the usual one, which relying parties accept.
pub const ID_TOKEN_TYP: &str = "JWT";
/// `typ` of back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

struct SigningKey {
    key: EncodingKey,
    kid: String,
    alg: Algorithm,
}

pub struct OidcKeys {
    rsa: SigningKey,
    ed: SigningKey,
    /// Every published key (current and previous) with its key id: what the provider itself
    /// verifies `id_token_hint` against; never the assertion key.
    verifying: Vec<(String, Algorithm, DecodingKey)>,
    jwks: Vec<Jwk>,
}

fn rsa_pem() -> Result<String, String> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| format!("cannot generate an RSA key: {e}"))?;
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|z| z.to_string())
        .map_err(|e| format!("cannot encode a new key: {e}"))
}

/// Reads the key at `path`, or generates it there when the file does not exist.
fn read_or_generate(
    path: &Path,
    generate: fn() -> Result<String, String>,
) -> Result<Vec<u8>, String> {
    let err = |m: String| format!("{}: {m}", path.display());
    match std::fs::read(path) {
        Ok(pem) => Ok(pem),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pem = generate().map_err(err)?;
            match write_private(path, pem.as_bytes()) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "generated a new OpenID Connect signing key");
                    Ok(pem.into_bytes())
                }
                // Another instance sharing the folder wrote it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))
                }
                Err(e) => Err(err(format!("cannot write a new key: {e}"))),
            }
        }
        Err(e) => Err(err(format!("cannot read: {e}"))),
    }
}

/// The private key of a PEM file (RSA or Ed25519) and its public JWK with `kid`, `use` and
/// `alg`.
fn parse(pem: &[u8]) -> Result<(EncodingKey, Algorithm, Jwk), String> {
    if let Ok((key, mut jwk)) = public_jwk(pem) {
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        return Ok((key, Algorithm::EdDSA, jwk));
    }
    let key = EncodingKey::from_rsa_pem(pem)
        .map_err(|e| format!("neither an RSA nor an Ed25519 private key in PEM form ({e})"))?;
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(key_id(&jwk));
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok((key, Algorithm::RS256, jwk))
}

fn load(
    path: &Path,
    generate: fn() -> Result<String, String>,
    want: Algorithm,
) -> Result<(SigningKey, Jwk), String> {
    let pem = read_or_generate(path, generate)?;
    let (key, alg, jwk) = parse(&pem).map_err(|m| format!("{}: {m}", path.display()))?;
    if alg != want {
        return Err(format!("{}: expected a {want:?} key", path.display()));
    }
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    Ok((SigningKey { key, kid, alg }, jwk))
}

impl OidcKeys {
    pub fn load(settings: &OidcSettings) -> Result<OidcKeys, String> {
        let (rsa, rsa_jwk) = load(&settings.rsa_key_file, rsa_pem, Algorithm::RS256)?;
        let (ed, ed_jwk) = load(&settings.eddsa_key_file, generate_pem, Algorithm::EdDSA)?;
        let mut jwks = vec![rsa_jwk, ed_jwk];
        for path in &settings.previous_key_files {
            let pem =
                std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
            let (_, _, jwk) = parse(&pem).map_err(|m| format!("{}: {m}", path.display()))?;
            if !jwks.iter().any(|k| k.common.key_id == jwk.common.key_id) {
                jwks.push(jwk);
            }
        }
        let mut verifying = Vec::new();
        for jwk in &jwks {
            let alg = if matches!(
                jwk.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
            ) {
                Algorithm::RS256
            } else {
                Algorithm::EdDSA
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
            verifying.push((jwk.common.key_id.clone().unwrap_or_default(), alg, key));
        }
        Ok(OidcKeys {
            rsa,
            ed,
            verifying,
            jwks,
        })
    }

    fn signing(&self, alg: IdTokenAlg) -> &SigningKey {
        match alg {
            IdTokenAlg::Rs256 => &self.rsa,
            IdTokenAlg::EdDsa => &self.ed,
        }
    }

    /// Signs `claims` with the key of `alg`, `kid` and `typ` in the header.
    pub fn sign<T: Serialize>(
        &self,
        alg: IdTokenAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, String> {
        let k = self.signing(alg);
        let mut header = Header::new(k.alg);
        header.kid = Some(k.kid.clone());
        header.typ = Some(typ.to_string());
        jsonwebtoken::encode(&header, claims, &k.key).map_err(|e| e.to_string())
    }

    /// The claims of a JWT this provider signed with one of its keys (current or previous),
    /// for `issuer`, of type `typ`, whatever its audience and even expired (an `id_token_hint`
    /// may be an old ID token). `None` for anything else, the assertion's own tokens included.
    pub fn verify_own<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        typ: &str,
    ) -> Option<T> {
        if token.len() > 16 * 1024 {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some(typ) {
            return None;
        }
        let kid = header.kid?;
        let (_, alg, key) = self
            .verifying
            .iter()
            .find(|(k, a, _)| *k == kid && *a == header.alg)?;
        let mut v = Validation::new(*alg);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_issuer(&[issuer]);
        v.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<T>(token, key, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// The public keys, for the JWKS.
    pub fn jwks(&self) -> &[Jwk] {
        &self.jwks
    }
}

/// The JWKS document: the assertion's keys followed by the provider's.
pub fn merged_jwks(assertion_jwks: &str, oidc: Option<&OidcKeys>) -> String {
    let Some(keys) = oidc else {
        return assertion_jwks.to_string();
    };
    let mut set: JwkSet = serde_json::from_str(assertion_jwks).unwrap_or(JwkSet { keys: vec![] });
    set.keys.extend(keys.jwks().iter().cloned());
    serde_json::to_string(&set).unwrap_or_else(|_| assertion_jwks.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn settings(dir: &Path) -> OidcSettings {
        OidcSettings {
            rsa_key_file: dir.join("rsa.pem"),
            eddsa_key_file: dir.join("ed.pem"),
            previous_key_files: vec![],
            token_requests_per_minute: 10,
        }
    }

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
    struct C {
        iss: String,
        sub: String,
        aud: String,
        exp: i64,
    }

    #[test]
    fn keys_are_kept_and_tokens_verify_only_with_the_right_typ_and_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let k = OidcKeys::load(&settings(dir.path())).unwrap();
        let again = OidcKeys::load(&settings(dir.path())).unwrap();
        assert_eq!(k.rsa.kid, again.rsa.kid, "the key is kept across restarts");
        assert_eq!(k.jwks().len(), 2);
        let c = C {
            iss: "https://auth".into(),
            sub: "u".into(),
            aud: "rp".into(),
            exp: 1, // long expired: hints may be
        };
        for alg in [IdTokenAlg::Rs256, IdTokenAlg::EdDsa] {
            let t = k.sign(alg, ID_TOKEN_TYP, &c).unwrap();
            assert_eq!(
                jsonwebtoken::decode_header(&t).unwrap().alg.to_owned(),
                k.signing(alg).alg
            );
            assert_eq!(
                k.verify_own::<C>(&t, "https://auth", ID_TOKEN_TYP),
                Some(c.clone())
            );
            assert!(k
                .verify_own::<C>(&t, "https://other", ID_TOKEN_TYP)
                .is_none());
            assert!(k
                .verify_own::<C>(&t, "https://auth", LOGOUT_TOKEN_TYP)
                .is_none());
        }
        // Another provider's key (same kid scheme) does not verify here.
        let other_dir = tempfile::tempdir().unwrap();
        let other = OidcKeys::load(&settings(other_dir.path())).unwrap();
        let forged = other.sign(IdTokenAlg::Rs256, ID_TOKEN_TYP, &c).unwrap();
        assert!(k
            .verify_own::<C>(&forged, "https://auth", ID_TOKEN_TYP)
            .is_none());
        // Modes of generated files.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("rsa.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn previous_keys_are_published_and_a_wrong_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let old = OidcKeys::load(&settings(dir.path())).unwrap();
        let new_dir = tempfile::tempdir().unwrap();
        let mut s = settings(new_dir.path());
        s.previous_key_files = vec![dir.path().join("rsa.pem")];
        let new = OidcKeys::load(&s).unwrap();
        assert_eq!(new.jwks().len(), 3);
        let c = C {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 1,
        };
        let by_old = old.sign(IdTokenAlg::Rs256, ID_TOKEN_TYP, &c).unwrap();
        assert!(new.verify_own::<C>(&by_old, "i", ID_TOKEN_TYP).is_some());
        std::fs::write(new_dir.path().join("bad.pem"), "nope").unwrap();
        s.previous_key_files = vec![new_dir.path().join("bad.pem")];
        let e = OidcKeys::load(&s).err().unwrap();
        assert!(e.contains("bad.pem"), "{e}");
    }

    #[test]
    fn merged_jwks_keeps_the_assertion_keys_first() {
        let dir = tempfile::tempdir().unwrap();
        let k = OidcKeys::load(&settings(dir.path())).unwrap();
        let a = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}"#;
        let set: JwkSet = serde_json::from_str(&merged_jwks(a, Some(&k))).unwrap();
        assert_eq!(set.keys.len(), 3);
        assert_eq!(set.keys[0].common.key_id.as_deref(), Some("a"));
        assert_eq!(merged_jwks(a, None), a);
    }
}
