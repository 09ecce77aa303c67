//! The authorization code flow with a provider (OpenID Connect Core 1.0, section 3.1, with
//! PKCE, RFC 7636): the request sent to the provider, the token and userinfo exchanges, and the
//! verified identity that comes out of them. Only parameters the specifications define are
//! sent (ProConnect refuses any other).

use super::jwt::{self, Expect, Refusal};
use super::{read_body, Metadata, OResult, OidcError, Provider};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What the gateway remembers between sending the browser to the provider and its return,
/// under the `state` (single use, any instance).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    pub slug: String,
    pub nonce: String,
    /// PKCE code verifier, when the provider uses PKCE.
    pub verifier: Option<String>,
    pub return_to: String,
    /// SHA-256 (base64url) of the browser's binding cookie: a `state` brought back by
    /// another browser is refused (login CSRF).
    pub browser: String,
}

/// RFC 7636 S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// The URL the browser is sent to.
pub fn authorization_url(
    p: &Provider,
    meta: &Metadata,
    redirect_uri: &str,
    state: &str,
    pending: &Pending,
) -> OResult<String> {
    let mut u = url::Url::parse(&meta.discovery.authorization_endpoint)
        .map_err(|e| OidcError::Rejected(format!("authorization_endpoint: {e}")))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &p.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &p.config.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", &pending.nonce);
        if !p.config.acr_values.is_empty() {
            q.append_pair("acr_values", &p.config.acr_values.join(" "));
        }
        if let Some(v) = &pending.verifier {
            q.append_pair("code_challenge", &pkce_challenge(v))
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok(u.into())
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), when the provider has an
/// end-session endpoint.
pub fn end_session_url(
    meta: &Metadata,
    id_token: &str,
    state: &str,
    post_logout_redirect_uri: &str,
) -> Option<String> {
    let mut u = url::Url::parse(meta.discovery.end_session_endpoint.as_deref()?).ok()?;
    u.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("state", state)
        .append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
    Some(u.into())
}

/// A verified identity at a provider.
#[derive(Clone, Debug, Default)]
pub struct ExternalIdentity {
    pub sub: String,
    pub email: Option<String>,
    /// The provider said the address is verified (`email_verified`).
    pub email_verified: bool,
    pub given_name: Option<String>,
    /// `usual_name` (ProConnect), else `family_name`.
    pub family_name: Option<String>,
    pub siret: Option<String>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: Option<i64>,
    /// The raw ID token, for `id_token_hint` at logout.
    pub id_token: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
    #[serde(default)]
    access_token: Option<String>,
}

type Claims = serde_json::Map<String, serde_json::Value>;

fn text(c: &Claims, name: &str) -> Option<String> {
    c.get(name)
        .and_then(|v| v.as_str())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 512)
}

/// Redeems the code and verifies what comes back: the ID token (signature with key rotation,
/// issuer, audience, expiry, nonce, `acr` when configured), then userinfo (JSON or a signed
/// JWT) for the same `sub`.
pub async fn sign_in(
    p: &Provider,
    code: &str,
    pending: &Pending,
    redirect_uri: &str,
) -> OResult<ExternalIdentity> {
    let meta = p.metadata().await?;
    let tokens = exchange(p, &meta, code, redirect_uri, pending).await?;
    let (meta, claims) = verify_rotating(p, meta, &tokens.id_token, true).await?;
    let nonce_ok = claims
        .get("nonce")
        .and_then(|n| n.as_str())
        .is_some_and(|n| constant_eq(n, &pending.nonce));
    if !nonce_ok {
        return Err(OidcError::Rejected("ID token nonce does not match".into()));
    }
    let acr = text(&claims, "acr");
    if !p.config.acr_values.is_empty()
        && !acr
            .as_ref()
            .is_some_and(|a| p.config.acr_values.iter().any(|x| x == a))
    {
        return Err(OidcError::Acr(acr.unwrap_or_default()));
    }
    let sub =
        text(&claims, "sub").ok_or_else(|| OidcError::Rejected("ID token without sub".into()))?;
    let mut all = claims.clone();
    if let (true, Some(endpoint), Some(access)) = (
        p.config.userinfo,
        meta.discovery.userinfo_endpoint.clone(),
        tokens.access_token.as_deref(),
    ) {
        let info = userinfo(p, meta, &endpoint, access).await?;
        if text(&info, "sub").as_deref() != Some(sub.as_str()) {
            return Err(OidcError::Rejected("userinfo is about another sub".into()));
        }
        for (k, v) in info {
            if !matches!(
                k.as_str(),
                "iss" | "aud" | "exp" | "iat" | "nonce" | "acr" | "amr"
            ) {
                all.insert(k, v);
            }
        }
    }
    let email_verified = match all.get("email_verified") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    };
    Ok(ExternalIdentity {
        sub,
        email: text(&all, "email").map(|e| e.to_lowercase()),
        email_verified,
        given_name: text(&all, "given_name"),
        family_name: text(&all, "usual_name").or_else(|| text(&all, "family_name")),
        siret: text(&all, "siret"),
        acr,
        amr: claims
            .get("amr")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .take(8)
                    .map(|s| s.chars().take(32).collect())
                    .collect()
            })
            .unwrap_or_default(),
        auth_time: claims.get("auth_time").and_then(|t| t.as_i64()),
        id_token: tokens.id_token,
    })
}

