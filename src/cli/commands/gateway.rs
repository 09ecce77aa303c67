//! `serve`, `check-config` and `migrate`: the gateway's life on one configuration file.

use crate::config::Config;
use crate::server::{self, StartError};
use std::path::Path;

pub fn serve(config: &Path) -> Result<(), StartError> {
    server::run(Config::load(config)?, None, None)
}

/// Loading is validating: every problem of the file is in the error. When the database
/// already exists, the structures deeper than `structures.max_depth` are listed too (they stay
/// valid); the database is neither created nor migrated.
pub fn check_config(path: &Path) -> Result<(), StartError> {
    let config = Config::load(path)?;
    println!(
        "{}: OK ({} application(s), portal {}, database {})",
        path.display(),
        config.apps.len(),
        config.public_url,
        server::redact_url(&config.database_url)
    );
    let url = config.database_url.replace("mode=rwc", "mode=rw");
    let rt = server::control_runtime()?;
    let deep = rt.block_on(async {
        let dir = crate::directory::Directory::connect(&url, 1).await.ok()?;
        dir.structures_deeper_than(config.structures_max_depth, 50)
            .await
            .ok()
    });
    if let Some((total, labels)) = deep.filter(|(total, _)| *total > 0) {
        println!(
            "{total} structure(s) deeper than structures.max_depth = {} (they stay valid; none can be added below them):",
            config.structures_max_depth
        );
        for l in labels {
            println!("  {l}");
        }
    }
    Ok(())
}

/// A new client secret (256 bits, base64url) and its Argon2id hash, for `[apps.oidc]`.
pub fn hash_secret() -> Result<(), StartError> {
    let secret = crate::auth::random_token();
    let hash = crate::auth::password::hash_blocking(&secret)
        .map_err(|e| StartError::Other(format!("cannot hash the secret: {e}")))?;
    println!("client secret (give it to the application only): {secret}");
    println!("client_secret_hash = \"{hash}\"");
    Ok(())
}

/// Opening the directory applies the pending migrations.
pub fn migrate(path: &Path) -> Result<(), StartError> {
    let config = Config::load(path)?;
    super::with_directory(&config, |_| async { Ok(()) })?;
    println!(
        "migrations applied to {}",
        server::redact_url(&config.database_url)
    );
    Ok(())
}
