//! The token, userinfo and logout endpoints of the demo's test provider.

use super::page::{refuse, Page};
use super::*;

/// An OAuth error of the token endpoint (RFC 6749 5.2), explained in French.
fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The claims of `account` that the granted `scopes` release (ProConnect: one scope a claim,
/// `email_verified` with `email`).
fn scoped_claims(account: &Account, scopes: &[String]) -> serde_json::Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut c = serde_json::Map::new();
    c.insert("sub".into(), json!(account.sub));
    if has("email") {
        c.insert("email".into(), json!(account.email));
        c.insert("email_verified".into(), json!(true));
    }
    for (scope, value) in [
        ("given_name", account.given_name),
        ("usual_name", account.usual_name),
        ("uid", account.uid),
        ("siret", account.siret),
    ] {
        if has(scope) {
            c.insert(scope.into(), json!(value));
        }
    }
    c
}

/// Redeems a code once: client (`client_secret_post`), return address and PKCE verifier
/// checked; the code is gone whatever the outcome.
pub(super) async fn token(State(idp): State<Arc<Idp>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(m) => return token_error(StatusCode::BAD_REQUEST, "invalid_request", m),
    };
    if get_param(&p, "client_id") != CLIENT_ID
        || !same(get_param(&p, "client_secret"), CLIENT_SECRET)
    {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Application cliente inconnue ou secret incorrect.",
        );
    }
    if get_param(&p, "grant_type") != "authorization_code" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Seul le type authorization_code est accepté.",
        );
    }
    let invalid = |m: &str| token_error(StatusCode::BAD_REQUEST, "invalid_grant", m);
    let Some((_, grant)) = idp.codes.remove(get_param(&p, "code")) else {
        return invalid("Code inconnu ou déjà utilisé.");
    };
    if grant.at < now() - CODE_TTL {
        return invalid("Code expiré.");
    }
    if get_param(&p, "redirect_uri") != idp.s.redirect_uri() {
        return invalid("L'adresse de retour ne correspond pas à la demande.");
    }
    if !crate::oidc::pkce::verify(get_param(&p, "code_verifier"), &grant.challenge) {
        return invalid("Le vérificateur PKCE ne correspond pas (code_verifier).");
    }
    let Some(account) = ACCOUNTS.get(grant.account) else {
        return invalid("Compte inconnu.");
    };
    let t = now();
    let mut claims = json!({
        "iss": idp.s.issuer,
        "aud": CLIENT_ID,
        "sub": account.sub,
        "exp": t + TOKEN_TTL,
        "iat": t,
        "auth_time": t,
        "nonce": grant.nonce,
        "acr": ACR,
    });
    if grant.scopes.iter().any(|s| s == "email") {
        claims["email"] = json!(account.email);
    }
    let id_token = match idp.keys.sign(IdTokenAlg::Rs256, ID_TOKEN_TYP, &claims) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "demo test provider: cannot sign an ID token");
            return token_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Signature impossible.",
            );
        }
    };
    if !room(&idp.tokens, |g| g.at, TOKEN_TTL) {
        return token_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            BUSY,
        );
    }
    let access = crate::auth::random_token();
    idp.tokens.insert(access.clone(), Grant { at: t, ..grant });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "id_token": id_token,
            "scope": "openid",
        })),
    )
        .into_response()
}

/// The account's claims as a JWT signed like the ID token (ProConnect's userinfo).
pub(super) async fn userinfo(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let found = idp
        .tokens
        .get(bearer)
        .filter(|g| g.at >= now() - TOKEN_TTL)
        .and_then(|g| ACCOUNTS.get(g.account).map(|a| scoped_claims(a, &g.scopes)));
    let Some(mut claims) = found else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            "Jeton d'accès inconnu ou expiré.",
        )
            .into_response();
    };
    claims.insert("iss".into(), json!(idp.s.issuer));
    claims.insert("aud".into(), json!(CLIENT_ID));
    claims.insert("iat".into(), json!(now()));
    match idp.keys.sign(IdTokenAlg::Rs256, ID_TOKEN_TYP, &claims) {
        Ok(jwt) => (
            [
                (header::CONTENT_TYPE, "application/jwt; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            jwt,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "demo test provider: cannot sign userinfo");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// RP-initiated logout: back to `post_logout_redirect_uri` with `state` when it is the
/// registered address and `id_token_hint` (if any) is one of this provider's ID tokens;
/// otherwise a page, never a redirect elsewhere. The provider keeps no session to end.
pub(super) async fn end_session(State(idp): State<Arc<Idp>>, RawQuery(q): RawQuery) -> Response {
    let p = match params(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(m) => return refuse(&idp, m),
    };
    let hint = get_param(&p, "id_token_hint");
    if !hint.is_empty()
        && idp
            .keys
            .verify_own::<Value>(hint, &idp.s.issuer, ID_TOKEN_TYP)
            .is_none()
    {
        return refuse(
            &idp,
            "Le jeton d'identité fourni (id_token_hint) ne vient pas de ce fournisseur.",
        );
    }
    let to = get_param(&p, "post_logout_redirect_uri");
    if to.is_empty() {
        let mut page = Page::new(&idp);
        page.notice = Some("Vous êtes déconnecté du fournisseur de test.");
        return page.send(StatusCode::OK);
    }
    if to != idp.s.post_logout_redirect_uri() {
        return refuse(
            &idp,
            "Adresse de retour après déconnexion non enregistrée (post_logout_redirect_uri) : le fournisseur de test ne vous y renvoie pas.",
        );
    }
    let state = get_param(&p, "state");
    if state.is_empty() {
        return see_other(to);
    }
    see_other(&with_query(to, &[("state", state)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_scopes() {
        let c = scoped_claims(&ACCOUNTS[0], &["openid".into()]);
        assert_eq!(c.len(), 1);
        let all: Vec<String> = [
            "openid",
            "email",
            "given_name",
            "usual_name",
            "uid",
            "siret",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = scoped_claims(&ACCOUNTS[0], &all);
        for k in [
            "sub",
            "email",
            "email_verified",
            "given_name",
            "usual_name",
            "uid",
            "siret",
        ] {
            assert!(c.contains_key(k), "{k}");
        }
    }
}
