//! argon2id password hashing (OWASP parameters: m=19 MiB, t=2, p=1, argon2's default), always
//! run on the blocking pool so that a login never stalls the async workers.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use std::sync::OnceLock;

/// A hash of a random password, verified when the account does not exist so that a login for
/// an unknown e-mail costs the same time as one for a known e-mail (no account enumeration).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&crate::auth::random_token()).unwrap_or_default())
}

pub fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

pub fn verify_blocking(password: &str, hash: Option<&str>) -> bool {
    let (hash, real) = match hash {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// At most one argon2 computation per core at a time. Each needs 19 MiB; unbounded, a burst
/// of logins spread them over many blocking threads whose allocator arenas kept the memory
/// (bench/login measured 1.3-1.6 GiB at 10 concurrent logins). Queued logins wait instead.
fn permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

pub async fn hash(password: String) -> Result<String, String> {
    let _permit = permits().acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || hash_blocking(&password).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

pub async fn verify(password: String, hash: Option<String>) -> bool {
    let Ok(_permit) = permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_blocking(&password, hash.as_deref()))
        .await
        .unwrap_or(false)
}

/// Pre-computes the dummy hash so the first failed login is not slower than the others.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_blocking("Un-Mot-de-passe-2026!").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_blocking("Un-Mot-de-passe-2026!", Some(&h)));
        assert!(!verify_blocking("un-mot-de-passe-2026!", Some(&h)));
        assert!(!verify_blocking("anything", None));
        assert!(!verify_blocking("anything", Some("not a hash")));
    }
}
