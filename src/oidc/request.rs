//! The authorization request (OpenID Connect Core 1.0 section 3.1.2.1): which client, where to
//! answer, and what it asks for. Until the client and its redirect URI are known to be
//! registered, errors are shown to the user and never sent anywhere (an unchecked redirect URI
//! would make the provider an open redirector); after that, errors go back to the client.

use super::pkce;
use crate::config::OidcClient;
use std::collections::HashMap;

/// Scopes the provider knows; others are ignored, as the specification asks.
pub const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "roles",
    "structure",
    "offline_access",
];

/// A valid request, ready to be answered once the user is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Known scopes only, `openid` first; `offline_access` only when the client may have it.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `acr_values` as sent (kept to rebuild the request after a sign-in or a confirmation).
    pub acr_values: Option<String>,
    /// Set by the provider itself when it sent the user to sign in again: a session started at
    /// or after this instant satisfies `prompt=login` and `max_age`.
    pub fresh_after: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Prompt {
    #[default]
    Default,
    /// Answer without any page: an error if the user is not signed in.
    None,
    /// Ask for the password again.
    Login,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Shown to the user, in French; nothing is sent to the client.
    Page(&'static str),
    /// Sent back to the client's redirect URI (RFC 6749 section 4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

pub const UNKNOWN_CLIENT: &str =
    "Cette application n'est pas déclarée auprès du portail : la connexion ne peut pas aboutir. Signalez-le à l'équipe qui gère l'application.";
pub const BAD_REDIRECT: &str =
    "L'adresse de retour demandée par l'application n'est pas autorisée : la connexion a été arrêtée. Signalez-le à l'équipe qui gère l'application.";

/// Validates the parameters against `client` (the client named by `client_id`, if any).
pub fn validate(
    p: &HashMap<String, String>,
    client: Option<&OidcClient>,
) -> Result<AuthRequest, AuthError> {
    let get = |k: &str| p.get(k).map(String::as_str);
    let client = client.ok_or(AuthError::Page(UNKNOWN_CLIENT))?;
    if get("client_id") != Some(client.client_id.as_str()) {
        return Err(AuthError::Page(UNKNOWN_CLIENT));
    }
    let redirect_uri = get("redirect_uri")
        .filter(|r| client.redirect_uris.iter().any(|u| u == r))
        .ok_or(AuthError::Page(BAD_REDIRECT))?
        .to_string();
    let state = get("state").map(str::to_string);
    let fail = |error: &'static str, description: &'static str| AuthError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    if get("request").is_some() {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if get("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        ));
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return Err(fail(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let asked: Vec<&str> = get("scope").unwrap_or("").split(' ').collect();
    if !asked.contains(&"openid") {
        return Err(fail("invalid_scope", "the openid scope is required"));
    }
    let mut scopes = vec!["openid".to_string()];
    for s in SCOPES {
        let allowed = *s != "offline_access" || client.offline_access;
        if *s != "openid" && allowed && asked.contains(s) {
            scopes.push(s.to_string());
        }
    }
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) if client.is_public() => {
            return Err(fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required for this client",
            ))
        }
        (None, None) => None,
        (Some(c), Some("S256")) if pkce::well_formed(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => return Err(fail("invalid_request", "malformed code_challenge")),
        _ => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256, with a code_challenge",
            ))
        }
    };
    let prompts: Vec<&str> = get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(fail("invalid_request", "prompt=none cannot be combined"));
    }
    if prompts
        .iter()
        .any(|s| !matches!(*s, "none" | "login" | "consent" | "select_account"))
    {
        return Err(fail("invalid_request", "unknown prompt value"));
    }
    let prompt = if prompts.contains(&"none") {
        Prompt::None
    } else if prompts.contains(&"login") {
        Prompt::Login
    } else {
        Prompt::Default
    };
    let max_age = match get("max_age") {
        None => None,
        Some(m) => match m.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                return Err(fail(
                    "invalid_request",
                    "max_age must be a non-negative integer",
                ))
            }
        },
    };
    let short = |k: &str, max: usize| -> Result<Option<String>, AuthError> {
        match get(k) {
            Some(v) if v.len() > max => Err(fail("invalid_request", "a parameter is too long")),
            v => Ok(v.map(str::to_string)),
        }
    };
    let nonce = short("nonce", 512)?;
    let login_hint = short("login_hint", 254)?;
    let acr_values = short("acr_values", 256)?;
    if state.as_ref().is_some_and(|s| s.len() > 2048) {
        return Err(fail("invalid_request", "a parameter is too long"));
    }
    Ok(AuthRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        scopes,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        acr_values,
        fresh_after: get("fresh_after").and_then(|v| v.parse().ok()),
    })
}

