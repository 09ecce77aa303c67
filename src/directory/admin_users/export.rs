//! The UTILISATEURS exports: every field of each account and its roles, a page at a time
//! (docs/aia.md#exports), in one query per page.

use super::{apply_filter, ExportRow, Place, UserFilter, UserRecord, RECORD_COLUMNS};
use crate::directory::query::Sql;
use crate::directory::{DResult, Directory};
use std::collections::HashMap;

/// Separators inside `GRANTS_COLUMN`: ASCII unit and record separators, which no form accepts.
const FIELD_SEP: char = '\u{1f}';
const GRANT_SEP: char = '\u{1e}';

/// The account's active grants in one cell, "app␟role␟path" joined by ␞ and sorted, so that a
/// page of the export is one query returning one row per account (SQLite's driver pays per
/// row: 300 000 grant rows cost more than the 100 000 accounts). `string_agg` with ORDER BY
/// exists in PostgreSQL and in SQLite 3.44+ (the bundled SQLite is 3.51).
const GRANTS_COLUMN: &str =
    "(SELECT string_agg(a.name || '\u{1f}' || r.name || '\u{1f}' || b.path, \
     '\u{1e}' ORDER BY a.name, r.name, b.path) FROM role_assignments ra \
     JOIN app_roles r ON r.id = ra.role_id JOIN applications a ON a.id = r.app_id \
     JOIN structures b ON b.id = ra.structure_id WHERE ra.user_id = u.id AND a.active = 1) \
     AS grants";

/// `FROM` and the joins `RECORD_COLUMNS` reads.
const RECORD_FROM: &str = " FROM users u JOIN structures s ON s.id = u.structure_id \
     LEFT JOIN user_photos p ON p.user_id = u.id WHERE 1 = 1";

/// A row of an export page: the record and its `GRANTS_COLUMN`.
#[derive(sqlx::FromRow)]
struct ExportRecordRow {
    #[sqlx(flatten)]
    user: UserRecord,
    grants: Option<String>,
}

/// `SELECT` of the records of an export page, before its conditions.
fn export_select() -> Sql {
    let mut sql = Sql::new("SELECT ");
    sql.push(RECORD_COLUMNS)
        .push(", ")
        .push(GRANTS_COLUMN)
        .push(RECORD_FROM);
    sql
}

impl Directory {
    /// One keyset page of the users export (ids above `after`), with every field and the
    /// "application : rôle (structure)" list: one query, one row per account.
    pub async fn export_users_page(
        &self,
        place: &Place,
        f: &UserFilter,
        after: i64,
        limit: i64,
        names: &mut HashMap<i64, String>,
    ) -> DResult<Vec<ExportRow>> {
        let mut sql = export_select();
        apply_filter(&mut sql, f, place, self.backend);
        sql.push(" AND u.id > ")
            .push_int(after)
            .push(" ORDER BY u.id LIMIT ")
            .push_int(limit);
        let rows = sql.query_as().fetch_all(&self.pool).await?;
        self.export_rows(rows, names).await
    }

    /// Export rows from records followed by their `GRANTS_COLUMN`; `names` caches structure
    /// names from one page to the next.
    async fn export_rows(
        &self,
        rows: Vec<ExportRecordRow>,
        names: &mut HashMap<i64, String>,
    ) -> DResult<Vec<ExportRow>> {
        let users: Vec<(UserRecord, String)> = rows
            .into_iter()
            .map(|r| (r.user, r.grants.unwrap_or_default()))
            .collect();
        let mut paths: Vec<&str> = users.iter().map(|u| u.0.structure_path.as_str()).collect();
        for (_, grants) in &users {
            paths.extend(
                grants
                    .split(GRANT_SEP)
                    .filter_map(|g| g.rsplit(FIELD_SEP).next()),
            );
        }
        paths.sort_unstable();
        paths.dedup();
        let labels = self.path_labels_with(&paths, names).await?;
        let label = |p: &str| labels.get(p).cloned().unwrap_or_default();
        let own: Vec<&str> = users.iter().map(|u| u.0.structure_path.as_str()).collect();
        let display = self.display_names(&own).await?;
        Ok(users
            .iter()
            .map(|(u, grants)| {
                let roles: Vec<String> = grants
                    .split(GRANT_SEP)
                    .filter(|g| !g.is_empty())
                    .map(|g| {
                        // rsplitn: the path and the role cannot hold the separator; an
                        // application name from the configuration is kept whole.
                        let mut parts = g.rsplitn(3, FIELD_SEP);
                        let path = parts.next().unwrap_or_default();
                        let role = parts.next().unwrap_or_default();
                        let app = parts.next().unwrap_or_default();
                        crate::directory::csv::grant(app, role, &label(path))
                    })
                    .collect();
                let mut user = u.clone();
                user.structure_label = label(&u.structure_path);
                user.structure_name = display.get(&u.structure_path).cloned().unwrap_or_default();
                ExportRow {
                    user,
                    roles: crate::directory::csv::grants_cell(&roles),
                }
            })
            .collect())
    }

    /// Full records of the given users (role members export), in ascending id order.
    pub async fn export_users_by_ids(
        &self,
        ids: &[i64],
        names: &mut HashMap<i64, String>,
    ) -> DResult<Vec<ExportRow>> {
        let mut sql = export_select();
        sql.and_in("u.id", ids);
        sql.push(" ORDER BY u.id");
        let rows = sql.query_as().fetch_all(&self.pool).await?;
        self.export_rows(rows, names).await
    }
}
