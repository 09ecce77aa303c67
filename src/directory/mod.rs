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

/// Today's date as `YYYY-MM-DD` in UTC, the form validity dates are stored in.
pub fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `today()` for the per-request path: computed once per day and thread, then shared.
pub fn today_cached() -> std::rc::Rc<str> {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(i64, std::rc::Rc<str>)> = RefCell::new((-1, std::rc::Rc::from("")));
    }
    let day = now().div_euclid(86_400);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != day {
            *c = (day, std::rc::Rc::from(today()));
        }
        c.1.clone()
    })
}
