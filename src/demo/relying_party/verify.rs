//! What the demo relying party checks, in the order a relying party must
//! (OpenID Connect Core section 3.1.3.7): the token response comes from the token endpoint of
//! the configured issuer, over the client's own authentication; the ID token is signed by a key
//! of the issuer's JWKS with the expected algorithm, names the issuer, this client as audience,
//! is not expired, carries the nonce of this sign-in and, when a level was asked for, says it
//! was reached; UserInfo is about the same subject.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// The provider metadata the relying party uses.
#[derive(Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub end_session_endpoint: String,
    pub jwks_uri: String,
}

/// Seconds of clock skew allowed around `exp` and `iat`.
const LEEWAY: u64 = 5;

const UNREACHABLE: &str = "Le portail ne répond pas : réessayez dans quelques instants.";

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let r = http.get(url).send().await.map_err(|_| UNREACHABLE)?;
    if !r.status().is_success() {
        return Err(UNREACHABLE.into());
    }
    r.json().await.map_err(|_| UNREACHABLE.into())
}

/// The discovery document, whose `issuer` must be the configured one (section 4.3 of
/// OpenID Connect Discovery).
pub async fn discovery(http: &reqwest::Client, issuer: &str) -> Result<Discovery, String> {
    let d: Discovery =
        get_json(http, &format!("{issuer}/.well-known/openid-configuration")).await?;
    if d.issuer != issuer {
        return Err("Le portail annonce un autre émetteur : connexion refusée.".into());
    }
    Ok(d)
}

/// Constant-time comparison of two short secrets (`state`, `nonce`).
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The S256 PKCE challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What the ID token of this sign-in must say.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// The level asked for in `acr_values`, if any.
    pub acr: Option<&'a str>,
}

/// Verifies a JWT against the JWKS: the key named by `kid`, RS256 only (what this client
/// registered; never `none`, never a symmetric algorithm), issuer and audience.
pub fn verify_jwt(jwks: &JwkSet, jwt: &str, issuer: &str, aud: &str) -> Result<Value, String> {
    let bad = |m: &str| format!("Jeton refusé : {m}.");
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| bad("illisible"))?;
    if header.alg != Algorithm::RS256 {
        return Err(bad("algorithme inattendu"));
    }
    let kid = header.kid.ok_or_else(|| bad("clé non désignée (kid)"))?;
    let jwk = jwks.find(&kid).ok_or_else(|| bad("clé inconnue du JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("clé inutilisable"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[aud]);
    v.leeway = LEEWAY;
    v.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| bad(&format!("signature ou contenu invalide ({e})")))
}

/// The claims of the ID token once every check of [`Expect`] passed.
pub fn check_id_token(jwks: &JwkSet, jwt: &str, e: &Expect<'_>) -> Result<Value, String> {
    let claims = verify_jwt(jwks, jwt, e.issuer, e.client_id)?;
    let nonce = claims["nonce"].as_str().unwrap_or_default();
    if !same(nonce, e.nonce) {
        return Err("Jeton refusé : il n'a pas été émis pour cette connexion (nonce).".into());
    }
    if claims.get("azp").is_some_and(|a| a != e.client_id) {
        return Err("Jeton refusé : émis pour une autre application (azp).".into());
    }
    if claims["iat"].as_i64().is_none() {
        return Err("Jeton refusé : date d'émission absente.".into());
    }
    if let Some(want) = e.acr {
        if claims["acr"].as_str() != Some(want) {
            return Err(
                "Connexion refusée : la vérification en deux étapes n'a pas été faite (acr)."
                    .into(),
            );
        }
    }
    Ok(claims)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    id_token: String,
    token_type: String,
}

