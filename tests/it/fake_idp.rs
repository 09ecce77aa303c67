//! An OpenID Connect provider for the integration tests, shaped like ProConnect: RS256 keys
//! (fixtures/), `client_secret_post`, signed userinfo (`application/jwt`), `acr`, the
//! `siret` and `usual_name` claims, RP-initiated logout. Unlike a real provider it can be told
//! to misbehave (wrong issuer or audience, expired, badly signed, `alg: none`, HMAC over the
//! public key, another nonce, rotated keys), so that each attack class is tested end to end.
//! The interoperability run against a real implementation is tests/e2e (oidc-provider).

use crate::harness::rt;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "convergences-test";
pub const CLIENT_SECRET: &str = "s3cret-of-the-client";

const KEYS: [&str; 2] = [
    include_str!("fixtures/idp-key-1.pem"),
    include_str!("fixtures/idp-key-2.pem"),
];
const JWKS: &str = include_str!("fixtures/idp-keys.json");

/// How the next tokens are spoiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tamper {
    #[default]
    None,
    WrongIssuer,
    WrongAudience,
    Expired,
    /// Signed with key 2 under key 1's id.
    BadSignature,
    AlgNone,
    /// HS256 with the provider's public modulus as the secret (algorithm confusion).
    Hs256WithPublicKey,
    OtherNonce,
    /// Userinfo about another `sub`.
    UserinfoOtherSub,
    /// Signed under a key id the JWKS never published.
    UnknownKid,
}

#[derive(Default)]
pub struct IdpState {
    /// The claims of the person who signs in at the provider.
    pub user: Value,
    pub tamper: Tamper,
    /// Userinfo as a signed JWT (ProConnect) or plain JSON.
    pub userinfo_jwt: bool,
    /// Index of the signing key; `published` lists the keys the JWKS shows.
    pub signing: usize,
    pub published: Vec<usize>,
    pub codes: HashMap<String, Value>,
    pub tokens: HashMap<String, Value>,
    /// Query of every authorization request received.
    pub authorize_requests: Vec<Vec<(String, String)>>,
    /// Query of every logout request received.
    pub logouts: Vec<HashMap<String, String>>,
    pub jwks_fetches: usize,
}

pub struct FakeIdp {
    pub issuer: String,
    pub state: Arc<Mutex<IdpState>>,
}

fn now() -> i64 {
    convergences::directory::now()
}

impl FakeIdp {
    pub fn start() -> FakeIdp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind idp");
        let addr = listener.local_addr().expect("idp addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let issuer = format!("http://{addr}");
        let state = Arc::new(Mutex::new(IdpState {
            user: agent(),
            userinfo_jwt: true,
            published: vec![0],
            ..Default::default()
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/logout", get(logout))
            .with_state((issuer.clone(), state.clone()));
        rt().spawn(async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = axum::serve(l, app).await;
        });
        FakeIdp { issuer, state }
    }

    pub fn set<F: FnOnce(&mut IdpState)>(&self, f: F) {
        f(&mut self.state.lock().unwrap());
    }

    pub fn get<T, F: FnOnce(&IdpState) -> T>(&self, f: F) -> T {
        f(&self.state.lock().unwrap())
    }

    /// The `[[identity_providers]]` entry for this provider, with `extra` keys.
    pub fn config(&self, extra: &str) -> String {
        format!(
            r#"
[[identity_providers]]
slug = "proconnect"
name = "ProConnect"
issuer = "{}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "email", "given_name", "usual_name", "siret"]
{extra}
"#,
            self.issuer
        )
    }
}

/// The demo's agent as ProConnect would describe her.
pub fn agent() -> Value {
    json!({
        "sub": "pc-agnes-0001",
        "email": "agent@mairie-exemple.fr",
        "email_verified": true,
        "given_name": "Agnès",
        "usual_name": "Agent",
        "siret": "21750001600019",
        "acr": "eidas1",
        "amr": ["pwd"],
    })
}

type St = State<(String, Arc<Mutex<IdpState>>)>;

async fn discovery(State((issuer, _)): St) -> Json<Value> {
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
        "response_types_supported": ["code"],
    }))
}

fn jwk(i: usize) -> Value {
    let all: Value = serde_json::from_str(JWKS).expect("fixture JWKS");
    let k = &all[format!("key{}", i + 1)];
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": format!("key-{}", i + 1), "n": k["n"], "e": k["e"]})
}

