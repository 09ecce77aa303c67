//! The environment overlay: `CONVERGENCES_<SECTION>__<KEY>=value` sets `section.key` before
//! the file is deserialised, so that secrets (`database.url`, `security.secret`, ...) can stay
//! out of the file and still go through the same checks as the file's own keys.

use super::error::Problem;

/// Prefix of environment variables that override keys of the file, e.g.
/// `CONVERGENCES_DATABASE__URL` for `database.url`.
pub const ENV_PREFIX: &str = "CONVERGENCES_";

/// Sets the keys named by `env` in `table`. Values that read as TOML integers or booleans are
/// taken as such, anything else as a string, because an environment variable has no type and
/// the file's keys do.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: &[(String, String)],
    problems: &mut Vec<Problem>,
) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" || rest == "LOG" {
            continue; // the --config flag's variable and the log filter, not configuration keys
        }
        let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let [section, key] = parts.as_slice() else {
            problems.push(Problem {
                key: name.clone(),
                message: "environment overrides take the form CONVERGENCES_SECTION__KEY (e.g. CONVERGENCES_DATABASE__URL)".into(),
            });
            continue;
        };
        if section == "apps" {
            problems.push(Problem {
                key: name.clone(),
                message: "[[apps]] cannot be set from the environment".into(),
            });
            continue;
        }
        let value = if let Ok(i) = raw.parse::<i64>() {
            toml::Value::Integer(i)
        } else if raw == "true" || raw == "false" {
            toml::Value::Boolean(raw == "true")
        } else {
            toml::Value::String(raw.clone())
        };
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                t.insert(key.clone(), value);
            }
            _ => problems.push(Problem {
                key: section.clone(),
                message: format!("is not a table, so {name} cannot override a key in it"),
            }),
        }
    }
}
