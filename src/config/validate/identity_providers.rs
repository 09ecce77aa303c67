//! `[[identity_providers]]` (docs/identity-providers.md#configuration).

use super::{is_slug, Problems};
use crate::config::identity_providers::{IdentityProvider, IdentityProviderSection};
use std::time::Duration;

pub(super) fn check(list: &[IdentityProviderSection], p: &mut Problems) -> Vec<IdentityProvider> {
    let mut out: Vec<IdentityProvider> = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let key = |k: &str| format!("identity_providers[{i}].{k}");
        if !is_slug(&s.slug) {
            p.add(
                key("slug"),
                format!(
                    "{:?} must be 1-64 characters among a-z, 0-9, '-' and '_'",
                    s.slug
                ),
            );
        } else if out.iter().any(|o| o.slug == s.slug) {
            p.add(
                key("slug"),
                format!("{:?} is used by another provider", s.slug),
            );
        }
        let name = s.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            p.add(key("name"), "must be 1-60 characters");
        }
        if let Err(e) = check_issuer(&s.issuer) {
            p.add(key("issuer"), format!("{:?} {e}", s.issuer));
        }
        if s.client_id.trim().is_empty() || s.client_id.len() > 512 {
            p.add(key("client_id"), "must be given (1-512 characters)");
        }
        if s.client_secret.as_ref().is_some_and(|c| c.0.is_empty()) {
            p.add(
                key("client_secret"),
                "must not be empty (leave it out for a public client)",
            );
        }
        if s.client_secret.is_none() && !s.pkce {
            p.add(
                key("pkce"),
                "a provider without client_secret needs pkce = true (nothing else would prove the token request comes from this gateway)",
            );
        }
        if !s.scopes.iter().any(|x| x == "openid") {
            p.add(key("scopes"), "must contain \"openid\"");
        }
        for (name, values) in [
            ("scopes", &s.scopes),
            ("acr_values", &s.acr_values),
            ("second_factor_acr", &s.second_factor_acr),
        ] {
            if let Some(bad) = values.iter().find(|v| !is_token(v)) {
                p.add(
                    key(name),
                    format!(
                        "{bad:?} must be 1-128 printable ASCII characters without spaces or quotes"
                    ),
                );
            }
        }
        for siret in s.siret_structures.keys() {
            if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) {
                p.add(
                    key("siret_structures"),
                    format!("{siret:?} is not a SIRET (14 digits)"),
                );
            }
        }
        let secret_basic = match s.token_endpoint_auth_method.as_str() {
            "client_secret_post" => false,
            "client_secret_basic" => true,
            other => {
                p.add(
                    key("token_endpoint_auth_method"),
                    format!(
                        "{other:?} is not one of \"client_secret_post\", \"client_secret_basic\""
                    ),
                );
                false
            }
        };
        if s.timeout_seconds == 0 || s.timeout_seconds > 60 {
            p.add(key("timeout_seconds"), "must be between 1 and 60");
        }
        out.push(IdentityProvider {
            slug: s.slug.clone(),
            name: name.to_string(),
            issuer: s.issuer.clone(),
            client_id: s.client_id.trim().to_string(),
            client_secret: s.client_secret.clone(),
            scopes: s.scopes.clone(),
            acr_values: s.acr_values.clone(),
            second_factor_acr: s.second_factor_acr.clone(),
            pkce: s.pkce,
            trust_email: s.trust_email,
            create_accounts: s.create_accounts,
            siret_structures: s.siret_structures.clone(),
            userinfo: s.userinfo,
            timeout: Duration::from_secs(s.timeout_seconds.clamp(1, 60)),
            secret_basic,
        });
    }
    out
}

/// An `https://` URL without query or fragment; `http://` only on a loopback address, for
/// tests and the demo (a token endpoint in clear on a network would expose the codes).
fn check_issuer(issuer: &str) -> Result<(), &'static str> {
    let u = url::Url::parse(issuer).map_err(|_| "is not a URL")?;
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("must have no query, fragment or user name");
    }
    match (u.scheme(), u.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(url::Host::Ipv4(a))) if a.is_loopback() => Ok(()),
        ("http", Some(url::Host::Ipv6(a))) if a.is_loopback() => Ok(()),
        ("http", Some(url::Host::Domain("localhost"))) => Ok(()),
        ("http", _) => Err("must use https:// (http:// only on a loopback address)"),
        _ => Err("must be an https:// URL"),
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::check_issuer;

    #[test]
    fn issuers_in_clear_only_on_loopback() {
        assert!(check_issuer("https://auth.agentconnect.gouv.fr/api/v2").is_ok());
        assert!(check_issuer("http://127.0.0.1:4000").is_ok());
        assert!(check_issuer("http://127.8.0.1:4000/x").is_ok());
        assert!(check_issuer("http://[::1]:4000").is_ok());
        assert!(check_issuer("http://localhost:4000").is_ok());
        assert!(check_issuer("http://10.0.0.1:4000").is_err());
        assert!(check_issuer("http://idp.example.fr").is_err());
        assert!(check_issuer("ftp://idp.example.fr").is_err());
        assert!(check_issuer("https://idp.example.fr/?a=b").is_err());
        assert!(check_issuer("https://u@idp.example.fr/").is_err());
        assert!(check_issuer("idp.example.fr").is_err());
    }
}
