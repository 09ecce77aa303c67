//! Per-user cache of identities and of the header values sent to each application, so that a
//! proxied request normally costs no database query and no signature: the JWT and header values
//! are built once per user and application and reused until half the assertion's lifetime has
//! passed. Entries are sharded (no global lock) and refreshed from the database at most every
//! `ttl`; any directory change calls [`IdentityCache::invalidate`] for the user it touches.
//!
//! An entry in use is reloaded in the background once three quarters of `ttl` have passed
//! ([`IdentityCache::claim_refresh`], [`IdentityCache::queue_refresh`]), so that a busy user's
//! requests do not wait for the database every `ttl`; the entry served is never older than
//! `ttl` all the same. The reloads are gathered for a moment and read in batches (three
//! queries for up to 64 users), so that a thousand users in use cost a few reads a second, not
//! a hundred. When the reloaded identity is the same, its header values and signed assertions
//! are kept (they have their own expiry), so a steady user costs no new signature.

use super::assertion::{Claims, GrantClaim, Signer};
use super::identity_encoding as encoding;
use super::routes::AppRoute;
use crate::config::HeaderNames;
use crate::directory::identities::MAX_BATCH;
use crate::directory::model::Identity;
use crate::directory::{DResult, Directory};
use crate::session::Assurance;
use arc_swap::ArcSwapOption;
use dashmap::DashMap;
use pingora::http::AppendedHeaders;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct CachedIdentity {
    pub identity: Identity,
    loaded: Instant,
    /// Indexed like `RouteTable::apps`.
    headers: Vec<ArcSwapOption<AppHeaders>>,
    /// A background reload of this entry has been started (at most one per entry).
    refreshing: AtomicBool,
}

/// Ready-to-send identity headers for one user on one application.
pub struct AppHeaders {
    /// The routing table these lines were made for (`AppRoute::generation`): checked on reuse,
    /// since indexes and header names change when the configuration is reloaded.
    generation: u64,
    /// The seven identity headers under the application's names, as written to it: one
    /// shared block per user and application, copied into each request
    /// (`headers::append_gateway_headers`).
    pub lines: AppendedHeaders,
    refresh_at: i64,
    /// The session assurance the assertion states: reused only for a session with the same.
    assurance: Assurance,
}

/// The identity lines under the application's header names. Every value is already
/// percent-encoded (or a JWT), hence visible ASCII; a value that is not is sent empty.
fn identity_lines(names: &HeaderNames, values: [&str; 7]) -> AppendedHeaders {
    let names = names.all();
    let size: usize = names
        .iter()
        .zip(values)
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    let mut lines = AppendedHeaders::builder(size);
    for (name, value) in names.into_iter().zip(values) {
        if lines.push(name, value.as_bytes()).is_err() {
            let _ = lines.push(name, b"");
        }
    }
    lines.finish()
}

impl AppHeaders {
    /// Unix time at which the assertion is renewed: these lines are not sent after it.
    pub fn refresh_at(&self) -> i64 {
        self.refresh_at
    }

    #[cfg(test)]
    pub fn empty_for_tests() -> AppHeaders {
        AppHeaders {
            generation: 0,
            lines: AppendedHeaders::default(),
            refresh_at: i64::MAX,
            assurance: Assurance::password(0),
        }
    }

    /// A copy that shares no memory with this one, for one proxy thread to hold: every request
    /// clones its reference counts, which would otherwise be written by every core at once.
    pub fn thread_copy(&self) -> Arc<AppHeaders> {
        Arc::new(AppHeaders {
            generation: self.generation,
            lines: self.lines.deep_copy(),
            refresh_at: self.refresh_at,
            assurance: self.assurance.clone(),
        })
    }
}

impl CachedIdentity {
    /// Identity headers for application `app`, signing a fresh assertion when needed.
    pub fn headers_for(
        &self,
        app: &AppRoute,
        signer: &Signer,
        assurance: &Assurance,
        now: i64,
    ) -> Result<Arc<AppHeaders>, super::assertion::AssertionError> {
        let slug = app.cfg.slug.as_str();
        let slot = self.headers.get(app.idx);
        if let Some(h) = slot.and_then(|s| s.load_full()) {
            if now < h.refresh_at && h.generation == app.generation && h.assurance == *assurance {
                return Ok(h);
            }
        }
        let id = &self.identity;
        let mut roles: Vec<String> = Vec::new();
        let mut structures: Vec<String> = Vec::new();
        let mut grants = Vec::new();
        for g in id.grants_for(slug) {
            if !roles.contains(&g.role) {
                roles.push(g.role.clone());
            }
            if !structures.contains(&g.structure_path) {
                structures.push(g.structure_path.clone());
            }
            grants.push(GrantClaim {
                role: g.role.clone(),
                structure: encoding::encode_path(&g.structure_names),
            });
        }
        let roles_header = encoding::encode_grants(
            id.grants_for(slug)
                .map(|g| (g.role.as_str(), g.structure_names.as_slice())),
        );
        let structure_path = encoding::encode_path(&id.structure_names);
        let claims = Claims {
            iss: signer.issuer.clone(),
            aud: slug.to_string(),
            sub: id.uid.clone(),
            email: id.email.clone(),
            name: id.display_name(),
            grants,
            structure_path,
            roles,
            structures,
            structure: id.structure_path.clone(),
            app_id: id.app_identifier.clone(),
            auth_time: assurance.auth_time,
            amr: assurance.amr.clone(),
            acr: assurance.acr.clone(),
            iat: now,
            exp: now + signer.ttl_seconds,
        };
        let jwt = signer.sign(&claims)?;
        let lines = identity_lines(
            &app.cfg.headers,
            [
                &encoding::encode(&id.email),
                &encoding::encode(&id.uid),
                &encoding::encode(&claims.name),
                &claims.structure_path,
                &roles_header,
                &encoding::encode(&id.app_identifier),
                &jwt,
            ],
        );
        let h = Arc::new(AppHeaders {
            generation: app.generation,
            lines,
            refresh_at: now + (signer.ttl_seconds / 2).max(1),
            assurance: assurance.clone(),
        });
        if let Some(slot) = slot {
            slot.store(Some(h.clone()));
        }
        Ok(h)
    }
}

