//! Start-up and shutdown: builds the shared state on a control runtime that outlives every pool,
//! serves the portal on a Unix socket, and runs the Pingora server until its shutdown signal.

use crate::config::{Config, StoreKind};
use crate::directory::Directory;
use crate::proxy::assertion::Signer;
use crate::proxy::identity_cache::IdentityCache;
use crate::proxy::routes::RouteTable;
use crate::resilience::{Breaker, BreakerSettings, Limits};
use crate::session::cached::CachedStore;
use crate::session::events::Fanout;
use crate::session::guarded::GuardedStore;
use crate::session::memory::MemoryStore;
use crate::session::redis::RedisStore;
use crate::session::{SessionStore, Sessions};
use crate::state::{load_secret, Gateway};
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignalWatch};
use std::sync::Arc;
use std::time::Duration;

/// How long an instance may trust a session it read from the shared store: a revoked session
/// is refused everywhere within 1 s, even if the revocation event is lost
/// (docs/gateway.md#revocation).
pub const SESSION_CACHE_TTL: Duration = Duration::from_millis(900);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("database {url}: {source}")]
    Database {
        url: String,
        source: crate::directory::DirectoryError,
    },
    #[error("{0}")]
    Assertion(#[from] crate::proxy::assertion::AssertionError),
    #[error("{0}")]
    Other(String),
}

/// Hides the password of a database URL in messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The control runtime: owns the database pool, the session store's tasks and the portal.
pub fn control_runtime() -> Result<tokio::runtime::Runtime, StartError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("convergences-control")
        .enable_all()
        .build()
        .map_err(|e| StartError::Other(format!("cannot start the runtime: {e}")))
}

pub async fn open_directory(config: &Config) -> Result<Directory, StartError> {
    let db_err = |source| StartError::Database {
        url: redact_url(&config.database_url),
        source,
    };
    crate::data_dir::secure(config);
    let dir = Directory::connect_with(
        &config.database_url,
        config.db_max_connections,
        breaker_settings(config, config.resilience.directory_timeout),
    )
    .await
    .map_err(db_err)?;
    dir.migrate().await.map_err(db_err)?;
    dir.sync_apps(&config.apps).await.map_err(db_err)?;
    report_deep_structures(&dir, config.structures_max_depth).await;
    Ok(dir)
}

/// The circuit breaker of a dependency whose calls are bounded by `timeout`.
fn breaker_settings(config: &Config, timeout: Duration) -> BreakerSettings {
    let r = &config.resilience;
    BreakerSettings {
        timeout,
        failures_to_open: r.failures_to_open,
        probe_interval: r.probe_interval,
        max_waiting: r.max_waiting,
    }
}

/// Structures deeper than `structures.max_depth` stay valid (they were created before the
/// limit, or under a larger one); the operator is told which (docs/product.md#structures).
pub async fn report_deep_structures(dir: &Directory, max_depth: u32) -> Option<(i64, Vec<String>)> {
    match dir.structures_deeper_than(max_depth, 20).await {
        Ok((0, _)) => Some((0, Vec::new())),
        Ok((total, labels)) => {
            tracing::warn!(
                total,
                max_depth,
                structures = %labels.join(", "),
                "structures deeper than structures.max_depth: they stay valid, no structure can be added below them"
            );
            Some((total, labels))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the depth of the structure tree");
            None
        }
    }
}

