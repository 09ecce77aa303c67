//! Codes and tokens, kept in the session store so that every instance sees them (a code issued
//! by one instance is redeemed at another; a revocation is seen everywhere). Each is stored
//! under the SHA-256 of its value. Everything issued from one authorization hangs on a *grant*:
//! revoking the grant (a replayed code, a reused refresh token) voids all of it at once, and
//! every use also checks that the portal session behind the grant is alive, so logout and
//! revocation of the session end the tokens too (docs/oidc-provider.md#revocation).

use crate::session::{Assurance, SResult, SessionKey, SessionStore};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Lifetime of an authorization code.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a used code is remembered, to detect its replay.
const USED_CODE_TTL: Duration = Duration::from_secs(600);

/// One authorization: who, for which client, from which portal session, with what.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub session: SessionKey,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub assurance: Assurance,
}

impl Grant {
    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
}

/// An authorization code: its grant, and what the token request must repeat.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeRecord {
    pub grant: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
}

/// Result of presenting a single-use value.
#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed<T> {
    Found(T),
    /// It was already used: what it issued has been revoked.
    Replayed,
    Unknown,
}

fn hash(kind: &str, token: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(token.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("oidc:{kind}:{hex}")
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Tokens are random and opaque; a value too long to be ours is not looked up.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128
}

pub struct Grants<'a>(pub &'a dyn SessionStore);

