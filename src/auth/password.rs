//! argon2id password hashing (OWASP parameters: m=19 MiB, t=2, p=1, argon2's default), always
//! run on a few dedicated threads so that a login never stalls the async workers. Each thread
//! keeps one argon2 working memory and reuses it for every hash and verification while logins
//! keep coming, and gives it back to the system when they stop.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// The argon2 working memory of one hashing thread (19 MiB at the default cost), kept between
/// computations. `Argon2::verify_password` allocates and frees it on every call; with glibc,
/// blocks that size end up in per-thread heap arenas that keep the memory (bench/RESULTS.md,
/// "Login memory": 330 MiB at 10 concurrent logins), and a fresh `mmap` for each call instead
/// costs page faults on every login. Grown to the largest cost seen while logins keep coming,
/// released when they stop (`serve`).
#[derive(Default)]
pub struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// The first `count` blocks, growing the memory if it is smaller. The contents are left
    /// over from the previous computation: argon2 overwrites every block before reading it.
    fn blocks(&mut self, count: usize) -> Result<&mut [Block], argon2::Error> {
        if self.blocks.len() < count {
            // Free the smaller memory first, so that both never exist at once.
            self.blocks = Vec::new();
            let mut grown = Vec::new();
            grown
                .try_reserve_exact(count)
                .map_err(|_| argon2::Error::OutOfMemory)?;
            grown.resize(count, Block::new());
            self.blocks = grown;
        }
        Ok(&mut self.blocks[..count])
    }

    /// Size of the memory held, in bytes.
    pub fn size(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    /// Frees the memory and hands it back to the system. Freeing alone is not enough with
    /// glibc: after the first 19 MiB block was freed, its dynamic `mmap` threshold rises above
    /// that size, so later blocks come from the thread's heap arena, which keeps them.
    fn release(&mut self) {
        if self.blocks.is_empty() {
            return;
        }
        self.blocks = Vec::new();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim has no precondition; it only returns free memory of the
        // allocator's arenas to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// A hash of a random password, verified when the account does not exist so that a login for
/// an unknown e-mail costs the same time as one for a known e-mail (no account enumeration).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&crate::auth::random_token()).unwrap_or_default())
}

/// Hashes a new password at the default cost (argon2id, v=19, m=19456, t=2, p=1, 16-byte
/// random salt, 32-byte output) in `memory`; returns the PHC string.
pub fn hash_with(
    memory: &mut Memory,
    password: &str,
) -> Result<String, argon2::password_hash::Error> {
    let salt = argon2::password_hash::try_generate_salt()
        .map_err(|_| argon2::password_hash::Error::Crypto)?;
    let algorithm = Algorithm::Argon2id;
    let version = Version::V0x13;
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        &salt,
        &mut out,
        memory.blocks(params.block_count())?,
    )?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    }
    .to_string())
}

/// Whether `password` matches the PHC string `hash`, computed in `memory`. The algorithm,
/// version, costs, salt and output length all come from `hash`, so hashes made with other
/// costs still verify; the comparison of the outputs is constant-time.
pub fn verify_with(memory: &mut Memory, password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::new(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    // Also sets the output length to the stored hash's.
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let Ok(blocks) = memory.blocks(params.block_count()) else {
        return false;
    };
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        out,
        blocks,
    );
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// `hash_with` in a memory of its own (allocated and freed here): for callers outside the
/// hashing threads (the demo seed, the dummy hash).
pub fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    hash_with(&mut Memory::default(), password)
}

/// Verifies `password` against `hash`, or against the dummy hash when there is no account
/// (same cost, always false).
fn verify_account(memory: &mut Memory, password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(h) => verify_with(memory, password, h),
        None => {
            let _ = verify_with(memory, password, dummy_hash());
            false
        }
    }
}

/// `verify_account` in a memory of its own (allocated and freed here).
pub fn verify_blocking(password: &str, hash: Option<&str>) -> bool {
    verify_account(&mut Memory::default(), password, hash)
}