async fn jwks(State((_, st)): St) -> Json<Value> {
    let mut s = st.lock().unwrap();
    s.jwks_fetches += 1;
    let keys: Vec<Value> = s.published.iter().map(|i| jwk(*i)).collect();
    Json(json!({ "keys": keys }))
}

async fn authorize(State((_, st)): St, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut s = st.lock().unwrap();
    s.authorize_requests.push(q.clone());
    let p: HashMap<String, String> = q.into_iter().collect();
    let code = convergences::auth::random_token();
    let grant = json!({
        "nonce": p.get("nonce"),
        "challenge": p.get("code_challenge"),
        "redirect_uri": p.get("redirect_uri"),
        "user": s.user,
    });
    s.codes.insert(code.clone(), grant);
    let redirect = p.get("redirect_uri").cloned().unwrap_or_default();
    let state: String =
        form_urlencoded::byte_serialize(p.get("state").map(String::as_bytes).unwrap_or(b""))
            .collect();
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `claims` as the provider would, or spoils the signature as `tamper` says.
fn sign(s: &IdpState, claims: &Value, tamper: Tamper) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    match tamper {
        Tamper::AlgNone => format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        ),
        Tamper::Hs256WithPublicKey => {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(format!("key-{}", s.signing + 1));
            let n = jwk(s.signing)["n"].as_str().unwrap().to_string();
            jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(n.as_bytes())).unwrap()
        }
        _ => {
            let mut h = Header::new(Algorithm::RS256);
            let (key, kid) = if tamper == Tamper::BadSignature {
                (1 - s.signing, s.signing)
            } else {
                (s.signing, s.signing)
            };
            h.kid = Some(if tamper == Tamper::UnknownKid {
                "key-9".to_string()
            } else {
                format!("key-{}", kid + 1)
            });
            let k = EncodingKey::from_rsa_pem(KEYS[key].as_bytes()).unwrap();
            jsonwebtoken::encode(&h, claims, &k).unwrap()
        }
    }
}

async fn token(State((issuer, st)): St, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = st.lock().unwrap();
    if f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(grant) = f.get("code").and_then(|c| s.codes.remove(c)) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    if grant["redirect_uri"].as_str() != f.get("redirect_uri").map(String::as_str) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    if let Some(challenge) = grant["challenge"].as_str() {
        let verifier = f.get("code_verifier").cloned().unwrap_or_default();
        if b64(&sha2::Sha256::digest(verifier.as_bytes())) != challenge {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
    }
    let user = grant["user"].clone();
    let t = now();
    let tamper = s.tamper;
    let mut claims = json!({
        "iss": if tamper == Tamper::WrongIssuer { "http://127.0.0.1:1" } else { issuer.as_str() },
        "aud": if tamper == Tamper::WrongAudience { "another-client" } else { CLIENT_ID },
        "sub": user["sub"],
        "exp": if tamper == Tamper::Expired { t - 600 } else { t + 60 },
        "iat": t,
        "auth_time": t - 5,
        "nonce": if tamper == Tamper::OtherNonce { json!("n".repeat(43)) } else { grant["nonce"].clone() },
        "amr": user["amr"],
    });
    if let Some(acr) = user.get("acr").filter(|a| !a.is_null()) {
        claims["acr"] = acr.clone();
    }
    let id_token = sign(&s, &claims, tamper);
    let access = convergences::auth::random_token();
    s.tokens.insert(access.clone(), user);
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 60,
        "id_token": id_token,
    }))
    .into_response()
}

async fn userinfo(State((issuer, st)): St, headers: HeaderMap) -> Response {
    let s = st.lock().unwrap();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(user) = s.tokens.get(bearer) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut claims = user.clone();
    if let Some(o) = claims.as_object_mut() {
        o.remove("acr");
        o.remove("amr");
        if s.tamper == Tamper::UserinfoOtherSub {
            o.insert("sub".into(), json!("someone-else"));
        }
    }
    if !s.userinfo_jwt {
        return Json(claims).into_response();
    }
    claims["iss"] = json!(issuer);
    claims["aud"] = json!(CLIENT_ID);
    let jwt = sign(&s, &claims, Tamper::None);
    (
        [(header::CONTENT_TYPE, "application/jwt; charset=utf-8")],
        jwt,
    )
        .into_response()
}

async fn logout(State((_, st)): St, Query(q): Query<HashMap<String, String>>) -> Response {
    let to = q
        .get("post_logout_redirect_uri")
        .cloned()
        .unwrap_or_default();
    st.lock().unwrap().logouts.push(q);
    Redirect::to(&to).into_response()
}
