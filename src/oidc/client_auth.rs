//! Client authentication at the token endpoint (RFC 6749 section 2.3.1, OpenID Connect Core
//! section 9): `client_secret_basic`, `client_secret_post`, or none for public clients.

use crate::config::{ClientSecret, OidcClient};
use base64::Engine;
use std::collections::HashMap;

#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    /// The credentials came in the Authorization header (a failure then answers 401).
    pub basic: bool,
}

/// The credentials of a token request. One method only: a request with both a Basic header and
/// a `client_secret` field is refused, as is a `client_id` that contradicts the header.
pub fn presented(
    authorization: Option<&str>,
    form: &HashMap<String, String>,
) -> Result<Presented, &'static str> {
    if let Some(h) = authorization {
        let (scheme, rest) = h
            .trim()
            .split_once(' ')
            .ok_or("malformed Authorization header")?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err("unsupported authentication scheme");
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| "malformed Basic credentials")?;
        let text = String::from_utf8(raw).map_err(|_| "malformed Basic credentials")?;
        let (id, secret) = text.split_once(':').ok_or("malformed Basic credentials")?;
        // Both halves are form-urlencoded (RFC 6749 section 2.3.1).
        let decode = |s: &str| -> String {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (decode(id), decode(secret));
        if form.contains_key("client_secret") {
            return Err("use one client authentication method");
        }
        if form.get("client_id").is_some_and(|c| *c != id) {
            return Err("client_id differs from the Authorization header");
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            basic: true,
        });
    }
    let client_id = form
        .get("client_id")
        .ok_or("client authentication missing")?;
    Ok(Presented {
        client_id: client_id.clone(),
        secret: form.get("client_secret").cloned(),
        basic: false,
    })
}

/// True when the presented secret is the client's (or, for a public client, when none was
/// presented). Secrets are compared through hashes, in constant time.
pub async fn verify(client: &OidcClient, p: &Presented) -> bool {
    match (&client.secret, &p.secret) {
        (ClientSecret::None, None) => true,
        (ClientSecret::None, Some(_)) | (_, None) => false,
        (ClientSecret::Hash(h), Some(s)) => {
            crate::auth::password::verify(s.clone(), Some(h.clone())).await
        }
        (ClientSecret::Plain(want), Some(s)) => {
            use sha2::{Digest, Sha256};
            let a = Sha256::digest(s.as_bytes());
            let b = Sha256::digest(want.0.as_bytes());
            bool::from(subtle::ConstantTimeEq::ct_eq(&a[..], &b[..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn basic_and_post_credentials() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%20rp:s%3Acret")
        );
        let p = presented(Some(&h), &form(&[])).unwrap();
        assert_eq!(p.client_id, "my rp");
        assert_eq!(p.secret.as_deref(), Some("s:cret"));
        assert!(p.basic);
        assert!(presented(Some(&h), &form(&[("client_secret", "x")])).is_err());
        assert!(presented(Some(&h), &form(&[("client_id", "other")])).is_err());
        assert!(presented(Some("Bearer x"), &form(&[])).is_err());
        assert!(presented(Some("Basic !!!"), &form(&[])).is_err());
        let p = presented(None, &form(&[("client_id", "rp"), ("client_secret", "s")])).unwrap();
        assert_eq!(p.secret.as_deref(), Some("s"));
        assert!(!p.basic);
        assert!(presented(None, &form(&[])).is_err());
    }

    #[tokio::test]
    async fn secrets_are_checked() {
        use crate::config::{IdTokenAlg, Secret};
        let mut c = OidcClient {
            client_id: "rp".into(),
            secret: ClientSecret::Plain(Secret("right-secret-right".into())),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            id_token_alg: IdTokenAlg::Rs256,
            offline_access: false,
            access_token_ttl: std::time::Duration::from_secs(1),
            id_token_ttl: std::time::Duration::from_secs(1),
            refresh_token_ttl: std::time::Duration::from_secs(1),
        };
        let with = |s: Option<&str>| Presented {
            client_id: "rp".into(),
            secret: s.map(str::to_string),
            basic: false,
        };
        assert!(verify(&c, &with(Some("right-secret-right"))).await);
        assert!(!verify(&c, &with(Some("right-secret-righ"))).await);
        assert!(!verify(&c, &with(None)).await);
        c.secret =
            ClientSecret::Hash(crate::auth::password::hash_blocking("hashed-secret").unwrap());
        assert!(verify(&c, &with(Some("hashed-secret"))).await);
        assert!(!verify(&c, &with(Some("other"))).await);
        c.secret = ClientSecret::None;
        assert!(verify(&c, &with(None)).await);
        assert!(
            !verify(&c, &with(Some("x"))).await,
            "a public client presents no secret"
        );
    }
}