pub struct IdentityCache {
    /// Read on every proxied request: a fast hasher (the keys are the directory's ids).
    map: DashMap<i64, Arc<CachedIdentity>, foldhash::fast::RandomState>,
    ttl: Duration,
    /// Age after which an entry in use is reloaded in the background.
    refresh_after: Duration,
    /// Bumped by every invalidation: a reload that read the directory before an invalidation
    /// must not put what it read back in the cache after it.
    epoch: AtomicU64,
    /// Degraded mode (zero: off): how long past `ttl` an entry may still be used while the
    /// directory cannot be reached (docs/decisions/0009-fail-fast-and-degrade-on-purpose.md).
    grace: Duration,
    degraded: std::sync::atomic::AtomicU64,
    app_count: AtomicUsize,
    /// Users whose entries were claimed for a reload, waiting for the next batch.
    queued: Mutex<RefreshQueue>,
}

#[derive(Default)]
struct RefreshQueue {
    users: Vec<i64>,
    /// A task is reading the queue ([`IdentityCache::refresh_queued`]).
    draining: bool,
}

/// Clears the queue's `draining` flag when the task reading it ends, however it ends (a
/// runtime shut down drops it mid-way): the next claim then starts another.
struct Draining<'a>(&'a IdentityCache);

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        self.0.queue().draining = false;
    }
}

impl IdentityCache {
    pub fn new(ttl: Duration, app_count: usize) -> Self {
        Self {
            map: DashMap::default(),
            ttl,
            refresh_after: ttl * 3 / 4,
            epoch: AtomicU64::new(0),
            grace: Duration::ZERO,
            degraded: std::sync::atomic::AtomicU64::new(0),
            app_count: AtomicUsize::new(app_count),
            queued: Mutex::default(),
        }
    }

