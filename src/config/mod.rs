//! Configuration: the TOML file (`file.rs`) is parsed, overlaid with `CONVERGENCES_*`
//! environment variables (`env.rs`), then validated section by section (`validate/`) into
//! [`Config`] (`model.rs`), which the rest of the program uses. Validation collects every
//! problem at once and names each offending key (`error.rs`), so an operator fixes a file in one
//! pass (docs/product.md#operator-interface).

mod env;
mod error;
pub mod file;
mod file_legal;
mod file_oidc;
pub mod identity_providers;
mod model;
mod model_oidc;
mod validate;

pub use env::ENV_PREFIX;
pub use error::{ConfigError, Problem};
pub use model::{
    AppConfig, Audit, Compliance, Config, Contact, HeaderNames, Legal, LoginThrottle, MailSettings,
    MailTransport, Reminders, Resilience, Secret, SessionSettings, SmtpSecurity, StoreKind,
    Support, Threading, TlsConfig,
};
pub use model_oidc::{ClientSecret, IdTokenAlg, OidcClient, OidcSettings};
pub use validate::RESERVED_PREFIXES;

use file::FileConfig;
use std::path::Path;

impl Config {
    /// Reads, overlays the environment and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        Self::from_toml(&file, &text, &env)
    }

    /// Parses `text` (named `file` in errors) with the given environment overrides. The
    /// environment is a parameter so that tests need not change the process's.
    pub fn from_toml(
        file: &str,
        text: &str,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    file: file.to_string(),
                    message: e.to_string(),
                })?;
        let mut problems = Vec::new();
        env::apply_env(&mut table, env, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                file: file.to_string(),
                problems,
            });
        }
        let parsed = deserialize(file, table)?;
        validate::validate(parsed, file)
    }
}

/// Serde's errors (unknown key, wrong type) become a problem named by the key's path, like
/// validation's own.
fn deserialize(file: &str, table: toml::Table) -> Result<FileConfig, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Invalid {
            file: file.to_string(),
            problems: vec![Problem {
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                // toml appends "in `key`" lines; the key is already given.
                message: e
                    .into_inner()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }],
        }
    })
}

#[cfg(test)]
mod tests;