/// Builds the shared state. Must run on the control runtime.
pub async fn build_gateway(config: Config) -> Result<Arc<Gateway>, StartError> {
    // Validity dates are calendar days of the zone people read times in.
    crate::directory::set_civil_time_zone(config.time_zone.clone());
    let dir = open_directory(&config).await?;
    let mut redis = None;
    let mut session_cache = None;
    let mut fanout = Fanout::default();
    let mut session_breaker = None;
    let store: Arc<dyn SessionStore> = match config.sessions.store {
        StoreKind::Memory => {
            let m = MemoryStore::new();
            m.spawn_sweeper(Duration::from_secs(60));
            m
        }
        StoreKind::Redis => {
            let url = config.sessions.redis_url.clone().unwrap_or_default();
            let timeout = config.resilience.session_store_timeout;
            let r = RedisStore::connect(&url, &config.sessions.redis_prefix, timeout)
                .await
                .map_err(StartError::Other)?;
            fanout = Fanout::start(r.clone());
            // A command may be retried once on a dropped connection: the breaker bounds both.
            let breaker = Breaker::new("session_store", breaker_settings(&config, timeout * 2));
            let guarded = GuardedStore::new(r.clone(), breaker.clone());
            session_breaker = Some(breaker);
            let cache = CachedStore::new(guarded, SESSION_CACHE_TTL);
            redis = Some(r);
            session_cache = Some(cache.clone());
            cache
        }
    };
    let signer = Signer::load_or_generate(
        &config.assertion_key_file,
        config.issuer.clone(),
        config.assertion_ttl.as_secs() as i64,
    )?
    .with_previous_keys(&config.assertion_previous_key_files)?;
    let oidc = crate::oidc::Provider::new(
        &config.oidc,
        signer.jwks_json(),
        config.apps.iter().any(|a| a.oidc.is_some()),
    )
    .map_err(|e| StartError::Other(format!("oidc: {e}")))?;
    let secret = load_secret(&config).map_err(StartError::Other)?;
    let factor_keys = crate::state::load_factor_keys(&config).map_err(StartError::Other)?;
    let routes = RouteTable::new(&config);
    let portal_socket = std::env::temp_dir().join(format!(
        "convergences-{}-{}.sock",
        std::process::id(),
        &crate::auth::random_token()[..8]
    ));
    tokio::task::spawn_blocking(crate::auth::password::warm_up);
    let mailer = crate::mail::Mailer::new(&config.mail)
        .map_err(|e| StartError::Other(format!("mail: {e}")))?;
    let per_minute = std::num::NonZeroU32::new(config.throttle.attempts_per_ip_per_minute)
        .unwrap_or(std::num::NonZeroU32::MIN);
    let ip_limiter = governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute));
    let starts_per_minute =
        std::num::NonZeroU32::new(config.throttle.provider_starts_per_ip_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
    let provider_starts =
        governor::RateLimiter::keyed(governor::Quota::per_minute(starts_per_minute));
    let providers = Arc::new(crate::auth::oidc_client::Providers::new(
        &config.identity_providers,
    ));
    providers.spawn_refresher();
    let gw = Arc::new(Gateway {
        providers,
        mailer,
        ip_limiter,
        ip_blocked: dashmap::DashMap::new(),
        provider_starts,
        fanout,
        session_cache: session_cache.clone(),
        sessions: Sessions::new(
            store,
            config.sessions.idle_timeout,
            config.sessions.absolute_timeout,
        ),
        identities: IdentityCache::new(config.identity_ttl, config.apps.len())
            .with_grace(config.resilience.directory_grace),
        session_breaker,
        limits: Limits::new(
            config.resilience.max_connections,
            config.resilience.max_requests,
            config.resilience.retry_after_seconds,
        ),
        cookies: crate::session::cookies::CookieNames::new(&config),
        factor_keys,
        webauthn: crate::second_factor::passkeys::relying_party(
            &config.portal_host,
            &config.public_url,
        ),
        config: Arc::new(config),
        dir,
        signer,
        routes: arc_swap::ArcSwap::from_pointee(routes),
        secret,
        portal_socket,
        oidc,
    });
    crate::second_factor::reseal_stale(&gw).await;
    if let (Some(r), Some(cache)) = (redis, session_cache) {
        tokio::spawn(crate::session::events::subscribe(
            r,
            Arc::downgrade(&gw),
            cache,
        ));
    }
    Ok(gw)
}

#[derive(Debug)]
pub struct ReloadReport {
    pub apps: usize,
    /// Changed settings outside [[apps]], which only a restart applies.
    pub ignored: Vec<String>,
}

/// Re-reads the configuration file and applies its `[[apps]]`: the new routing table replaces
/// the old one atomically (requests in flight finish with the table they started with, no
/// connection is dropped). Anything else that changed needs a restart and is reported.
pub async fn reload_apps(gw: &Gateway) -> Result<ReloadReport, StartError> {
    let path = std::path::Path::new(&gw.config.source);
    let new = Config::load(path)?;
    let old = &gw.config;
    let mut ignored = Vec::new();
    let mut check = |key: &str, same: bool| {
        if !same {
            ignored.push(key.to_string());
        }
    };
    check("server.listen", new.listen == old.listen);
    check("server.portal_host", new.portal_host == old.portal_host);
    check("server.public_url", new.public_url == old.public_url);
    check("database.url", new.database_url == old.database_url);
    check(
        "sessions",
        format!("{:?}", new.sessions) == format!("{:?}", old.sessions),
    );
    check("resilience", new.resilience == old.resilience);
    check(
        "server.identity_cache_seconds",
        new.identity_ttl == old.identity_ttl,
    );
    check(
        "server.tls",
        format!("{:?}", new.tls) == format!("{:?}", old.tls),
    );
    check(
        "oidc",
        format!("{:?}", new.oidc) == format!("{:?}", old.oidc),
    );
    // Login delays and the per-address limits (the limiters are built at start).
    check(
        "security",
        format!("{:?}", new.throttle) == format!("{:?}", old.throttle),
    );
    if new.apps.iter().any(|a| a.oidc.is_some()) {
        gw.oidc
            .ensure_keys()
            .map_err(|e| StartError::Other(format!("oidc: {e}")))?;
    }
    gw.dir
        .sync_apps(&new.apps)
        .await
        .map_err(|source| StartError::Database {
            url: redact_url(&old.database_url),
            source,
        })?;
    gw.providers.replace(&new.identity_providers);
    let mut merged = (**old).clone();
    merged.apps = new.apps;
    let table = RouteTable::new(&merged);
    let n = table.apps.len();
    gw.routes.store(Arc::new(table));
    gw.identities.set_app_count(n);
    Ok(ReloadReport { apps: n, ignored })
}