/// argon2 runs on a few dedicated threads, one per core, fed through a queue. Each computation
/// needs 19 MiB; on tokio's blocking pool a burst of logins spread them over many threads whose
/// allocator arenas each kept that memory (bench/login measured 0.7-1.6 GiB at 10 concurrent
/// logins). A fixed set of threads, each with its one `Memory`, bounds it to cores x 19 MiB,
/// and queued logins simply wait their turn.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// How long a hashing thread keeps its memory without work. Logins come in bursts (the
/// morning); between them the gateway should not hold cores x 19 MiB it does not use, and
/// getting the memory back costs a login about a millisecond of page faults.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(5);

/// One hashing thread: runs the jobs of `queue` in its memory, released after `idle` without
/// work; returns when the queue is closed.
fn serve(queue: &crossbeam_channel::Receiver<Job>, idle: std::time::Duration) {
    let mut memory = Memory::default();
    loop {
        let job = if memory.size() == 0 {
            queue.recv().ok()
        } else {
            match queue.recv_timeout(idle) {
                Ok(job) => Some(job),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    memory.release();
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
            }
        };
        match job {
            Some(job) => job(&mut memory),
            None => return,
        }
    }
}

fn workers() -> &'static crossbeam_channel::Sender<Job> {
    static QUEUE: OnceLock<crossbeam_channel::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..cores {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("convergences-argon2-{i}"))
                .spawn(move || serve(&rx, IDLE_RELEASE));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        tx
    })
}

/// Runs `f` on the hashing threads, with that thread's memory; `None` if they are gone.
async fn on_workers<T: Send + 'static>(
    f: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    workers()
        .send(Box::new(move |memory: &mut Memory| {
            let _ = tx.send(f(memory));
        }))
        .ok()?;
    rx.await.ok()
}

pub async fn hash(password: String) -> Result<String, String> {
    on_workers(move |memory: &mut Memory| hash_with(memory, &password).map_err(|e| e.to_string()))
        .await
        .ok_or_else(|| "password hashing threads unavailable".to_string())?
}