    /// How many times an identity past its lifetime stood in for the unreachable directory.
    pub fn degraded_uses(&self) -> u64 {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Turns the degraded mode on (`resilience.directory_grace_seconds`).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The user's identity, from the cache when fresh. `None` when the account is gone.
    ///
    /// With a grace, an entry past its lifetime stands in for the directory while the directory
    /// cannot be reached, until `ttl + grace`. It is safe because what would take rights away
    /// arrives through other paths that still work: a lock, deletion or password change ends
    /// the sessions in the session store, and any change to the account removes its entry here
    /// (on every instance, through the events), after which nothing stands in for it.
    pub async fn get(&self, dir: &Directory, user_id: i64) -> DResult<Option<Arc<CachedIdentity>>> {
        let mut stale = None;
        if let Some(e) = self.map.get(&user_id) {
            if e.loaded.elapsed() < self.ttl {
                crate::telemetry::cache_hit();
                return Ok(Some(e.clone()));
            }
            if !self.grace.is_zero() && e.loaded.elapsed() < self.ttl + self.grace {
                stale = Some(e.clone());
            }
        }
        crate::telemetry::cache_miss();
        let epoch = self.epoch();
        // Boxed: the directory read's state is large (kilobytes), and held inline it would make
        // every proxied request's future that large, cache hit or not.
        let identity = match Box::pin(dir.identity(user_id)).await {
            Ok(Some(identity)) => identity,
            Ok(None) => {
                self.map.remove(&user_id);
                return Ok(None);
            }
            Err(e) if e.is_outage() => match stale {
                Some(entry) => {
                    self.degraded.fetch_add(1, Ordering::Relaxed);
                    crate::telemetry::identity_degraded();
                    return Ok(Some(entry));
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        Ok(Some(self.store(user_id, identity, epoch)))
    }

    /// True once for an entry in use that is old enough to be reloaded ahead of its expiry:
    /// the caller then hands its user to [`IdentityCache::queue_refresh`].
    pub fn claim_refresh(&self, entry: &CachedIdentity) -> bool {
        let age = entry.loaded.elapsed();
        age >= self.refresh_after
            && age < self.ttl
            && !entry.refreshing.swap(true, Ordering::Relaxed)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, RefreshQueue> {
        // The queue is a list of ids, whole after any panic: a poisoned lock is still usable.
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a claimed entry's user for the next batched reload. True when no task is reading
    /// the queue: the caller then runs [`IdentityCache::refresh_queued`] in the background.
    pub fn queue_refresh(&self, user_id: i64) -> bool {
        let mut q = self.queue();
        q.users.push(user_id);
        !std::mem::replace(&mut q.draining, true)
    }

    /// How long the task reading the queue waits before each batch, so that the claims of
    /// that moment are read together. Short beside the quarter of `ttl` left to a claimed
    /// entry.
    fn gather(&self) -> Duration {
        (self.ttl / 8).min(Duration::from_millis(250))
    }

    /// Reads the queued users' identities in batches until the queue is empty; after a full
    /// batch, the next one is read at once (the claims come faster than one batch a moment).
    pub async fn refresh_queued(&self, dir: &Directory) {
        let draining = Draining(self);
        let mut wait = true;
        loop {
            if wait {
                tokio::time::sleep(self.gather()).await;
            }
            let batch = {
                let mut q = self.queue();
                if q.users.is_empty() {
                    // Under the lock, so that a user queued from now on starts another task;
                    // the guard is not run, or it would clear that next task's flag.
                    q.draining = false;
                    drop(q);
                    std::mem::forget(draining);
                    return;
                }
                let n = q.users.len().min(MAX_BATCH);
                q.users.drain(..n).collect::<Vec<_>>()
            };
            wait = batch.len() < MAX_BATCH;
            self.refresh(dir, &batch).await;
        }
    }

    /// Reloads identities ahead of their expiry. A failure changes nothing: the entries
    /// expire at `ttl` and the next request reloads them (or meets the outage) itself.
    pub async fn refresh(&self, dir: &Directory, user_ids: &[i64]) {
        // A user queued twice (a new entry claimed before the old claim was read) is read once:
        // the second pass would find nothing left and drop the entry just stored.
        let mut user_ids = user_ids.to_vec();
        user_ids.sort_unstable();
        user_ids.dedup();
        let epoch = self.epoch();
        match dir.identities(&user_ids).await {
            Ok(mut found) => {
                for user_id in &user_ids {
                    match found.remove(user_id) {
                        Some(identity) => {
                            self.store(*user_id, identity, epoch);
                        }
                        None => {
                            self.map.remove(user_id);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, users = user_ids.len(), "identity refresh failed")
            }
        }
    }

    /// The invalidation count, read before a directory read that [`IdentityCache::store`]
    /// will cache.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a freshly read identity, unless an invalidation happened since the read began
    /// (`epoch`): then it serves the request that read it and nothing else. The header values
    /// of an unchanged identity are carried over.
    pub fn store(&self, user_id: i64, identity: Identity, epoch: u64) -> Arc<CachedIdentity> {
        let apps = self.app_count.load(Ordering::Relaxed);
        let kept = self
            .map
            .get(&user_id)
            .filter(|old| old.identity == identity && old.headers.len() == apps)
            .map(|old| {
                old.headers
                    .iter()
                    .map(|slot| ArcSwapOption::new(slot.load_full()))
                    .collect::<Vec<_>>()
            });
        let entry = Arc::new(CachedIdentity {
            identity,
            loaded: Instant::now(),
            headers: kept.unwrap_or_else(|| (0..apps).map(|_| ArcSwapOption::empty()).collect()),
            refreshing: AtomicBool::new(false),
        });
        if self.epoch.load(Ordering::SeqCst) == epoch {
            self.map.insert(user_id, entry.clone());
            // An invalidation between the check and the insert: take the entry back out.
            if self.epoch.load(Ordering::SeqCst) != epoch {
                self.map
                    .remove_if(&user_id, |_, cached| Arc::ptr_eq(cached, &entry));
            }
        }
        entry
    }

    /// The entry is past its lifetime: it was served by the degraded mode, the directory being
    /// unreachable.
    pub fn is_stale(&self, entry: &CachedIdentity) -> bool {
        entry.loaded.elapsed() >= self.ttl
    }

    /// The epoch moves before the entry goes (a reload that read the directory before must not
    /// store what it read) and again after (a decision taken on the entry just before it went
    /// must not be reused: `proxy::memo` reads the epoch before it looks the entry up).
    pub fn invalidate(&self, user_id: i64) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.map.remove(&user_id);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.map.clear();
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Until when a decision taken on `entry` may be reused without looking it up again: its
    /// background reload must still be claimed by a request that looks it up
    /// ([`IdentityCache::claim_refresh`]), so until the reload is due, or, once claimed, until
    /// the entry stops being fresh.
    pub fn reuse_until(&self, entry: &CachedIdentity) -> Instant {
        if entry.refreshing.load(Ordering::Relaxed) {
            entry.loaded + self.ttl
        } else {
            entry.loaded + self.refresh_after
        }
    }

    /// After a reload: new entries get one slot per application of the new table.
    pub fn set_app_count(&self, n: usize) {
        self.app_count.store(n, Ordering::Relaxed);
        self.invalidate_all();
    }
}
