//! What a client learns about the user, by scope (OpenID Connect Core section 5.4), plus the
//! directory's own `roles` (this application's roles, each with its structure) and `structure`.

use crate::directory::contact::Contact;
use crate::directory::model::Identity;
use crate::proxy::identity_encoding::encode_path;
use crate::session::Assurance;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Every claim the provider may give, for discovery.
pub const CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "phone_number",
    "address",
    "roles",
    "structure",
    "structure_name",
];

/// The user's claims for application `slug` and the granted `scopes`. `contact` is read from
/// the directory only when `phone` or `address` was granted.
pub fn user_claims(
    id: &Identity,
    slug: &str,
    scopes: &[String],
    contact: Option<&Contact>,
) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut m = Map::new();
    m.insert("sub".into(), json!(id.uid));
    if has("profile") {
        m.insert("name".into(), json!(id.display_name()));
        m.insert("given_name".into(), json!(id.first_name));
        m.insert("family_name".into(), json!(id.last_name));
    }
    if has("email") {
        m.insert("email".into(), json!(id.email));
        // Accounts are opened through a link sent to that address.
        m.insert("email_verified".into(), json!(id.has_password));
    }
    if let Some(c) = contact {
        if has("phone") && !c.phone.is_empty() {
            m.insert("phone_number".into(), json!(c.phone));
        }
        if has("address") && !c.postal_address.is_empty() {
            m.insert("address".into(), json!({ "formatted": c.postal_address }));
        }
    }
    if has("roles") {
        let roles: Vec<Value> = id
            .grants_for(slug)
            .map(|g| json!({ "role": g.role, "structure": encode_path(&g.structure_names) }))
            .collect();
        m.insert("roles".into(), Value::Array(roles));
    }
    if has("structure") {
        m.insert("structure".into(), json!(encode_path(&id.structure_names)));
        m.insert("structure_name".into(), json!(id.structure_path));
    }
    m
}

/// The ID token (OpenID Connect Core section 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdToken {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    /// The portal session, as back-channel logout tokens name it.
    pub sid: String,
    #[serde(flatten)]
    pub user: Map<String, Value>,
}

/// What the provider reads back from an `id_token_hint`.
#[derive(Debug, Deserialize)]
pub struct Hint {
    pub sub: String,
    pub aud: String,
    #[serde(default)]
    pub sid: Option<String>,
}

pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: i64,
    pub ttl: i64,
    pub nonce: Option<&'a str>,
    pub assurance: &'a Assurance,
    pub sid: &'a str,
    pub user: Map<String, Value>,
}

pub fn id_token(i: IdTokenInput<'_>) -> IdToken {
    let sub = i
        .user
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut user = i.user;
    user.remove("sub");
    IdToken {
        iss: i.issuer.to_string(),
        sub,
        aud: i.client_id.to_string(),
        azp: i.client_id.to_string(),
        exp: i.now + i.ttl,
        iat: i.now,
        auth_time: i.assurance.auth_time,
        nonce: i.nonce.map(str::to_string),
        acr: i.assurance.acr.clone(),
        amr: i.assurance.amr.clone(),
        sid: i.sid.to_string(),
        user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::Grant;

    fn ident() -> Identity {
        Identity {
            user_id: 1,
            uid: "uid-1".into(),
            email: "a@b.fr".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            structure_id: 1,
            structure_path: "mairie / ccas".into(),
            structure_names: vec!["mairie".into(), "ccas".into()],
            app_identifier: String::new(),
            platform_admin: false,
            locked: false,
            has_password: true,
            has_provider_link: false,
            valid_from: None,
            valid_until: None,
            photo_version: None,
            grants: vec![
                Grant {
                    app_slug: "rp".into(),
                    role: "utilisateur".into(),
                    structure_id: 1,
                    structure_path: "mairie".into(),
                    structure_names: vec!["mairie".into()],
                },
                Grant {
                    app_slug: "other".into(),
                    role: "administrateur".into(),
                    structure_id: 1,
                    structure_path: "mairie".into(),
                    structure_names: vec!["mairie".into()],
                },
            ],
        }
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn claims_follow_the_scopes_and_this_application_only() {
        let id = ident();
        let c = Contact {
            phone: "01 23".into(),
            postal_address: "1 rue".into(),
        };
        let only = user_claims(&id, "rp", &scopes(&["openid"]), Some(&c));
        assert_eq!(Value::Object(only), json!({ "sub": "uid-1" }));
        let all = user_claims(
            &id,
            "rp",
            &scopes(&[
                "openid",
                "profile",
                "email",
                "phone",
                "address",
                "roles",
                "structure",
            ]),
            Some(&c),
        );
        assert_eq!(all["given_name"], "Ada");
        assert_eq!(all["email_verified"], true);
        assert_eq!(all["phone_number"], "01 23");
        assert_eq!(all["address"]["formatted"], "1 rue");
        assert_eq!(
            all["roles"],
            json!([{ "role": "utilisateur", "structure": "mairie" }])
        );
        assert_eq!(all["structure"], "mairie/ccas");
        let t = id_token(IdTokenInput {
            issuer: "https://auth",
            client_id: "rp-client",
            now: 100,
            ttl: 60,
            nonce: Some("n"),
            assurance: &Assurance::password(90),
            sid: "sid",
            user: all,
        });
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["sub"], "uid-1");
        assert_eq!(v["aud"], "rp-client");
        assert_eq!(v["exp"], 160);
        assert_eq!(v["auth_time"], 90);
        assert_eq!(v["amr"], json!(["pwd"]));
        assert_eq!(v["email"], "a@b.fr");
    }
}
