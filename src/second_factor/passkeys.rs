//! Passkeys and security keys (WebAuthn) as a second factor (docs/security.md#passkeys). The
//! ceremonies are webauthn-rs's; what this module adds is where their state lives (the session
//! store, under a random ceremony id, for two minutes and read once: any instance can finish
//! a ceremony another one started, and a ceremony cannot be replayed) and whose it is (the
//! state records the account; finishing it for another account fails).

use crate::directory::passkeys::{PasskeyRecord, NAME_MAX};
use crate::directory::DirectoryError;
use crate::session::{key_of, SessionError};
use crate::state::Gateway;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long the browser has between the options and its answer.
const CEREMONY_TTL: Duration = Duration::from_secs(120);
/// Upper bound on a browser's answer: a credential is a few kilobytes at most.
pub const MAX_RESPONSE: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The portal's address cannot serve as a WebAuthn relying party (an IP address...).
    #[error("passkeys are not available on this portal address")]
    Unavailable,
    /// Unknown, expired or already used ceremony, or one of another account.
    #[error("the ceremony expired or is unknown")]
    Expired,
    /// The browser's answer does not verify (malformed, wrong origin, wrong signature...).
    #[error("the authenticator's answer was refused: {0}")]
    Refused(String),
    /// The key is already registered (to this account or another one).
    #[error("this key is already registered")]
    Duplicate,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// The relying party for the portal: its host is the RP id, its public URL the only origin.
/// `None` when the host cannot be one (an IP address): passkeys are then not offered.
pub fn relying_party(portal_host: &str, public_url: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_url).ok()?;
    WebauthnBuilder::new(portal_host, &origin)
        .ok()?
        .rp_name("Convergences")
        .timeout(CEREMONY_TTL)
        .build()
        .ok()
}

#[derive(Serialize, Deserialize)]
struct Ceremony<S> {
    user_id: i64,
    state: S,
}

fn ceremony_key(kind: &str, id: &str) -> crate::session::SessionKey {
    key_of(&format!("webauthn-{kind}:{id}"))
}

async fn keep<S: Serialize>(
    gw: &Gateway,
    kind: &str,
    user_id: i64,
    state: S,
) -> Result<String, PasskeyError> {
    let id = crate::auth::random_token();
    let json = serde_json::to_string(&Ceremony { user_id, state })
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    gw.sessions
        .store
        .put_once(ceremony_key(kind, &id), json, CEREMONY_TTL)
        .await?;
    Ok(id)
}

async fn take<S: for<'de> Deserialize<'de>>(
    gw: &Gateway,
    kind: &str,
    user_id: i64,
    id: &str,
) -> Result<S, PasskeyError> {
    if id.is_empty() || id.len() > 128 {
        return Err(PasskeyError::Expired);
    }
    let json = gw
        .sessions
        .store
        .take_once(&ceremony_key(kind, id))
        .await?
        .ok_or(PasskeyError::Expired)?;
    let c: Ceremony<S> = serde_json::from_str(&json).map_err(|_| PasskeyError::Expired)?;
    if c.user_id != user_id {
        return Err(PasskeyError::Expired);
    }
    Ok(c.state)
}

fn webauthn(gw: &Gateway) -> Result<&Webauthn, PasskeyError> {
    gw.webauthn.as_ref().ok_or(PasskeyError::Unavailable)
}

fn decode(rec: &PasskeyRecord) -> Option<Passkey> {
    serde_json::from_str(&rec.passkey).ok()
}

/// The options for `navigator.credentials.create()` (JSON) and the ceremony id to send back.
/// The keys already registered are excluded, so one key is not registered twice.
pub async fn start_registration(
    gw: &Gateway,
    user_id: i64,
    email: &str,
    display_name: &str,
) -> Result<(String, serde_json::Value), PasskeyError> {
    let rp = webauthn(gw)?;
    let existing = gw.dir.passkeys(user_id).await?;
    let handle = existing
        .first()
        .and_then(|r| Uuid::parse_str(&r.user_handle).ok())
        .unwrap_or_else(Uuid::new_v4);
    let exclude: Vec<_> = existing
        .iter()
        .filter_map(decode)
        .map(|p| p.cred_id().clone())
        .collect();
    let (options, state) = rp
        .start_passkey_registration(handle, email, display_name, Some(exclude))
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let id = keep(gw, "register", user_id, (handle, state)).await?;
    let options =
        serde_json::to_value(options).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    Ok((id, options))
}

