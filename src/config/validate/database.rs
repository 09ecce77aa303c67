//! `[database]`: which back end, from the URL's scheme
//! (docs/decisions/0001-portable-sql-with-sqlx-any.md).

use super::Problems;
use crate::config::file::DatabaseSection;
use std::path::Path;

/// Returns the database URL: the file's, else an SQLite file in the data folder, so that one
/// machine needs nothing installed.
pub(super) fn check(d: &DatabaseSection, data_dir: &Path, p: &mut Problems) -> String {
    let url = d.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("convergences.db").display()
        )
    });
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        p.add(
            "database.url",
            "must start with sqlite:, postgres:// or postgresql://",
        );
    }
    if d.max_connections == 0 {
        p.add("database.max_connections", "must be at least 1");
    }
    url
}
