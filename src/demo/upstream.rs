//! A demo upstream application: shows the identity headers it received and whether the
//! assertion verifies against the portal's published JWKS (the public key only).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Html;
use axum::Router;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::sync::Arc;

#[derive(Template)]
#[template(path = "demo_app.html")]
struct DemoPage {
    app_name: String,
    portal_url: String,
    user_name: String,
    /// Name, decoded value, value as received.
    headers: Vec<(String, String, String)>,
    assertion_ok: bool,
    assertion_status: String,
    claims: String,
    path: String,
}

/// Seconds an assertion is still accepted after its `exp` (clock skew between hosts).
pub const ASSERTION_LEEWAY_SECONDS: u64 = 5;

pub struct DemoApp {
    pub slug: String,
    pub name: String,
    pub portal_url: String,
    pub issuer: String,
    /// The JWKS document as the portal serves it.
    pub jwks: String,
}

pub fn router(app: DemoApp) -> Router {
    Router::new().fallback(page).with_state(Arc::new(app))
}

async fn page(State(app): State<Arc<DemoApp>>, uri: Uri, headers: HeaderMap) -> Html<String> {
    let received: Vec<(String, String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            k.as_str().starts_with("x-convergences-") || k.as_str().starts_with("x-forwarded-")
        })
        .map(|(k, v)| {
            let raw = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), decoded(k.as_str(), &raw), raw)
        })
        .collect();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let (ok, status, claims) = verify(&app, &header("x-convergences-assertion"));
    let page = DemoPage {
        app_name: app.name.clone(),
        portal_url: app.portal_url.clone(),
        user_name: decoded("x-convergences-name", &header("x-convergences-name")),
        headers: received,
        assertion_ok: ok,
        assertion_status: status,
        claims,
        path: uri.path().to_string(),
    };
    Html(
        page.render()
            .unwrap_or_else(|e| format!("template error: {e}")),
    )
}

/// What an application reads from an identity header once decoded (see
/// `proxy::identity_encoding`): the roles as "role@structure / sub-structure" entries.
fn decoded(name: &str, raw: &str) -> String {
    use crate::proxy::identity_encoding as enc;
    if !name.starts_with("x-convergences-") || name == "x-convergences-assertion" {
        return raw.to_string();
    }
    let shown = match name {
        "x-convergences-roles" => enc::decode_grants(raw).map(|grants| {
            grants
                .iter()
                .map(|(role, path)| format!("{role}@{}", path.join(" / ")))
                .collect::<Vec<_>>()
                .join(" ; ")
        }),
        "x-convergences-structure" => enc::decode_path(raw).map(|p| p.join(" / ")),
        _ => enc::decode(raw),
    };
    shown.unwrap_or_else(|| format!("(valeur mal encodée) {raw}"))
}

fn verify(app: &DemoApp, jwt: &str) -> (bool, String, String) {
    if jwt.is_empty() {
        return (false, "Aucune assertion reçue.".into(), String::new());
    }
    let keys: JwkSet = match serde_json::from_str(&app.jwks) {
        Ok(k) => k,
        Err(e) => return (false, format!("JWKS illisible : {e}"), String::new()),
    };
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[&app.slug]);
    v.set_issuer(&[&app.issuer]);
    // jsonwebtoken accepts 60 s past `exp` by default, which would keep a 60 s assertion
    // valid for two minutes; integrators copy this code, so it shows a small explicit leeway
    // (clock skew between the gateway and the application only).
    v.leeway = ASSERTION_LEEWAY_SECONDS;
    for k in &keys.keys {
        let Ok(key) = DecodingKey::from_jwk(k) else {
            continue;
        };
        if let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v) {
            return (
                true,
                "Assertion vérifiée avec la clé publique du portail (JWKS).".into(),
                serde_json::to_string_pretty(&data.claims).unwrap_or_default(),
            );
        }
    }
    (
        false,
        "L'assertion ne se vérifie avec aucune clé du JWKS.".into(),
        String::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::assertion::{Claims, Signer};

    fn app_and_signer() -> (DemoApp, Signer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let signer =
            Signer::load_or_generate(&dir.path().join("k.pem"), "https://auth".into(), 60).unwrap();
        let app = DemoApp {
            slug: "bip".into(),
            name: "BIP".into(),
            portal_url: "https://auth".into(),
            issuer: "https://auth".into(),
            jwks: signer.jwks_json().to_string(),
        };
        (app, signer, dir)
    }

    fn assertion(signer: &Signer, exp_from_now: i64) -> String {
        let now = crate::directory::now();
        signer
            .sign(&Claims {
                iss: "https://auth".into(),
                aud: "bip".into(),
                sub: "u1".into(),
                email: "a@b.fr".into(),
                name: "Ada Lovelace".into(),
                grants: vec![],
                structure_path: "mairie".into(),
                roles: vec!["utilisateur".into()],
                structures: vec!["mairie".into()],
                structure: "mairie".into(),
                app_id: String::new(),
                auth_time: now - 60,
                amr: vec!["pwd".into()],
                acr: "eidas1".into(),
                iat: now - 60,
                exp: now + exp_from_now,
            })
            .unwrap()
    }

    #[test]
    fn an_assertion_expired_10_seconds_ago_is_refused() {
        let (app, signer, _dir) = app_and_signer();
        assert!(
            verify(&app, &assertion(&signer, 30)).0,
            "a valid one passes"
        );
        let (ok, status, _) = verify(&app, &assertion(&signer, -10));
        assert!(!ok, "expired 10 s ago: {status}");
        // Within the clock-skew allowance it still passes.
        assert!(verify(&app, &assertion(&signer, -2)).0);
    }
}