/// Reloads `[[apps]]` on SIGHUP, for as long as the process runs.
async fn reload_on_sighup(gw: Arc<Gateway>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: configuration reload disabled");
        return;
    };
    while hup.recv().await.is_some() {
        match reload_apps(&gw).await {
            Ok(r) if r.ignored.is_empty() => {
                tracing::info!(apps = r.apps, "configuration reloaded")
            }
            Ok(r) => tracing::warn!(
                apps = r.apps,
                needs_restart = ?r.ignored,
                "applications reloaded; other changed settings need a restart"
            ),
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded, the running one stays")
            }
        }
    }
}

/// Called once the shared state exists, with the control runtime (demo seeding, tests).
pub type OnReady = Box<dyn FnOnce(&Arc<Gateway>, &tokio::runtime::Runtime) + Send>;

/// Runs the gateway until `signal` (or, when `None`, SIGTERM/SIGINT) asks it to stop.
/// `on_ready` runs once the state is built, before the listener opens.
pub fn run(
    config: Config,
    signal: Option<Box<dyn ShutdownSignalWatch>>,
    on_ready: Option<OnReady>,
) -> Result<(), StartError> {
    crate::telemetry::init_metrics();
    // Pingora retries a busy address for 30 s and then panics in a service thread while the
    // process lives on: check the listeners first and stop with a clear error instead.
    let mut addresses = vec![("server.listen", config.listen)];
    if let Some(tls) = &config.tls {
        addresses.push(("server.tls.listen", tls.listen));
    }
    for (key, addr) in addresses {
        if let Err(e) = std::net::TcpListener::bind(addr) {
            return Err(StartError::Other(format!(
                "{}: key `{key}`: cannot listen on {addr}: {e}",
                config.source
            )));
        }
    }
    let rt = control_runtime()?;
    let gw = rt.block_on(build_gateway(config))?;
    let listener = rt
        .block_on(async {
            let _ = std::fs::remove_file(&gw.portal_socket);
            let l = tokio::net::UnixListener::bind(&gw.portal_socket)?;
            // Only the proxy (this process) talks to the portal, which trusts its headers.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                &gw.portal_socket,
                std::fs::Permissions::from_mode(crate::data_dir::FILE_MODE),
            )?;
            Ok::<_, std::io::Error>(l)
        })
        .map_err(|e| {
            StartError::Other(format!("portal socket {}: {e}", gw.portal_socket.display()))
        })?;
    let (stop_portal, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = crate::web::router(gw.clone());
    let portal = rt.spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    rt.spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            crate::telemetry::upkeep();
        }
    });
    {
        let gw = gw.clone();
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                gw.sweep_limits();
            }
        });
    }
    if std::path::Path::new(&gw.config.source).is_file() {
        rt.spawn(reload_on_sighup(gw.clone()));
    }
    rt.spawn(crate::lifecycle::daily_loop(gw.clone()));
    if let Some(f) = on_ready {
        f(&gw, &rt);
    }

    let cfg = &gw.config;
    let conf = ServerConf {
        threads: cfg.threads,
        work_stealing: crate::proxy::listeners::work_stealing(cfg),
        grace_period_seconds: Some(cfg.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(cfg.graceful_shutdown_timeout_seconds),
        ca_file: cfg
            .upstream_ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    crate::proxy::listeners::add_services(&mut server, &gw).map_err(StartError::Other)?;
    tracing::info!(listen = %cfg.listen, tls = ?cfg.tls.as_ref().map(|t| t.listen), threading = ?cfg.threading, threads = cfg.threads, portal = %cfg.public_url, apps = cfg.apps.len(), "gateway listening");
    let args = match signal {
        Some(shutdown_signal) => RunArgs { shutdown_signal },
        None => RunArgs::default(),
    };
    server.run(args);

    let _ = stop_portal.send(());
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), portal).await });
    let _ = std::fs::remove_file(&gw.portal_socket);
    tracing::info!("gateway stopped");
    // Pools close on the runtime that owns them.
    rt.block_on(async move { drop(gw) });
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}
