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

/// argon2 runs on a few dedicated threads, one per core, fed through a queue. Each computation
/// needs 19 MiB; on tokio's blocking pool a burst of logins spread them over many threads whose
/// allocator arenas each kept that memory (bench/login measured 0.7-1.6 GiB at 10 concurrent
/// logins). A fixed set of threads bounds it, and queued logins simply wait their turn.
type Job = Box<dyn FnOnce() + Send>;

fn workers() -> &'static std::sync::mpsc::Sender<Job> {
    static QUEUE: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..cores {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("convergences-argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        tx
    })
}

/// Runs `f` on the hashing threads; `None` if they are gone.
async fn on_workers<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    workers()
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .ok()?;
    rx.await.ok()
}

pub async fn hash(password: String) -> Result<String, String> {
    on_workers(move || hash_blocking(&password).map_err(|e| e.to_string()))
        .await
        .ok_or_else(|| "password hashing threads unavailable".to_string())?
}

pub async fn verify(password: String, hash: Option<String>) -> bool {
    on_workers(move || verify_blocking(&password, hash.as_deref()))
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
