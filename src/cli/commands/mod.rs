//! The operator commands, one file per group: the gateway's own (`serve`, `check-config`,
//! `migrate`), `admin` tasks, CSV imports, and the demo. Each prints what it did for the
//! operator and returns a [`StartError`] whose message says what to fix.

pub(super) mod admin;
pub(super) mod demo;
pub(super) mod gateway;
pub(super) mod import;

use crate::config::Config;
use crate::directory::Directory;
use crate::server::{self, StartError};
use std::future::Future;

/// Runs `f` with the directory (migrated, applications synchronised) on the control runtime,
/// which must outlive the pool (docs/decisions/0002-portal-axum-behind-pingora-on-a-unix-socket.md).
fn with_directory<T, F, Fut>(config: &Config, f: F) -> Result<T, StartError>
where
    F: FnOnce(Directory) -> Fut,
    Fut: Future<Output = Result<T, StartError>>,
{
    let rt = server::control_runtime()?;
    rt.block_on(async {
        let dir = server::open_directory(config).await?;
        f(dir).await
    })
}

/// A failure reported as its message alone (directory errors, refused arguments).
fn failed(e: impl std::fmt::Display) -> StartError {
    StartError::Other(e.to_string())
}
