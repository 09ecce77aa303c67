//! Second factors as the portal uses them (docs/security.md#second-factor): a code checked at
//! login (TOTP or recovery code), TOTP enrolment, recovery codes, the mails that tell the user.
//! Secrets are sealed with the gateway's factor keys and recovery codes hashed with them: the
//! directory stores only what a database dump cannot use.

pub mod passkeys;
pub mod policy;

use crate::auth::totp;
use crate::directory::DResult;
use crate::mail::Mail;
use crate::state::Gateway;

/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// What a code proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Totp,
    RecoveryCode,
    /// A passkey or security key; `hardware`: bound to its device (not synchronised).
    Passkey {
        hardware: bool,
    },
}

impl Method {
    /// The RFC 8176 method, when there is one.
    pub fn amr(self) -> Option<&'static str> {
        match self {
            Method::Totp => Some("otp"),
            Method::RecoveryCode => None,
            Method::Passkey { hardware: true } => Some("hwk"),
            Method::Passkey { hardware: false } => Some("swk"),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted(Method),
    /// A valid TOTP code for a step already used: refused (replay).
    Replayed,
    Wrong,
}

fn aad(user_id: i64) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

pub fn seal_secret(gw: &Gateway, user_id: i64, secret: &[u8]) -> String {
    gw.factor_keys.seal(secret, &aad(user_id))
}

pub fn open_secret(gw: &Gateway, user_id: i64, sealed: &str) -> Option<Vec<u8>> {
    gw.factor_keys.open(sealed, &aad(user_id))
}

/// True when the account has a second factor (an authenticator application or a passkey).
pub async fn has_factor(gw: &Gateway, user_id: i64) -> DResult<bool> {
    Ok(gw.dir.totp(user_id).await?.is_some() || gw.dir.passkey_count(user_id).await? > 0)
}

/// "ABCDE-FGHJK": 10 characters of an alphabet without look-alikes (50 bits).
pub fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let s: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

/// A recovery code as typed: upper case, without separators or spaces.
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn recovery_hashes(gw: &Gateway, user_id: i64, code: &str) -> Vec<String> {
    gw.factor_keys
        .macs(format!("recovery:{user_id}:{}", normalize_recovery(code)).as_bytes())
}

/// Checks a second-factor code for the account: a TOTP code (a step is accepted once, on any
/// instance) or one of its recovery codes (each usable once).
pub async fn check_code(gw: &Gateway, user_id: i64, code: &str, now: i64) -> DResult<CodeCheck> {
    let code = code.trim();
    if code.len() == totp::DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(rec) = gw.dir.totp(user_id).await? else {
            return Ok(CodeCheck::Wrong);
        };
        let Some(secret) = open_secret(gw, user_id, &rec.sealed) else {
            tracing::error!(user_id, "a TOTP secret does not open with the factor keys");
            return Ok(CodeCheck::Wrong);
        };
        return Ok(match totp::matching_step(&secret, code, now) {
            Some(step) if gw.dir.use_totp_step(user_id, step).await? => {
                CodeCheck::Accepted(Method::Totp)
            }
            Some(_) => CodeCheck::Replayed,
            None => CodeCheck::Wrong,
        });
    }
    if normalize_recovery(code).len() != 10 {
        return Ok(CodeCheck::Wrong);
    }
    for h in recovery_hashes(gw, user_id, code) {
        if gw.dir.use_recovery_code(user_id, &h).await? {
            return Ok(CodeCheck::Accepted(Method::RecoveryCode));
        }
    }
    Ok(CodeCheck::Wrong)
}

/// Stores a confirmed TOTP secret; for the account's first factor, a new set of recovery
/// codes too, returned in clear to be shown once.
pub async fn enrol_totp(
    gw: &Gateway,
    user_id: i64,
    secret: &[u8],
    first_factor: bool,
) -> DResult<Option<Vec<String>>> {
    gw.dir
        .set_totp(user_id, &seal_secret(gw, user_id, secret))
        .await?;
    if first_factor {
        return regenerate_codes(gw, user_id).await.map(Some);
    }
    Ok(None)
}

/// A new set of recovery codes; the previous set is void.
pub async fn regenerate_codes(gw: &Gateway, user_id: i64) -> DResult<Vec<String>> {
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| recovery_hashes(gw, user_id, c).into_iter().next())
        .collect();
    gw.dir.replace_recovery_codes(user_id, &hashes).await?;
    Ok(codes)
}

/// After a key rotation: re-seals every secret still sealed under the previous key, so that
/// `factors.previous.key` can then be deleted. Logs what it did; never fails the start.
pub async fn reseal_stale(gw: &Gateway) {
    if gw.factor_keys.previous.is_empty() {
        return;
    }
    let all = match gw.dir.all_totp().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list second-factor secrets to re-seal them");
            return;
        }
    };
    let (mut done, mut lost) = (0, 0);
    for (user_id, sealed) in all {
        if !gw.factor_keys.is_stale(&sealed) {
            continue;
        }
        match open_secret(gw, user_id, &sealed) {
            Some(secret) => {
                let fresh = seal_secret(gw, user_id, &secret);
                if gw.dir.reseal_totp(user_id, &fresh).await.is_ok() {
                    done += 1;
                }
            }
            None => lost += 1,
        }
    }
    tracing::info!(
        resealed = done,
        unreadable = lost,
        "second-factor secrets re-sealed under the current key; factors.previous.key can go once every instance runs with the new key"
    );
}

/// Tells the user, at their address, that something changed on their account's security.
pub async fn notify(gw: &Gateway, to: &str, first_name: &str, what: &str) {
    let text = format!(
        "Bonjour {first_name},\n\n{what}\n\nSi vous n'êtes pas à l'origine de cette opération, \
         prévenez sans attendre votre référent administrateur : quelqu'un pourrait chercher à \
         prendre le contrôle de votre compte.\n\n{}\n",
        crate::mail::signature::text(&gw.config.support, &gw.config.public_url)
    );
    let mail = Mail {
        to: to.to_string(),
        subject: "Convergences : sécurité de votre compte".into(),
        text,
        html: None,
        link: None,
    };
    if let Err(e) = gw.mailer.send(mail).await {
        tracing::warn!(error = %e, "could not send a security notice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(
                normalize_recovery(&c.to_lowercase().replace('-', " ")),
                c.replace('-', "")
            );
        }
    }
}
