//! `[oidc]` and each application's `[apps.oidc]` client (docs/oidc-provider.md).

use super::Problems;
use crate::config::file_oidc::{OidcClientSection, OidcSection};
use crate::config::model_oidc::{ClientSecret, IdTokenAlg, OidcClient, OidcSettings};
use crate::config::Secret;
use std::path::Path;
use std::time::Duration;

pub(super) fn check_section(o: &OidcSection, data_dir: &Path, p: &mut Problems) -> OidcSettings {
    if o.token_requests_per_minute == 0 {
        p.add("oidc.token_requests_per_minute", "must be at least 1");
    }
    OidcSettings {
        rsa_key_file: o
            .rsa_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("oidc-rsa-key.pem")),
        eddsa_key_file: o
            .eddsa_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("oidc-ed25519-key.pem")),
        previous_key_files: o.previous_key_files.clone(),
        token_requests_per_minute: o.token_requests_per_minute,
    }
}

/// A redirect URI as the provider compares it: byte for byte with what the client sends, so
/// the file must hold the one spelling a URL parser gives back (lower-case host, explicit
/// path), with no fragment and no credentials.
pub(crate) fn uri_problem(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > 2000 {
        return Some("must be an absolute http(s) URL of at most 2000 characters".into());
    }
    let Ok(u) = url::Url::parse(raw) else {
        return Some(format!("{raw:?} is not an absolute URL"));
    };
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none_or(str::is_empty) {
        return Some(format!(
            "{raw:?} must be an http:// or https:// URL with a host"
        ));
    }
    if u.fragment().is_some() {
        return Some(format!("{raw:?} must not have a fragment (#...)"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Some(format!("{raw:?} must not carry a user name or password"));
    }
    if u.as_str() != raw {
        return Some(format!("{raw:?}: write it exactly as {:?}", u.as_str()));
    }
    None
}

fn key(i: usize, field: &str) -> String {
    format!("apps[{i}].oidc.{field}")
}

/// `None` when the client has a problem (recorded).
pub(super) fn client(i: usize, c: &OidcClientSection, p: &mut Problems) -> Option<OidcClient> {
    let before = p.len();
    if c.client_id.is_empty()
        || c.client_id.len() > 128
        || !c
            .client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        p.add(
            key(i, "client_id"),
            format!(
                "{:?} must be 1 to 128 letters, digits, '-', '_' or '.'",
                c.client_id
            ),
        );
    }
    let secret = match (c.public, &c.client_secret_hash, &c.client_secret_env) {
        (true, None, None) => ClientSecret::None,
        (true, _, _) => {
            p.add(
                key(i, "public"),
                "a public client has no secret: remove client_secret_hash and client_secret_env",
            );
            ClientSecret::None
        }
        (false, Some(h), None) => {
            if argon2::password_hash::phc::PasswordHash::new(h).is_err()
                || !h.starts_with("$argon2")
            {
                p.add(
                    key(i, "client_secret_hash"),
                    "must be an Argon2 hash in PHC form (\"$argon2id$...\"), as printed by `convergences hash-secret`",
                );
            }
            ClientSecret::Hash(h.clone())
        }
        (false, None, Some(var)) => match std::env::var(var) {
            Ok(v) if v.len() >= 16 => ClientSecret::Plain(Secret(v)),
            Ok(_) => {
                p.add(
                    key(i, "client_secret_env"),
                    format!("the secret in ${var} must be at least 16 characters long"),
                );
                ClientSecret::None
            }
            Err(_) => {
                p.add(
                    key(i, "client_secret_env"),
                    format!("environment variable {var} is not set"),
                );
                ClientSecret::None
            }
        },
        (false, Some(_), Some(_)) => {
            p.add(
                key(i, "client_secret_hash"),
                "give client_secret_hash or client_secret_env, not both",
            );
            ClientSecret::None
        }
        (false, None, None) => {
            p.add(
                key(i, "client_secret_hash"),
                "a confidential client needs client_secret_hash or client_secret_env (or public = true)",
            );
            ClientSecret::None
        }
    };
    if c.redirect_uris.is_empty() {
        p.add(key(i, "redirect_uris"), "needs at least one URL");
    }
    for (j, u) in c.redirect_uris.iter().enumerate() {
        if let Some(m) = uri_problem(u) {
            p.add(format!("apps[{i}].oidc.redirect_uris[{j}]"), m);
        }
    }
    for (j, u) in c.post_logout_redirect_uris.iter().enumerate() {
        if let Some(m) = uri_problem(u) {
            p.add(format!("apps[{i}].oidc.post_logout_redirect_uris[{j}]"), m);
        }
    }
    if let Some(u) = &c.backchannel_logout_uri {
        if let Some(m) = uri_problem(u) {
            p.add(key(i, "backchannel_logout_uri"), m);
        }
    }
    let id_token_alg = match c.id_token_signed_response_alg.as_str() {
        "RS256" => IdTokenAlg::Rs256,
        "EdDSA" => IdTokenAlg::EdDsa,
        other => {
            p.add(
                key(i, "id_token_signed_response_alg"),
                format!("{other:?} is not supported: \"RS256\" or \"EdDSA\""),
            );
            IdTokenAlg::Rs256
        }
    };
    for (field, v, max) in [
        ("access_token_ttl_seconds", c.access_token_ttl_seconds, 3600),
        ("id_token_ttl_seconds", c.id_token_ttl_seconds, 3600),
        (
            "refresh_token_ttl_seconds",
            c.refresh_token_ttl_seconds,
            30 * 24 * 3600,
        ),
    ] {
        if !(1..=max).contains(&v) {
            p.add(key(i, field), format!("must be between 1 and {max}"));
        }
    }
    if p.len() > before {
        return None;
    }
    Some(OidcClient {
        client_id: c.client_id.clone(),
        secret,
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        id_token_alg,
        offline_access: c.offline_access,
        access_token_ttl: Duration::from_secs(c.access_token_ttl_seconds),
        id_token_ttl: Duration::from_secs(c.id_token_ttl_seconds),
        refresh_token_ttl: Duration::from_secs(c.refresh_token_ttl_seconds),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{ClientSecret, Config, IdTokenAlg};

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yVzdlrDnHpxDFaqJb3LGhZDlYzFz/cRz0+oQ0z7Fg4M";

    fn load(apps: &str) -> Result<Config, String> {
        let text = format!("[server]\nportal_host = \"auth.test\"\n{apps}");
        Config::from_toml("t.toml", &text, &[]).map_err(|e| e.to_string())
    }

    fn client(extra: &str) -> String {
        format!(
            "[[apps]]\nslug = \"rp\"\nname = \"RP\"\nurl = \"https://rp.example/\"\n[apps.oidc]\nclient_id = \"rp-client\"\nclient_secret_hash = \"{HASH}\"\nredirect_uris = [\"https://rp.example/cb\"]\n{extra}"
        )
    }

    #[test]
    fn an_oidc_only_application_loads() {
        let c = load(&client(
            "id_token_signed_response_alg = \"EdDSA\"\noffline_access = true\n",
        ))
        .unwrap();
        let app = &c.apps[0];
        assert!(app.upstreams.is_empty());
        assert_eq!(app.url.as_deref(), Some("https://rp.example/"));
        let o = app.oidc.as_ref().unwrap();
        assert_eq!(o.id_token_alg, IdTokenAlg::EdDsa);
        assert!(matches!(o.secret, ClientSecret::Hash(_)));
        assert!(o.offline_access);
        assert_eq!(
            c.oidc.rsa_key_file,
            std::path::Path::new("data/oidc-rsa-key.pem")
        );
    }

    #[test]
    fn problems_name_their_key() {
        let cases: &[(&str, &str)] = &[
            (&client("bogus = 1\n"), "apps[0].oidc"),
            (&client("redirect_uris = []\n").replace("redirect_uris = [\"https://rp.example/cb\"]\n", ""), "apps[0].oidc.redirect_uris"),
            (&client("post_logout_redirect_uris = [\"https://rp.example/bye#x\"]\n"), "apps[0].oidc.post_logout_redirect_uris[0]"),
            (&client("backchannel_logout_uri = \"ftp://rp.example/bc\"\n"), "apps[0].oidc.backchannel_logout_uri"),
            (&client("public = true\n"), "apps[0].oidc.public"),
            (&client("id_token_signed_response_alg = \"HS256\"\n"), "apps[0].oidc.id_token_signed_response_alg"),
            (&client("access_token_ttl_seconds = 0\n"), "apps[0].oidc.access_token_ttl_seconds"),
            (&client("client_secret_env = \"CONVERGENCES_SURELY_UNSET_42\"\n"), "apps[0].oidc.client_secret_hash"),
            (&client("").replace(HASH, "plain-text"), "apps[0].oidc.client_secret_hash"),
            (&client("").replace("rp-client", "rp"), "apps[0].oidc.client_id"),
            (&client("").replace("rp-client", "a b"), "apps[0].oidc.client_id"),
            (&client("").replace("https://rp.example/cb", "https://RP.example/cb"), "apps[0].oidc.redirect_uris[0]"),
            (&client("").replace("https://rp.example/cb", "https://rp.example"), "apps[0].oidc.redirect_uris[0]"),
            (&client("").replace("url = \"https://rp.example/\"\n", ""), "apps[0].url"),
            (&client("").replace("url = ", "host = \"rp.test\"\nurl = "), "apps[0].host"),
            (&format!("{}{}", client(""), client("").replace("slug = \"rp\"", "slug = \"rp2\"")), "apps[1].oidc.client_id"),
            ("[[apps]]\nslug = \"bip\"\nname = \"B\"\nhost = \"bip.test\"\nupstreams = [\"127.0.0.1:1\"]\nurl = \"https://x.example/\"\n", "apps[0].url"),
            (&format!("[oidc]\ntoken_requests_per_minute = 0\n{}", client("")), "oidc.token_requests_per_minute"),
        ];
        for (text, key) in cases {
            let e = load(text)
                .err()
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(e.contains(&format!("key `{key}")), "{key}: {e}");
        }
        let e = load(&client("client_secret_env = \"PATH\"\n"))
            .err()
            .unwrap();
        assert!(e.contains("not both"), "{e}");
    }
}