fn constant_eq(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

async fn exchange(
    p: &Provider,
    meta: &Metadata,
    code: &str,
    redirect_uri: &str,
    pending: &Pending,
) -> OResult<TokenResponse> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = &pending.verifier {
        form.push(("code_verifier", v));
    }
    let mut req = p.http().post(&meta.discovery.token_endpoint);
    match &p.config.client_secret {
        Some(secret) if p.config.secret_basic => {
            req = req.basic_auth(
                form_encode(&p.config.client_id),
                Some(form_encode(&secret.0)),
            );
        }
        Some(secret) => {
            form.push(("client_id", &p.config.client_id));
            form.push(("client_secret", &secret.0));
        }
        None => form.push(("client_id", &p.config.client_id)),
    }
    let resp = req
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
    let body = read_body(resp, "token endpoint").await?;
    serde_json::from_slice(&body).map_err(|e| OidcError::Rejected(format!("token response: {e}")))
}

/// RFC 6749, 2.3.1: the client id and secret are form-encoded before HTTP Basic.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Verifies a JWT of the provider; a key id the keys lack reads the keys again once.
async fn verify_rotating(
    p: &Provider,
    mut meta: Arc<Metadata>,
    token: &str,
    id_token: bool,
) -> OResult<(Arc<Metadata>, Claims)> {
    for _ in 0..2 {
        let expect = Expect {
            issuer: &p.config.issuer,
            audience: &p.config.client_id,
            require_exp: id_token,
            algorithms: &meta.algorithms,
        };
        match jwt::verify::<Claims>(token, &meta.keys, &expect) {
            Ok(c) => return Ok((meta, c)),
            Err(Refusal::Invalid(why)) => return Err(OidcError::Rejected(why)),
            Err(Refusal::UnknownKey) => match p.refresh_keys(&meta).await? {
                Some(fresh) => meta = fresh,
                None => break,
            },
        }
    }
    Err(OidcError::Rejected("signed with an unknown key".into()))
}

async fn userinfo(
    p: &Provider,
    meta: Arc<Metadata>,
    endpoint: &str,
    access_token: &str,
) -> OResult<Claims> {
    let resp = p
        .http()
        .get(endpoint)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| OidcError::Unavailable(format!("userinfo endpoint: {e}")))?;
    let jwt = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/jwt"));
    let body = read_body(resp, "userinfo endpoint").await?;
    if jwt {
        let token = String::from_utf8(body)
            .map_err(|_| OidcError::Rejected("userinfo JWT is not text".into()))?;
        Ok(verify_rotating(p, meta, token.trim(), false).await?.1)
    } else {
        serde_json::from_slice(&body).map_err(|e| OidcError::Rejected(format!("userinfo: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_challenge_is_base64url_sha256_without_padding() {
        // Computed independently: base64url(sha256(verifier)) without '='.
        assert_eq!(
            super::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXdxEyM6c"),
            "COvJmnbh5Kj_Ko5rNEows44ywXRcmNsqwzkgdXeMXdo"
        );
    }
}
