//! Structures (establishments and their services), kept as a tree with a materialised path so
//! that "this structure and everything below it" is a single indexed range scan.

use super::{now, DResult, Directory, DirectoryError};
use sqlx::Row;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct Structure {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub path: String,
    pub short_name: String,
    pub long_name: String,
}

pub struct NewStructure<'a> {
    pub parent_id: Option<i64>,
    pub short_name: &'a str,
    pub long_name: &'a str,
    pub domains: &'a [&'a str],
}

impl Directory {
    pub async fn create_structure(&self, s: NewStructure<'_>) -> DResult<i64> {
        let mut tx = self.pool.begin().await?;
        let id = insert_structure(&mut tx, &s, "").await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn structure_by_name(&self, short_name: &str) -> DResult<Option<Structure>> {
        let row = sqlx::query(
            "SELECT id, parent_id, path, short_name, long_name FROM structures WHERE short_name = $1 ORDER BY id LIMIT 1",
        )
        .bind(short_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| structure_from_row(&r)).transpose()
    }

    /// Human path labels ("mairie-exemple / ccas") for the given materialised paths, fetched in
    /// one query for all the ancestors involved.
    pub async fn path_labels(&self, paths: &[&str]) -> DResult<HashMap<String, String>> {
        self.path_labels_with(paths, &mut HashMap::new()).await
    }

    /// `path_labels` with a cache of structure names kept by the caller across calls (the
    /// pages of an export), so that only names not seen yet are read.
    pub async fn path_labels_with(
        &self,
        paths: &[&str],
        names: &mut HashMap<i64, String>,
    ) -> DResult<HashMap<String, String>> {
        Ok(self
            .path_names_with(paths, names)
            .await?
            .into_iter()
            .map(|(p, n)| (p, n.join(" / ")))
            .collect())
    }

    /// What people call the structure at the end of each materialised path: its long name
    /// ("CCAS d'Exemple"), or its short name when it has none. Lists, cards, selects and
    /// headings show this; the path of short names stays the identifier that imports, typed
    /// fields and identity headers use (docs/aia.md#structure-names).
    pub async fn display_names(&self, paths: &[&str]) -> DResult<HashMap<String, String>> {
        let last = |p: &str| {
            p.split('/')
                .filter_map(|s| s.parse::<i64>().ok())
                .next_back()
        };
        let ids: Vec<i64> = paths.iter().filter_map(|p| last(p)).collect();
        let names = self.display_names_by_id(&ids).await?;
        Ok(paths
            .iter()
            .map(|p| {
                let name = last(p)
                    .map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
                    .unwrap_or_default();
                (p.to_string(), name)
            })
            .collect())
    }

    /// [`Directory::display_names`] by structure id.
    pub async fn display_names_by_id(&self, ids: &[i64]) -> DResult<HashMap<i64, String>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut names: HashMap<i64, String> = HashMap::with_capacity(ids.len());
        let pick = |row: &sqlx::any::AnyRow| -> DResult<(i64, String)> {
            let long: String = row.try_get(2)?;
            let name = if long.trim().is_empty() {
                row.try_get::<String, _>(1)?
            } else {
                long
            };
            Ok((row.try_get(0)?, name))
        };
        if ids.len() > 500 {
            // Thousands of placeholders cost more than reading every structure's name.
            for row in sqlx::query("SELECT id, short_name, long_name FROM structures")
                .fetch_all(&self.pool)
                .await?
            {
                let (id, name) = pick(&row)?;
                names.insert(id, name);
            }
        } else if !ids.is_empty() {
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, short_name, long_name FROM structures WHERE id IN ({})",
                placeholders.join(", ")
            );
            // Only generated placeholders are interpolated; values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &ids {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let (id, name) = pick(&row)?;
                names.insert(id, name);
            }
        }
        Ok(names)
    }

    /// The structure names along each materialised path, root first: what the identity
    /// headers encode one by one, so that no name can be mistaken for a separator.
    pub async fn path_names(&self, paths: &[&str]) -> DResult<HashMap<String, Vec<String>>> {
        self.path_names_with(paths, &mut HashMap::new()).await
    }

    async fn path_names_with(
        &self,
        paths: &[&str],
        names: &mut HashMap<i64, String>,
    ) -> DResult<HashMap<String, Vec<String>>> {
        let mut ids: Vec<i64> = paths
            .iter()
            .flat_map(|p| p.split('/').filter_map(|s| s.parse::<i64>().ok()))
            .filter(|id| !names.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > 500 {
            // Thousands of placeholders cost more than reading every structure's name.
            for row in sqlx::query("SELECT id, short_name FROM structures")
                .fetch_all(&self.pool)
                .await?
            {
                names.insert(row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?);
            }
        } else if !ids.is_empty() {
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, short_name FROM structures WHERE id IN ({})",
                placeholders.join(", ")
            );
            // Only generated placeholders are interpolated; values are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &ids {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                names.insert(row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?);
            }
        }
        Ok(paths
            .iter()
            .map(|p| {
                let list = p
                    .split('/')
                    .filter_map(|s| s.parse::<i64>().ok())
                    .map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
                    .collect::<Vec<_>>();
                (p.to_string(), list)
            })
            .collect())
    }

    /// Allowed e-mail domains of a structure: its own, or the nearest ancestor's
    /// (docs/product.md#structures).
    pub async fn allowed_domains(&self, structure_id: i64) -> DResult<Vec<String>> {
        let path: String = sqlx::query("SELECT path FROM structures WHERE id = $1")
            .bind(structure_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DirectoryError::NotFound)?
            .try_get(0)?;
        let ancestors: Vec<i64> = path
            .split('/')
            .filter_map(|s| s.parse::<i64>().ok())
            .collect();
        for id in ancestors.iter().rev() {
            let rows = sqlx::query(
                "SELECT domain FROM structure_domains WHERE structure_id = $1 ORDER BY domain",
            )
            .bind(*id)
            .fetch_all(&self.pool)
            .await?;
            if !rows.is_empty() {
                return rows
                    .iter()
                    .map(|r| Ok(r.try_get::<String, _>(0)?))
                    .collect();
            }
        }
        Ok(Vec::new())
    }

    pub async fn add_referent(&self, user_id: i64, structure_id: i64) -> DResult<()> {
        sqlx::query(
            "INSERT INTO referents (user_id, structure_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, structure_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(structure_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn structure_from_row(r: &sqlx::any::AnyRow) -> DResult<Structure> {
    Ok(Structure {
        id: r.try_get(0)?,
        parent_id: r.try_get(1)?,
        path: r.try_get(2)?,
        short_name: r.try_get(3)?,
        long_name: r.try_get(4)?,
    })
}

/// Inserts a structure inside the caller's transaction, with its materialised path and its
/// allowed domains (shared by the AIA, the demo and the CSV import). Returns its id.
pub async fn insert_structure(
    conn: &mut sqlx::AnyConnection,
    s: &NewStructure<'_>,
    postal_address: &str,
) -> DResult<i64> {
    let short = s.short_name.trim();
    if short.is_empty() {
        return Err(DirectoryError::Invalid("structure name is empty".into()));
    }
    let parent_path = match s.parent_id {
        Some(pid) => {
            let row = sqlx::query("SELECT path FROM structures WHERE id = $1")
                .bind(pid)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(DirectoryError::NotFound)?;
            row.try_get::<String, _>(0)?
        }
        None => "/".to_string(),
    };
    let t = now();
    let id: i64 = sqlx::query(
        "INSERT INTO structures (parent_id, short_name, long_name, postal_address, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(s.parent_id)
    .bind(short)
    .bind(s.long_name.trim())
    .bind(postal_address.trim())
    .bind(t)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    sqlx::query("UPDATE structures SET path = $1 WHERE id = $2")
        .bind(format!("{parent_path}{id}/"))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for d in s.domains {
        sqlx::query("INSERT INTO structure_domains (structure_id, domain) VALUES ($1, $2)")
            .bind(id)
            .bind(d.trim().to_ascii_lowercase())
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

/// A yes/no setting a structure holds for its own accounts (its parents' are read separately,
/// by the rules that inherit them).
#[derive(Clone, Copy, Debug)]
pub enum StructureFlag {
    SecondFactorRequired,
    PasswordSignInDisabled,
}

impl StructureFlag {
    /// The statements reading and writing the flag (static: the column is never a value).
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            StructureFlag::SecondFactorRequired => (
                "SELECT second_factor_required FROM structures WHERE id = $1",
                "UPDATE structures SET second_factor_required = $1, updated_at = $2 WHERE id = $3",
            ),
            StructureFlag::PasswordSignInDisabled => (
                "SELECT password_sign_in_disabled FROM structures WHERE id = $1",
                "UPDATE structures SET password_sign_in_disabled = $1, updated_at = $2 WHERE id = $3",
            ),
        }
    }
}

impl Directory {
    /// Whether the structure itself (not its parents) has `flag` set; false when it is gone.
    pub async fn structure_flag(&self, structure_id: i64, flag: StructureFlag) -> DResult<bool> {
        let v: Option<i64> = sqlx::query(flag.sql().0)
            .bind(structure_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        Ok(v == Some(1))
    }

    pub async fn set_structure_flag(
        &self,
        structure_id: i64,
        flag: StructureFlag,
        on: bool,
    ) -> DResult<()> {
        sqlx::query(flag.sql().1)
            .bind(i64::from(on))
            .bind(now())
            .bind(structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