/// A key's name as the user typed it, or the default; `None` when it is too long.
pub fn key_name(raw: &str, ordinal: usize) -> Option<String> {
    let name: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    if name.chars().count() > NAME_MAX {
        return None;
    }
    Some(if name.is_empty() {
        format!("Clé de sécurité {ordinal}")
    } else {
        name
    })
}

/// Verifies the browser's answer and registers the key under `name`.
pub async fn finish_registration(
    gw: &Gateway,
    user_id: i64,
    ceremony: &str,
    response: &str,
    name: &str,
) -> Result<(), PasskeyError> {
    let rp = webauthn(gw)?;
    let (handle, state): (Uuid, PasskeyRegistration) =
        take(gw, "register", user_id, ceremony).await?;
    if response.len() > MAX_RESPONSE {
        return Err(PasskeyError::Refused("answer too large".into()));
    }
    let answer: RegisterPublicKeyCredential =
        serde_json::from_str(response).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let passkey = rp
        .finish_passkey_registration(&answer, &state)
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let json = serde_json::to_string(&passkey).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let cred = URL_SAFE_NO_PAD.encode(passkey.cred_id());
    if !gw
        .dir
        .add_passkey(user_id, &cred, &handle.to_string(), name, &json)
        .await?
    {
        return Err(PasskeyError::Duplicate);
    }
    Ok(())
}

/// The options for `navigator.credentials.get()` with the account's keys; `None` when it has
/// none (or passkeys are unavailable).
pub async fn start_authentication(
    gw: &Gateway,
    user_id: i64,
) -> Result<Option<(String, serde_json::Value)>, PasskeyError> {
    let Some(rp) = gw.webauthn.as_ref() else {
        return Ok(None);
    };
    let keys: Vec<Passkey> = gw
        .dir
        .passkeys(user_id)
        .await?
        .iter()
        .filter_map(decode)
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let (options, state) = rp
        .start_passkey_authentication(&keys)
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let id = keep(gw, "login", user_id, state).await?;
    let options =
        serde_json::to_value(options).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    Ok(Some((id, options)))
}

/// Verifies the browser's answer for the account: which key signed, and whether it is bound
/// to its device (`hwk`) or synchronised (`swk`). The key's counter and last use are stored.
pub async fn finish_authentication(
    gw: &Gateway,
    user_id: i64,
    ceremony: &str,
    response: &str,
) -> Result<crate::second_factor::Method, PasskeyError> {
    let rp = webauthn(gw)?;
    let state: PasskeyAuthentication = take(gw, "login", user_id, ceremony).await?;
    if response.len() > MAX_RESPONSE {
        return Err(PasskeyError::Refused("answer too large".into()));
    }
    let answer: PublicKeyCredential =
        serde_json::from_str(response).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    // The state only allows this account's keys: a key of another account is refused here.
    let result = rp
        .finish_passkey_authentication(&answer, &state)
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    for rec in gw.dir.passkeys(user_id).await? {
        let Some(mut key) = decode(&rec) else {
            continue;
        };
        if key.cred_id() != result.cred_id() {
            continue;
        }
        key.update_credential(&result);
        let json = serde_json::to_string(&key).unwrap_or(rec.passkey.clone());
        gw.dir.passkey_used(user_id, rec.id, &json).await?;
        return Ok(crate::second_factor::Method::Passkey {
            hardware: !result.backup_eligible(),
        });
    }
    Err(PasskeyError::Refused(
        "the key is no longer registered".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relying_party_needs_a_domain_matching_the_url() {
        assert!(relying_party("auth.test", "http://auth.test:8080").is_some());
        assert!(relying_party("auth.example.fr", "https://auth.example.fr").is_some());
        assert!(relying_party("auth.example.fr", "https://evil.example").is_none());
        assert!(relying_party("127.0.0.1", "http://127.0.0.1:8080").is_none());
    }

    #[test]
    fn key_names_default_and_refuse_long_ones() {
        assert_eq!(key_name("  ", 2).as_deref(), Some("Clé de sécurité 2"));
        assert_eq!(
            key_name(" YubiKey\u{7} bleue ", 1).as_deref(),
            Some("YubiKey bleue")
        );
        assert!(key_name(&"x".repeat(NAME_MAX + 1), 1).is_none());
        assert_eq!(
            key_name(&"é".repeat(NAME_MAX), 1).map(|s| s.chars().count()),
            Some(NAME_MAX)
        );
    }
}
