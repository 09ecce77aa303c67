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
        if let [section, slug, key] = parts.as_slice() {
            if section == "identity_providers" {
                set_provider_key(table, name, slug, key, raw, problems);
                continue;
            }
        }
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

/// `CONVERGENCES_IDENTITY_PROVIDERS__<SLUG>__<KEY>` sets `key` of the `[[identity_providers]]`
/// entry whose slug reads as `<SLUG>` (lower case, `-` written `_`): a client secret can stay
/// out of the file. Values are strings, the only type of the keys it is meant for.
fn set_provider_key(
    table: &mut toml::Table,
    name: &str,
    slug: &str,
    key: &str,
    raw: &str,
    problems: &mut Vec<Problem>,
) {
    let entry = table
        .get_mut("identity_providers")
        .and_then(|v| v.as_array_mut())
        .and_then(|list| {
            list.iter_mut().find(|e| {
                e.get("slug")
                    .and_then(|s| s.as_str())
                    .is_some_and(|s| s.replace('-', "_").eq_ignore_ascii_case(slug))
            })
        })
        .and_then(|e| e.as_table_mut());
    match entry {
        Some(t) => {
            t.insert(key.to_string(), toml::Value::String(raw.to_string()));
        }
        None => problems.push(Problem {
            key: name.to_string(),
            message: format!("no [[identity_providers]] entry has the slug {slug:?}"),
        }),
    }
}