pub async fn verify(password: String, hash: Option<String>) -> bool {
    on_workers(move |memory: &mut Memory| verify_account(memory, &password, hash.as_deref()))
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
    use argon2::password_hash::{CustomizedPasswordHasher, PasswordVerifier};

    #[test]
    fn hash_and_verify() {
        let h = hash_blocking("Un-Mot-de-passe-2026!").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking("Un-Mot-de-passe-2026!", Some(&h)));
        assert!(!verify_blocking("un-mot-de-passe-2026!", Some(&h)));
        assert!(!verify_blocking("anything", None));
        assert!(!verify_blocking("anything", Some("not a hash")));
        // The PHC string is the one argon2's own verifier expects.
        Argon2::default()
            .verify_password(b"Un-Mot-de-passe-2026!", h.as_str())
            .unwrap();
    }

    /// A hash made by argon2's own hasher with these costs.
    fn reference_hash(password: &str, algorithm: &str, version: u32, params: Params) -> String {
        Argon2::default()
            .hash_password_customized(
                password.as_bytes(),
                b"sel-de-test-0123",
                Some(algorithm),
                Some(version),
                params,
            )
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_hashing_thread_gives_its_memory_back_when_idle_and_grows_it_again_for_work() {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let worker = std::thread::spawn(move || serve(&rx, std::time::Duration::from_millis(20)));
        // What the thread holds, as seen by a job (a job costs nothing and resets the idle time).
        let held = |tx: &crossbeam_channel::Sender<Job>| {
            let (back, size) = std::sync::mpsc::channel();
            tx.send(Box::new(move |m: &mut Memory| {
                let _ = back.send(m.size());
            }))
            .unwrap();
            size.recv().unwrap()
        };
        let (done, result) = std::sync::mpsc::channel();
        tx.send(Box::new(move |m: &mut Memory| {
            let _ = done.send(hash_with(m, "Un-Mot-de-passe-2026!").is_ok());
        }))
        .unwrap();
        assert!(result.recv().unwrap());
        assert_eq!(held(&tx), 19456 * 1024, "kept between jobs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while held(&tx) != 0 {
            assert!(std::time::Instant::now() < deadline, "never released");
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        let (done, result) = std::sync::mpsc::channel();
        tx.send(Box::new(move |m: &mut Memory| {
            let hash = hash_with(m, "x").unwrap();
            let _ = done.send(verify_with(m, "x", &hash));
        }))
        .unwrap();
        assert!(result.recv().unwrap(), "works again after the release");
        drop(tx);
        worker.join().unwrap();
    }

    #[test]
    fn one_memory_verifies_hashes_of_different_costs() {
        let small = reference_hash(
            "Petit-Cout-2026!",
            "argon2id",
            0x13,
            Params::new(8 * 1024, 3, 2, Some(24)).unwrap(),
        );
        let default = reference_hash("Cout-Par-Defaut-2026!", "argon2id", 0x13, Params::default());
        let old = reference_hash(
            "Ancien-Format-2026!",
            "argon2i",
            0x10,
            Params::new(4 * 1024, 1, 1, None).unwrap(),
        );
        assert!(
            small.starts_with("$argon2id$v=19$m=8192,t=3,p=2$"),
            "{small}"
        );
        assert!(old.starts_with("$argon2i$v=16$m=4096,t=1,p=1$"), "{old}");

        // One memory, as on one hashing thread: small cost, then larger (it grows), then small
        // again in the larger, dirty memory, then a new hash and the older formats.
        let mut memory = Memory::default();
        assert!(verify_with(&mut memory, "Petit-Cout-2026!", &small));
        assert_eq!(memory.size(), 8 * 1024 * 1024);
        assert!(verify_with(&mut memory, "Cout-Par-Defaut-2026!", &default));
        assert_eq!(memory.size(), 19456 * 1024);
        assert!(verify_with(&mut memory, "Petit-Cout-2026!", &small));
        assert!(!verify_with(&mut memory, "petit-Cout-2026!", &small));
        assert!(!verify_with(&mut memory, "Petit-Cout-2026!", &default));
        let fresh = hash_with(&mut memory, "Nouveau-2026!").unwrap();
        assert!(verify_with(&mut memory, "Nouveau-2026!", &fresh));
        assert!(verify_with(&mut memory, "Ancien-Format-2026!", &old));
        assert!(!verify_with(&mut memory, "Ancien-Format-2026?", &old));
        assert!(verify_with(&mut memory, "Cout-Par-Defaut-2026!", &default));
        assert_eq!(
            memory.size(),
            19456 * 1024,
            "never shrunk, not grown past the largest"
        );
        // Truncated output or salt: refused, not a panic.
        let cut = &default[..default.len() - 10];
        assert!(!verify_with(&mut memory, "Cout-Par-Defaut-2026!", cut));
    }

    #[tokio::test]
    async fn the_hashing_threads_verify_hashes_of_different_costs() {
        let small = reference_hash(
            "Petit-Cout-2026!",
            "argon2id",
            0x13,
            Params::new(8 * 1024, 3, 2, None).unwrap(),
        );
        let new = hash("Cout-Par-Defaut-2026!".to_string()).await.unwrap();
        for _ in 0..3 {
            assert!(verify("Petit-Cout-2026!".into(), Some(small.clone())).await);
            assert!(verify("Cout-Par-Defaut-2026!".into(), Some(new.clone())).await);
            assert!(!verify("Cout-Par-Defaut-2026!".into(), Some(small.clone())).await);
            assert!(!verify("Cout-Par-Defaut-2026!".into(), None).await);
        }
    }
}