/// Redeems the code, verifies the ID token and reads UserInfo: returns the verified claims,
/// UserInfo and the ID token (for logout).
pub async fn sign_in(
    http: &reqwest::Client,
    e: &Expect<'_>,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    secret: &str,
) -> Result<(Value, Value, String), String> {
    let meta = discovery(http, e.issuer).await?;
    let r = http
        .post(&meta.token_endpoint)
        .basic_auth(e.client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|_| UNREACHABLE)?;
    if !r.status().is_success() {
        let body: Value = r.json().await.unwrap_or_default();
        return Err(format!(
            "Le portail a refusé le code ({}).",
            body["error"].as_str().unwrap_or("erreur inconnue")
        ));
    }
    let tok: TokenResponse = r
        .json()
        .await
        .map_err(|_| "Réponse du portail illisible.".to_string())?;
    if !tok.token_type.eq_ignore_ascii_case("bearer") {
        return Err("Type de jeton inattendu.".into());
    }
    let jwks: JwkSet = get_json(http, &meta.jwks_uri).await?;
    let claims = check_id_token(&jwks, &tok.id_token, e)?;
    let r = http
        .get(&meta.userinfo_endpoint)
        .bearer_auth(&tok.access_token)
        .send()
        .await
        .map_err(|_| UNREACHABLE)?;
    if !r.status().is_success() {
        return Err("Le portail a refusé la lecture du profil (UserInfo).".into());
    }
    let userinfo: Value = r
        .json()
        .await
        .map_err(|_| "Profil illisible.".to_string())?;
    if userinfo["sub"] != claims["sub"] {
        return Err("Le profil ne correspond pas à l'utilisateur connecté (sub).".into());
    }
    Ok((claims, userinfo, tok.id_token))
}

/// A logout token (Back-Channel Logout 1.0 section 2.6): its `sid` once verified.
pub async fn logout_token(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    jwt: &str,
) -> Result<String, String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| "unreadable")?;
    if header.typ.as_deref() != Some("logout+jwt") {
        return Err("not a logout token".into());
    }
    let meta = discovery(http, issuer).await?;
    let jwks: JwkSet = get_json(http, &meta.jwks_uri).await?;
    let claims = verify_jwt(&jwks, jwt, issuer, client_id)?;
    let event = "http://schemas.openid.net/event/backchannel-logout";
    if !claims["events"][event].is_object() || claims.get("nonce").is_some() {
        return Err("not a logout event".into());
    }
    claims["sid"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "no sid".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IdTokenAlg, OidcSettings};
    use crate::oidc::keys::OidcKeys;

    fn keys(dir: &std::path::Path) -> OidcKeys {
        OidcKeys::load(&OidcSettings {
            rsa_key_file: dir.join("r.pem"),
            eddsa_key_file: dir.join("e.pem"),
            previous_key_files: vec![],
            token_requests_per_minute: 1,
        })
        .unwrap()
    }

    #[test]
    fn every_claim_of_the_id_token_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let k = keys(d.path());
        let other = tempfile::tempdir().unwrap();
        let attacker = keys(other.path());
        let jwks = JwkSet {
            keys: k.jwks().to_vec(),
        };
        let now = crate::directory::now();
        let base = serde_json::json!({
            "iss": "http://auth", "aud": "demo-rp", "azp": "demo-rp", "sub": "u",
            "iat": now, "exp": now + 60, "nonce": "n1", "acr": "eidas1",
        });
        let e = Expect {
            issuer: "http://auth",
            client_id: "demo-rp",
            nonce: "n1",
            acr: None,
        };
        let sign = |k: &OidcKeys, alg, c: &Value| k.sign(alg, "JWT", c).unwrap();
        assert!(check_id_token(&jwks, &sign(&k, IdTokenAlg::Rs256, &base), &e).is_ok());
        let with = |field: &str, v: Value| {
            let mut c = base.clone();
            c[field] = v;
            sign(&k, IdTokenAlg::Rs256, &c)
        };
        for (what, jwt) in [
            ("issuer", with("iss", "http://evil".into())),
            ("audience", with("aud", "other-client".into())),
            ("azp", with("azp", "other-client".into())),
            ("expired", with("exp", (now - 60).into())),
            ("nonce", with("nonce", "n2".into())),
            ("attacker's key", sign(&attacker, IdTokenAlg::Rs256, &base)),
            ("EdDSA key", sign(&k, IdTokenAlg::EdDsa, &base)),
        ] {
            assert!(check_id_token(&jwks, &jwt, &e).is_err(), "{what}");
        }
        let strong = Expect {
            acr: Some("eidas2"),
            ..e
        };
        assert!(check_id_token(&jwks, &sign(&k, IdTokenAlg::Rs256, &base), &strong).is_err());
        assert!(check_id_token(&jwks, &with("acr", "eidas2".into()), &strong).is_ok());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
