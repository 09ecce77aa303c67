//! The directory: structures, users, applications, roles, one-time tokens and audit events,
//! stored through sqlx's Any driver so that one set of portable queries serves SQLite and
//! PostgreSQL (docs/decisions/0001-portable-sql-with-sqlx-any.md: Any decodes only integers,
//! floats, text and bytes, so booleans are 0/1 and instants are Unix seconds).

pub mod access;
pub mod admin_apps;
pub mod admin_structures;
pub mod admin_users;
pub mod apps;
pub mod audit;
pub mod audit_action;
pub mod audit_log;
pub mod contact;
pub mod csv;
pub mod factors;
pub mod fields;
pub mod flag;
pub mod identities;
pub mod identity_links;
pub mod import;
pub mod model;
pub mod passkeys;
pub mod password_policy;
pub mod photos;
pub mod query;
pub mod reminders;
pub mod search;
pub mod sign_ins;
pub mod structures;
pub mod throttle;
pub mod tokens;
pub mod users;

use crate::resilience::{Breaker, BreakerSettings, Refused};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// The database could not be asked: its circuit breaker is open, too many requests wait
    /// on it, or it did not answer in time (docs/operations.md#directory-down).
    #[error("database unavailable: {0}")]
    Unavailable(Refused),
}

impl DirectoryError {
    /// True when the error says the database could not be reached (as opposed to an answer:
    /// a row missing, a constraint refused): what the circuit breaker counts, and what the
    /// degraded mode may stand in for.
    pub fn is_outage(&self) -> bool {
        match self {
            DirectoryError::Unavailable(_) => true,
            DirectoryError::Db(e) => is_connection_error(e),
            _ => false,
        }
    }
}

fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL shutting down or starting (class 57P) or a connection failure (class 08).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

pub type DResult<T> = Result<T, DirectoryError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the directory database. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Guards the calls made on the proxy's path (docs/operations.md#directory-down).
    guard: Arc<Breaker>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("backend", &self.backend)
            .field("circuit_open", &self.guard.is_open())
            .finish()
    }
}

impl Directory {
    /// Connects (creating the SQLite file if needed). The pool must be created on a runtime that
    /// lives as long as the process: a pool dies with its runtime (see
    /// docs/decisions/0002-portal-axum-behind-pingora-on-a-unix-socket.md).
    pub async fn connect(url: &str, max_connections: u32) -> DResult<Directory> {
        let guard = BreakerSettings {
            timeout: Duration::from_secs(5),
            ..BreakerSettings::default()
        };
        Self::connect_with(url, max_connections, guard).await
    }

    /// [`Directory::connect`] with the gateway's bounds: `guard.timeout` also bounds the wait
    /// for a pooled connection.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        guard: BreakerSettings,
    ) -> DResult<Directory> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_file(url) {
                if let Some(parent) = std::path::Path::new(&path).parent() {
                    if !parent.as_os_str().is_empty() {
                        crate::data_dir::create_private_dir(parent).map_err(|e| {
                            DirectoryError::Invalid(format!(
                                "cannot create the folder of the SQLite database {path}: {e}"
                            ))
                        })?;
                    }
                }
                // SQLite would create the file 0644 (and its WAL and shared-memory files with
                // the same mode): create it 0600 first.
                if url.contains("mode=rwc") && !std::path::Path::new(&path).exists() {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .mode(crate::data_dir::FILE_MODE)
                        .open(&path)
                        .map_err(|e| {
                            DirectoryError::Invalid(format!(
                                "cannot create the SQLite database {path}: {e}"
                            ))
                        })?;
                }
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite {
                max_connections.clamp(1, 8)
            } else {
                max_connections
            })
            .acquire_timeout(guard.timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let breaker = Breaker::new("database", guard);
        let probed = pool.clone();
        breaker.set_probe(Arc::new(move || {
            let pool = probed.clone();
            Box::pin(async move { sqlx::query("SELECT 1").execute(&pool).await.is_ok() })
        }));
        Ok(Directory {
            pool,
            backend,
            guard: breaker,
        })
    }

    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.guard
    }

    /// Runs a directory call through the breaker: refused at once while the database is known
    /// to be down, bounded in time and in the number of requests waiting.
    pub async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = DResult<T>>,
    ) -> DResult<T> {
        self.guard
            .call(call, DirectoryError::is_outage)
            .await
            .map_err(DirectoryError::Unavailable)?
    }

    pub async fn migrate(&self) -> DResult<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        // Accounts written before the search column existed (or seeded in SQL) get theirs.
        let filled = self.backfill_search_text().await?;
        if filled > 0 {
            tracing::info!(accounts = filled, "search index filled");
        }
        Ok(())
    }

    /// Readiness probe: one trivial round trip.
    pub async fn ping(&self) -> DResult<()> {
        self.guarded(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }
}

fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The zone whose calendar days validity dates are read in (`[display].time_zone`): an
/// account "valide jusqu'au 31/12" works until midnight there, not until midnight UTC. Set once
/// at start ([`set_civil_time_zone`]); UTC until then.
static CIVIL_ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();

/// Sets the zone of [`today`], once per process (later calls change nothing: a reload keeps
/// the zone read at start).
pub fn set_civil_time_zone(zone: jiff::tz::TimeZone) {
    let _ = CIVIL_ZONE.set(zone);
}

fn civil_date(unix: i64) -> String {
    match CIVIL_ZONE.get() {
        Some(zone) => date_in(unix, zone),
        None => date_in(unix, &jiff::tz::TimeZone::UTC),
    }
}

/// `YYYY-MM-DD`: the calendar day of a Unix time in `zone`.
fn date_in(unix: i64, zone: &jiff::tz::TimeZone) -> String {
    let d = jiff::Timestamp::from_second(unix)
        .map(|t| zone.to_datetime(t).date())
        .unwrap_or_default();
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Today's date as `YYYY-MM-DD` (the form validity dates are stored in), in the civil zone.
pub fn today() -> String {
    civil_date(now())
}

/// `today()` for the per-request path: computed at most once a minute per thread, then
/// shared (a day starts within a minute of midnight in the civil zone).
pub fn today_cached() -> std::rc::Rc<str> {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(i64, std::rc::Rc<str>)> = RefCell::new((-1, std::rc::Rc::from("")));
    }
    let t = now();
    let minute = t.div_euclid(60);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != minute {
            *c = (minute, std::rc::Rc::from(civil_date(t)));
        }
        c.1.clone()
    })
}

#[cfg(test)]
mod civil_day_tests {
    #[test]
    fn a_day_is_the_calendar_day_of_the_zone() {
        let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("zone");
        // 31 December 2026, 23:30 UTC: already 1 January in Paris (winter, UTC+1).
        assert_eq!(super::date_in(1_798_759_800, &paris), "2027-01-01");
        assert_eq!(
            super::date_in(1_798_759_800, &jiff::tz::TimeZone::UTC),
            "2026-12-31"
        );
        // 30 June 2026, 22:30 UTC: 1 July in Paris (summer, UTC+2); 21:30 UTC is still 30 June.
        assert_eq!(super::date_in(1_782_858_600, &paris), "2026-07-01");
        assert_eq!(super::date_in(1_782_855_000, &paris), "2026-06-30");
    }
}