impl Grants<'_> {
    /// Records a grant for `ttl` and returns its id.
    pub async fn create(&self, g: &Grant, ttl: Duration) -> SResult<String> {
        let id = crate::auth::random_token();
        self.0.put_value(&hash("g", &id), &json(g), ttl).await?;
        Ok(id)
    }

    /// The grant, unless it was revoked or has expired.
    pub async fn get(&self, id: &str) -> SResult<Option<Grant>> {
        Ok(self
            .0
            .get_value(&hash("g", id))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    pub async fn revoke(&self, id: &str) -> SResult<()> {
        self.0.take_value(&hash("g", id)).await.map(|_| ())
    }

    pub async fn issue_code(&self, rec: &CodeRecord) -> SResult<String> {
        let code = crate::auth::random_token();
        self.0
            .put_value(&hash("c", &code), &json(rec), CODE_TTL)
            .await?;
        Ok(code)
    }

    /// Takes a code (once, across instances). A code seen before revokes its grant.
    pub async fn redeem_code(&self, code: &str) -> SResult<Redeemed<CodeRecord>> {
        if !plausible(code) {
            return Ok(Redeemed::Unknown);
        }
        match self.0.take_value(&hash("c", code)).await? {
            Some(s) => {
                let Ok(rec) = serde_json::from_str::<CodeRecord>(&s) else {
                    return Ok(Redeemed::Unknown);
                };
                self.0
                    .put_value(&hash("cu", code), &rec.grant, USED_CODE_TTL)
                    .await?;
                Ok(Redeemed::Found(rec))
            }
            None => match self.0.get_value(&hash("cu", code)).await? {
                Some(grant) => {
                    self.revoke(&grant).await?;
                    Ok(Redeemed::Replayed)
                }
                None => Ok(Redeemed::Unknown),
            },
        }
    }

    pub async fn issue_access(&self, grant: &str, ttl: Duration) -> SResult<String> {
        let t = crate::auth::random_token();
        self.0.put_value(&hash("a", &t), grant, ttl).await?;
        Ok(t)
    }

    /// The grant id of a live access token.
    pub async fn access(&self, token: &str) -> SResult<Option<String>> {
        if !plausible(token) {
            return Ok(None);
        }
        self.0.get_value(&hash("a", token)).await
    }

    pub async fn issue_refresh(&self, grant: &str, ttl: Duration) -> SResult<String> {
        let t = crate::auth::random_token();
        self.0.put_value(&hash("r", &t), grant, ttl).await?;
        Ok(t)
    }

    /// Takes a refresh token (rotation: each works once). A token used before revokes its
    /// grant, and with it the token that replaced it.
    pub async fn redeem_refresh(&self, token: &str, ttl: Duration) -> SResult<Redeemed<String>> {
        if !plausible(token) {
            return Ok(Redeemed::Unknown);
        }
        match self.0.take_value(&hash("r", token)).await? {
            Some(grant) => {
                self.0.put_value(&hash("ru", token), &grant, ttl).await?;
                Ok(Redeemed::Found(grant))
            }
            None => match self.0.get_value(&hash("ru", token)).await? {
                Some(grant) => {
                    self.revoke(&grant).await?;
                    Ok(Redeemed::Replayed)
                }
                None => Ok(Redeemed::Unknown),
            },
        }
    }

    /// Remembers that a client holds tokens of a portal session, for back-channel logout. One
    /// entry per (session, client), written whole: two instances issuing tokens at once never
    /// overwrite each other's entry (a shared list would be read, changed and written back, and
    /// lose one of them).
    pub async fn remember_client(&self, c: &ClientSession, ttl: Duration) -> SResult<()> {
        self.0
            .put_value(&client_key(&c.sid, &c.client_id), &json(c), ttl)
            .await
    }

    /// Takes the entry of a client in a portal session: of two instances ending the session at
    /// once, one gets it, so the client is notified once.
    pub async fn take_client(&self, sid: &str, client_id: &str) -> SResult<Option<ClientSession>> {
        Ok(self
            .0
            .take_value(&client_key(sid, client_id))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }
}

fn client_key(sid: &str, client_id: &str) -> String {
    format!("oidc:sc:{sid}:{client_id}")
}

/// A client that received tokens in a portal session (`sid`) of user `sub`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientSession {
    pub sid: String,
    pub client_id: String,
    pub sub: String,
}

/// The `sid` of a portal session: derived from its storage key, from which it reveals nothing.
pub fn sid_of(session: &SessionKey) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"oidc-sid\0");
    h.update(session);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::memory::MemoryStore;

    fn grant() -> Grant {
        Grant {
            client_id: "rp".into(),
            session: [1; 32],
            user_id: 7,
            scopes: vec!["openid".into()],
            nonce: None,
            assurance: Assurance::password(1),
        }
    }

    #[tokio::test]
    async fn a_code_works_once_and_its_replay_revokes_the_grant() {
        let store = MemoryStore::new();
        let g = Grants(store.as_ref());
        let id = g.create(&grant(), Duration::from_secs(60)).await.unwrap();
        let code = g
            .issue_code(&CodeRecord {
                grant: id.clone(),
                client_id: "rp".into(),
                redirect_uri: "https://rp/cb".into(),
                code_challenge: None,
            })
            .await
            .unwrap();
        let at = g.issue_access(&id, Duration::from_secs(60)).await.unwrap();
        assert!(matches!(
            g.redeem_code(&code).await.unwrap(),
            Redeemed::Found(_)
        ));
        assert_eq!(g.access(&at).await.unwrap(), Some(id.clone()));
        assert!(g.get(&id).await.unwrap().is_some());
        assert_eq!(g.redeem_code(&code).await.unwrap(), Redeemed::Replayed);
        assert!(
            g.get(&id).await.unwrap().is_none(),
            "the replay revoked the grant"
        );
        assert_eq!(g.redeem_code("nope").await.unwrap(), Redeemed::Unknown);
        assert_eq!(
            g.redeem_code(&"x".repeat(500)).await.unwrap(),
            Redeemed::Unknown
        );
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_and_reuse_revokes_the_chain() {
        let store = MemoryStore::new();
        let g = Grants(store.as_ref());
        let ttl = Duration::from_secs(60);
        let id = g.create(&grant(), ttl).await.unwrap();
        let r1 = g.issue_refresh(&id, ttl).await.unwrap();
        assert_eq!(
            g.redeem_refresh(&r1, ttl).await.unwrap(),
            Redeemed::Found(id.clone())
        );
        let r2 = g.issue_refresh(&id, ttl).await.unwrap();
        assert_eq!(
            g.redeem_refresh(&r1, ttl).await.unwrap(),
            Redeemed::Replayed
        );
        assert!(g.get(&id).await.unwrap().is_none());
        // r2 still exists as a value, but its grant is gone: the caller refuses it.
        assert_eq!(
            g.redeem_refresh(&r2, ttl).await.unwrap(),
            Redeemed::Found(id.clone())
        );
        assert!(g.get(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn clients_are_remembered_per_session_and_taken_once() {
        let store = MemoryStore::new();
        let g = Grants(store.as_ref());
        let ttl = Duration::from_secs(60);
        let cs = |sid: &str, c: &str| ClientSession {
            sid: sid.into(),
            client_id: c.into(),
            sub: "u".into(),
        };
        // Written concurrently, as two instances would: neither entry is lost.
        let (s1a, s1b) = (cs("s1", "a"), cs("s1", "b"));
        let (a, b) = tokio::join!(g.remember_client(&s1a, ttl), g.remember_client(&s1b, ttl));
        a.unwrap();
        b.unwrap();
        g.remember_client(&cs("s1", "a"), ttl).await.unwrap();
        g.remember_client(&cs("s2", "a"), ttl).await.unwrap();
        assert_eq!(g.take_client("s1", "a").await.unwrap(), Some(cs("s1", "a")));
        assert_eq!(g.take_client("s1", "a").await.unwrap(), None, "taken once");
        assert_eq!(g.take_client("s1", "b").await.unwrap(), Some(cs("s1", "b")));
        assert_eq!(g.take_client("s2", "a").await.unwrap(), Some(cs("s2", "a")));
        assert_ne!(sid_of(&[1; 32]), sid_of(&[2; 32]));
    }
}
