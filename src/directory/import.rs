//! What the CSV import (`crate::import`) reads from and writes to the database: the lookups
//! that resolve the names in a file, and the inserts of the lines that passed every check, each
//! file in one transaction so that an import is all or nothing.

use super::admin_users::{insert_user, UserInput};
use super::structures::{insert_structure, NewStructure};
use super::{now, DResult, Directory};
use std::collections::HashMap;

/// A structure of `structure_index`.
#[derive(sqlx::FromRow)]
struct IndexRow {
    id: i64,
    short_name: String,
    path: String,
}

/// A role of `import_role_ids`, with the slug and the name of its application.
#[derive(sqlx::FromRow)]
struct ImportRoleRow {
    id: i64,
    slug: String,
    app_name: String,
    role: String,
}

/// Every structure by the names a file may use for it.
#[derive(Debug, Default)]
pub struct StructureIndex {
    /// Short name → id; when several structures share a short name, the first read.
    pub by_name: HashMap<String, i64>,
    /// Path label ("mairie-exemple / ccas", as the users export writes it) → id.
    pub by_label: HashMap<String, i64>,
}

/// A structure line that passed every check.
#[derive(Debug)]
pub struct StructureLine {
    pub short_name: String,
    pub long_name: String,
    /// Short name of the parent, in the directory or on an earlier line; empty for a principal
    /// establishment.
    pub parent: String,
    pub domains: Vec<String>,
    pub postal_address: String,
}

/// An account line that passed every check, with its grants as (role id, structure id).
#[derive(Debug)]
pub struct UserLine {
    pub user: UserInput,
    pub grants: Vec<(i64, i64)>,
}

impl Directory {
    pub async fn structure_index(&self) -> DResult<StructureIndex> {
        let rows: Vec<IndexRow> = sqlx::query_as("SELECT id, short_name, path FROM structures")
            .fetch_all(&self.pool)
            .await?;
        let mut by_name = HashMap::new();
        let mut paths = Vec::new();
        for r in rows {
            by_name.entry(r.short_name).or_insert(r.id);
            paths.push((r.id, r.path));
        }
        let refs: Vec<&str> = paths.iter().map(|(_, p)| p.as_str()).collect();
        let labels = self.path_labels(&refs).await?;
        let by_label = paths
            .iter()
            .filter_map(|(id, p)| labels.get(p).map(|l| (l.clone(), *id)))
            .collect();
        Ok(StructureIndex { by_name, by_label })
    }

    /// Role ids of the active applications, by (application slug or name, lower-cased; role),
    /// since a file may name an application either way.
    pub async fn import_role_ids(&self) -> DResult<HashMap<(String, String), i64>> {
        let rows: Vec<ImportRoleRow> = sqlx::query_as(
            "SELECT r.id, a.slug, a.name AS app_name, r.name AS role FROM app_roles r \
             JOIN applications a ON a.id = r.app_id WHERE a.active = 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut roles = HashMap::new();
        for r in rows {
            roles.insert((r.slug.to_lowercase(), r.role.clone()), r.id);
            roles.insert((r.app_name.to_lowercase(), r.role), r.id);
        }
        Ok(roles)
    }

    /// Inserts the structures in file order, so that a parent created by an earlier line is
    /// found; `existing` is the index's `by_name`.
    pub async fn import_structures(
        &self,
        mut existing: HashMap<String, i64>,
        lines: &[StructureLine],
    ) -> DResult<()> {
        let mut tx = self.pool.begin().await?;
        for s in lines {
            let domains: Vec<&str> = s.domains.iter().map(String::as_str).collect();
            let new = NewStructure {
                parent_id: existing
                    .get(&s.parent)
                    .copied()
                    .filter(|_| !s.parent.is_empty()),
                short_name: &s.short_name,
                long_name: &s.long_name,
                domains: &domains,
            };
            let id = insert_structure(&mut tx, &new, &s.postal_address).await?;
            existing.insert(s.short_name.clone(), id);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts the accounts (no password: they choose it through the first visit,
    /// docs/product.md#first-visit-and-password-reset) and their grants.
    pub async fn import_users(&self, lines: &[UserLine]) -> DResult<()> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        for u in lines {
            let id = insert_user(&mut tx, &u.user, None).await?;
            for (role_id, sid) in &u.grants {
                sqlx::query(
                    "INSERT INTO role_assignments (user_id, role_id, structure_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, role_id, structure_id) DO NOTHING",
                )
                .bind(id)
                .bind(role_id)
                .bind(sid)
                .bind(t)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