impl AuthRequest {
    /// True when the user must (re)enter their password: `prompt=login`, or a session older
    /// than `max_age`, unless the provider has just had them sign in.
    pub fn needs_login(&self, auth_time: i64, now: i64) -> bool {
        if let Some(t) = self.fresh_after {
            return auth_time < t;
        }
        self.prompt == Prompt::Login || self.max_age.is_some_and(|m| now - auth_time > m)
    }

    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }

    /// True when this request needs a second factor: the application requires one
    /// (`require_mfa`), or `acr_values` accepts no level below it (docs/oidc-provider.md#acr).
    pub fn needs_second_factor(&self, require_mfa: bool) -> bool {
        require_mfa || super::acr::minimum(self.acr_values.as_deref()) >= Some(2)
    }

    /// The request again, as a portal path, for the login page to come back to: without
    /// `prompt=login`, with `fresh_after` so that the fresh session satisfies it.
    pub fn return_path(&self, fresh_after: Option<i64>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &self.client_id);
        q.append_pair("redirect_uri", &self.redirect_uri);
        q.append_pair("scope", &self.scopes.join(" "));
        for (k, v) in [
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("login_hint", &self.login_hint),
            ("acr_values", &self.acr_values),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        if self.code_challenge.is_some() {
            q.append_pair("code_challenge_method", "S256");
        }
        if let Some(m) = self.max_age {
            q.append_pair("max_age", &m.to_string());
        }
        if let Some(t) = fresh_after.or(self.fresh_after) {
            q.append_pair("fresh_after", &t.to_string());
        }
        format!("{}?{}", super::AUTHORIZE_PATH, q.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientSecret, IdTokenAlg, Secret};
    use std::time::Duration;

    pub fn client(public: bool) -> OidcClient {
        OidcClient {
            client_id: "rp".into(),
            secret: if public {
                ClientSecret::None
            } else {
                ClientSecret::Plain(Secret("s".repeat(20)))
            },
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            id_token_alg: IdTokenAlg::Rs256,
            offline_access: false,
            access_token_ttl: Duration::from_secs(60),
            id_token_ttl: Duration::from_secs(60),
            refresh_token_ttl: Duration::from_secs(60),
        }
    }

    fn params(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("scope", "openid email offline_access bogus"),
            ("state", "st"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            if v.is_empty() {
                m.remove(*k);
            } else {
                m.insert(k.to_string(), v.to_string());
            }
        }
        m
    }

    fn error_of(r: Result<AuthRequest, AuthError>) -> &'static str {
        match r {
            Err(AuthError::Redirect { error, .. }) => error,
            Err(AuthError::Page(_)) => "page",
            Ok(_) => "ok",
        }
    }

    #[test]
    fn a_valid_request_keeps_known_scopes_only() {
        let r = validate(&params(&[]), Some(&client(false))).unwrap();
        assert_eq!(
            r.scopes,
            vec!["openid", "email"],
            "offline_access not allowed for this client"
        );
        let mut c = client(false);
        c.offline_access = true;
        let r = validate(&params(&[]), Some(&c)).unwrap();
        assert!(r.has_scope("offline_access"));
        assert_eq!(r.state.as_deref(), Some("st"));
    }

    #[test]
    fn unregistered_redirect_uris_are_never_redirected_to() {
        let c = client(false);
        for bad in [
            "https://rp.example/cb/",
            "https://rp.example/cb/x",
            "https://rp.example/c",
            "https://RP.example/cb",
            "https://rp.example/CB",
            "https://rp.example/cb#f",
            "https://rp.example/cb?x=1",
            "http://rp.example/cb",
            "https://rp.example.evil.fr/cb",
            "https://rp.example:443/cb",
            "",
        ] {
            assert_eq!(
                validate(&params(&[("redirect_uri", bad)]), Some(&c)),
                Err(AuthError::Page(BAD_REDIRECT)),
                "{bad}"
            );
        }
        assert_eq!(
            validate(&params(&[]), None),
            Err(AuthError::Page(UNKNOWN_CLIENT))
        );
        assert_eq!(
            validate(&params(&[("client_id", "other")]), Some(&c)),
            Err(AuthError::Page(UNKNOWN_CLIENT))
        );
        // Errors found before the redirect URI is known are pages too.
        assert_eq!(
            error_of(validate(
                &params(&[("response_type", "token"), ("redirect_uri", "https://evil")]),
                Some(&c)
            )),
            "page"
        );
    }

    #[test]
    fn errors_after_the_redirect_uri_go_back_to_the_client() {
        let c = client(false);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("response_type", "token")], "unsupported_response_type"),
            (&[("response_type", "")], "unsupported_response_type"),
            (&[("scope", "email")], "invalid_scope"),
            (&[("request", "x")], "request_not_supported"),
            (&[("request_uri", "x")], "request_uri_not_supported"),
            (&[("response_mode", "fragment")], "invalid_request"),
            (
                &[
                    (
                        "code_challenge",
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    ),
                    ("code_challenge_method", "plain"),
                ],
                "invalid_request",
            ),
            (
                &[(
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                )],
                "invalid_request",
            ),
            (
                &[
                    ("code_challenge", "short"),
                    ("code_challenge_method", "S256"),
                ],
                "invalid_request",
            ),
            (&[("code_challenge_method", "S256")], "invalid_request"),
            (&[("prompt", "none login")], "invalid_request"),
            (&[("prompt", "bogus")], "invalid_request"),
            (&[("max_age", "-1")], "invalid_request"),
            (&[("max_age", "x")], "invalid_request"),
        ];
        for (extra, want) in cases {
            let r = validate(&params(extra), Some(&c));
            assert_eq!(error_of(r), *want, "{extra:?}");
        }
        match validate(&params(&[("response_type", "token")]), Some(&c)) {
            Err(AuthError::Redirect {
                redirect_uri,
                state,
                ..
            }) => {
                assert_eq!(redirect_uri, "https://rp.example/cb");
                assert_eq!(state.as_deref(), Some("st"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn public_clients_must_use_pkce() {
        let c = client(true);
        assert_eq!(
            error_of(validate(&params(&[]), Some(&c))),
            "invalid_request"
        );
        let r = validate(
            &params(&[
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ]),
            Some(&c),
        )
        .unwrap();
        assert!(r.code_challenge.is_some());
    }

    #[test]
    fn prompt_login_and_max_age_ask_for_a_fresh_login_once() {
        let c = client(false);
        let r = validate(&params(&[("prompt", "login")]), Some(&c)).unwrap();
        assert!(r.needs_login(1000, 1000));
        let back = r.return_path(Some(1000));
        assert!(!back.contains("prompt"), "{back}");
        let again: HashMap<String, String> =
            super::super::params::parse(back.split_once('?').unwrap().1.as_bytes()).unwrap();
        let r2 = validate(&again, Some(&c)).unwrap();
        assert!(
            !r2.needs_login(1000, 1005),
            "the fresh session satisfies it"
        );
        assert!(r2.needs_login(999, 1005), "an older session still does not");
        let m = validate(&params(&[("max_age", "60")]), Some(&c)).unwrap();
        assert!(!m.needs_login(1000, 1060));
        assert!(m.needs_login(1000, 1061));
        let a = validate(
            &params(&[("acr_values", "eidas2"), ("max_age", "60")]),
            Some(&c),
        )
        .unwrap();
        assert!(a.needs_second_factor(false));
        let back = a.return_path(Some(1000));
        let again: HashMap<String, String> =
            super::super::params::parse(back.split_once('?').unwrap().1.as_bytes()).unwrap();
        let a2 = validate(&again, Some(&c)).unwrap();
        assert!(
            a2.needs_second_factor(false),
            "kept across the sign-in: {back}"
        );
        assert_eq!(a2.max_age, Some(60));
        let weak = validate(&params(&[("acr_values", "eidas1 eidas2")]), Some(&c)).unwrap();
        assert!(!weak.needs_second_factor(false));
        assert!(weak.needs_second_factor(true), "require_mfa");
        let long = "eidas2 ".repeat(100);
        assert_eq!(
            error_of(validate(&params(&[("acr_values", &long)]), Some(&c))),
            "invalid_request"
        );
        let n = validate(&params(&[("prompt", "none")]), Some(&c)).unwrap();
        assert_eq!(n.prompt, Prompt::None);
        assert!(!n.needs_login(0, 1_000_000));
    }
}
