//! Structures (establishments and their services), kept as a tree with a materialised path so
//! that "this structure and everything below it" is a single indexed range scan.

use super::query::{Arg, Sql};
use super::{now, DResult, Directory, DirectoryError};
use std::collections::HashMap;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Structure {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub path: String,
    pub short_name: String,
    pub long_name: String,
}

/// A structure's id and names, for the labels.
#[derive(sqlx::FromRow)]
struct NamesRow {
    id: i64,
    short_name: String,
    long_name: String,
}

impl NamesRow {
    /// What people call it: the long name, else the short one (docs/aia.md#structure-names).
    fn display_name(self) -> String {
        if self.long_name.trim().is_empty() {
            self.short_name
        } else {
            self.long_name
        }
    }
}

/// A structure's id and short name, for the paths of the identity headers.
#[derive(sqlx::FromRow)]
struct ShortNameRow {
    id: i64,
    short_name: String,
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
        Ok(sqlx::query_as(
            "SELECT id, parent_id, path, short_name, long_name FROM structures WHERE short_name = $1 ORDER BY id LIMIT 1",
        )
        .bind(short_name)
        .fetch_optional(&self.pool)
        .await?)
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
        let rows: Vec<NamesRow> = if ids.len() > 500 {
            // Thousands of placeholders cost more than reading every structure's name.
            sqlx::query_as("SELECT id, short_name, long_name FROM structures")
                .fetch_all(&self.pool)
                .await?
        } else if !ids.is_empty() {
            let mut sql = Sql::new("SELECT id, short_name, long_name FROM structures WHERE id IN ");
            sql.push_list(ids.into_iter().map(Arg::Int));
            sql.query_as().fetch_all(&self.pool).await?
        } else {
            Vec::new()
        };
        Ok(rows.into_iter().map(|r| (r.id, r.display_name())).collect())
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
        let rows: Vec<ShortNameRow> = if ids.len() > 500 {
            // Thousands of placeholders cost more than reading every structure's name.
            sqlx::query_as("SELECT id, short_name FROM structures")
                .fetch_all(&self.pool)
                .await?
        } else if !ids.is_empty() {
            let mut sql = Sql::new("SELECT id, short_name FROM structures WHERE id IN ");
            sql.push_list(ids.into_iter().map(Arg::Int));
            sql.query_as().fetch_all(&self.pool).await?
        } else {
            Vec::new()
        };
        names.extend(rows.into_iter().map(|r| (r.id, r.short_name)));
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
        let path: String = sqlx::query_scalar("SELECT path FROM structures WHERE id = $1")
            .bind(structure_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DirectoryError::NotFound)?;
        let ancestors: Vec<i64> = path
            .split('/')
            .filter_map(|s| s.parse::<i64>().ok())
            .collect();
        for id in ancestors.iter().rev() {
            let domains: Vec<String> = sqlx::query_scalar(
                "SELECT domain FROM structure_domains WHERE structure_id = $1 ORDER BY domain",
            )
            .bind(*id)
            .fetch_all(&self.pool)
            .await?;
            if !domains.is_empty() {
                return Ok(domains);
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
        Some(pid) => sqlx::query_scalar::<_, String>("SELECT path FROM structures WHERE id = $1")
            .bind(pid)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(DirectoryError::NotFound)?,
        None => "/".to_string(),
    };
    let t = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO structures (parent_id, short_name, long_name, postal_address, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(s.parent_id)
    .bind(short)
    .bind(s.long_name.trim())
    .bind(postal_address.trim())
    .bind(t)
    .fetch_one(&mut *conn)
    .await?;
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
        let v: Option<i64> = sqlx::query_scalar(flag.sql().0)
            .bind(structure_id)
            .fetch_optional(&self.pool)
            .await?;
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
