//! Verification of the JWTs a provider signs (ID tokens, signed userinfo) against its JWKS.
//! Only asymmetric algorithms are accepted, and only those the provider advertises: a token
//! with `alg: none` or signed with HMAC over the public key (algorithm confusion) is refused
//! before any key is looked at.

use super::{OResult, OidcError};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use std::str::FromStr;

/// The signing keys of a provider, in the order it published them.
pub struct KeySet {
    keys: Vec<(Jwk, DecodingKey)>,
}

impl KeySet {
    /// Reads a JWKS document, keeping the public signature keys it can use: encryption keys,
    /// symmetric keys and key types this gateway does not know are skipped, not fatal.
    pub fn parse(bytes: &[u8]) -> OResult<KeySet> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc =
            serde_json::from_slice(bytes).map_err(|e| OidcError::Rejected(format!("JWKS: {e}")))?;
        let mut keys = Vec::new();
        for v in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
                || matches!(
                    jwk.algorithm,
                    AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_)
                )
            {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(&jwk) {
                keys.push((jwk, key));
            }
        }
        if keys.is_empty() {
            return Err(OidcError::Rejected(
                "JWKS holds no usable signing key".into(),
            ));
        }
        Ok(KeySet { keys })
    }

    /// The key for a token's header: by `kid` when it names one, else the only key of the
    /// algorithm's family.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&DecodingKey> {
        let family = alg.family();
        let mut fitting = self.keys.iter().filter(|(jwk, key)| {
            key.family() == family
                && jwk
                    .common
                    .key_algorithm
                    .is_none_or(|a| a == KeyAlgorithm::from(alg))
        });
        match kid {
            Some(kid) => fitting
                .find(|(jwk, _)| jwk.common.key_id.as_deref() == Some(kid))
                .map(|(_, k)| k),
            None => {
                let first = fitting.next();
                match fitting.next() {
                    None => first.map(|(_, k)| k),
                    Some(_) => None,
                }
            }
        }
    }
}

/// Asymmetric algorithms among those a provider advertises; RS256 when it lists none.
pub fn accepted_algorithms(advertised: &[String]) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = advertised
        .iter()
        .filter_map(|a| Algorithm::from_str(a).ok())
        .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        .collect();
    if advertised.is_empty() {
        out.push(Algorithm::RS256);
    }
    out
}

/// Why a token was refused, before or after the signature.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Signed with a key id the key set does not hold (the provider may have rotated keys).
    UnknownKey,
    Invalid(String),
}

/// What a token must be: from `issuer`, for `audience`, and whether `exp` is required (ID
/// tokens) or checked only when present (signed userinfo).
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub require_exp: bool,
    pub algorithms: &'a [Algorithm],
}

/// Verifies signature, issuer, audience and expiry (30 s of clock skew) and returns the
/// claims.
pub fn verify<T: DeserializeOwned>(token: &str, keys: &KeySet, e: &Expect) -> Result<T, Refusal> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|err| Refusal::Invalid(format!("header: {err}")))?;
    if !e.algorithms.contains(&header.alg) {
        return Err(Refusal::Invalid(format!(
            "algorithm {:?} is not one the provider signs with",
            header.alg
        )));
    }
    let key = keys
        .find(header.kid.as_deref(), header.alg)
        .ok_or(Refusal::UnknownKey)?;
    let mut v = Validation::new(header.alg);
    v.leeway = 30;
    v.set_issuer(&[e.issuer]);
    v.set_audience(&[e.audience]);
    v.validate_exp = e.require_exp;
    let required: &[&str] = if e.require_exp {
        &["exp", "iss", "aud", "sub"]
    } else {
        &["iss", "aud", "sub"]
    };
    v.set_required_spec_claims(required);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &v)
        .map_err(|err| Refusal::Invalid(err.to_string()))?;
    let claims = data.claims;
    // Several audiences: the token must name this client as its authorized party too
    // (OpenID Connect Core 1.0, 3.1.3.7).
    if let Some(list) = claims.get("aud").and_then(|a| a.as_array()) {
        if list.len() > 1 && claims.get("azp").and_then(|a| a.as_str()) != Some(e.audience) {
            return Err(Refusal::Invalid(
                "several audiences and azp is not this client".into(),
            ));
        }
    }
    if !e.require_exp {
        if let Some(exp) = claims.get("exp").and_then(|x| x.as_i64()) {
            if exp + 30 < crate_now() {
                return Err(Refusal::Invalid("expired".into()));
            }
        }
    }
    serde_json::from_value(claims).map_err(|err| Refusal::Invalid(format!("claims: {err}")))
}

fn crate_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
