//! Structure administration for the AIA (docs/aia.md, docs/product.md#structures): the
//! viewer's scope, the partial tree shown on screen (bounded whatever the number of
//! structures), edition, allowed domains, référents and moves that rewrite the materialised
//! paths of a whole subtree in one UPDATE.

use super::access::{normalize_paths, subtree_upper, Scope};
use super::query::{contains_pattern, Arg, Sql};
use super::{now, DResult, Directory, DirectoryError};

/// A structure as the AIA shows it (read from `COLUMNS`).
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct StructureInfo {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub path: String,
    pub short_name: String,
    pub long_name: String,
    pub postal_address: String,
}

impl StructureInfo {
    /// What people call it: the long name, else the short one (docs/aia.md#structure-names).
    pub fn display_name(&self) -> &str {
        if self.long_name.trim().is_empty() {
            &self.short_name
        } else {
            &self.long_name
        }
    }
}

/// A référent designation, shown on the structure page.
#[derive(Clone, Debug)]
pub struct ReferentRow {
    pub user_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// The designation is on an ancestor (inherited), not on this structure itself.
    pub inherited: bool,
}

/// A designation as `structure_referents` reads it.
#[derive(sqlx::FromRow)]
struct ReferentDbRow {
    id: i64,
    first_name: String,
    last_name: String,
    email: String,
    structure_id: i64,
}

/// A line of `children_counts`.
#[derive(sqlx::FromRow)]
struct ChildCountRow {
    parent_id: i64,
    children: i64,
}

/// The columns of a [`StructureInfo`].
const COLUMNS: &str = "id, parent_id, path, short_name, long_name, postal_address";

/// `SELECT <COLUMNS> FROM structures WHERE <rest>`.
fn select_structures(rest: &'static str) -> Sql {
    let mut sql = Sql::new("SELECT ");
    sql.push(COLUMNS).push(" FROM structures WHERE ").push(rest);
    sql
}

/// Ids along a materialised path, root first.
pub fn path_ids(path: &str) -> Vec<i64> {
    path.split('/').filter_map(|s| s.parse().ok()).collect()
}

/// The level of a structure: 1 for a principal establishment.
pub fn depth_of(path: &str) -> u32 {
    path_ids(path).len() as u32
}

/// The level of a materialised path in SQL: its number of `/` less one ("/2/3/" is 2), the
/// same on SQLite and PostgreSQL.
const SQL_DEPTH: &str = "(LENGTH(path) - LENGTH(REPLACE(path, '/', '')) - 1)";

impl Directory {
    /// How many levels the subtree of `path` has below it (0 for a leaf): a structure moved
    /// with it must keep its deepest descendant within the tree's depth.
    pub async fn subtree_height(&self, path: &str) -> DResult<u32> {
        let deepest: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT MAX({SQL_DEPTH}) FROM structures WHERE path LIKE $1"
        )))
        .bind(format!("{path}%"))
        .fetch_one(&self.pool)
        .await?;
        Ok((deepest.unwrap_or(0) as u32).saturating_sub(depth_of(path)))
    }

    /// The path labels of the structures deeper than `max_depth`, at most `limit`, with
    /// their total: created before the depth was limited, they stay valid and are listed for
    /// the operator (at start and by `check-config`).
    pub async fn structures_deeper_than(
        &self,
        max_depth: u32,
        limit: i64,
    ) -> DResult<(i64, Vec<String>)> {
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM structures WHERE {SQL_DEPTH} > $1"
        )))
        .bind(i64::from(max_depth))
        .fetch_one(&self.pool)
        .await?;
        let paths: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT path FROM structures WHERE {SQL_DEPTH} > $1 ORDER BY path LIMIT $2"
        )))
        .bind(i64::from(max_depth))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let labels = self.path_labels(&refs).await?;
        Ok((
            total,
            paths
                .iter()
                .map(|p| labels.get(p).cloned().unwrap_or_default())
                .collect(),
        ))
    }

    /// The authorisation facts of a user: the path of their principal establishment and the
    /// paths of the structures they are référent of.
    pub async fn viewer_paths(&self, user_id: i64) -> DResult<(String, Vec<String>)> {
        let own: String = sqlx::query_scalar(
            "SELECT s.path FROM users u JOIN structures s ON s.id = u.structure_id WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DirectoryError::NotFound)?;
        let paths: Vec<String> = sqlx::query_scalar(
            "SELECT s.path FROM referents r JOIN structures s ON s.id = r.structure_id WHERE r.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok((
            super::access::establishment_of(&own),
            normalize_paths(paths),
        ))
    }

    pub async fn structure_info(&self, id: i64) -> DResult<Option<StructureInfo>> {
        let mut sql = select_structures("id = ");
        sql.push_int(id);
        Ok(sql.query_as().fetch_optional(&self.pool).await?)
    }

    /// What the tree shows: the roots of the scope and the children of every structure on the
    /// way to `selected` (its ancestors and itself), ordered by path. Bounded by the breadth of
    /// one branch, not by the size of the directory.
    pub async fn structure_tree(
        &self,
        scope: &Scope,
        selected: Option<&str>,
    ) -> DResult<Vec<StructureInfo>> {
        let mut sql = select_structures("(");
        match scope {
            Scope::All => {
                sql.push("parent_id IS NULL");
            }
            Scope::Subtrees(paths) if paths.is_empty() => return Ok(Vec::new()),
            Scope::Subtrees(paths) => {
                sql.push("path IN ")
                    .push_list(paths.iter().map(|p| Arg::Text(p.clone())));
            }
        }
        if let Some(sel) = selected {
            let ids = path_ids(sel);
            if !ids.is_empty() {
                sql.push(" OR parent_id IN ")
                    .push_list(ids.into_iter().map(Arg::Int));
            }
        }
        sql.push(")");
        sql.and_scope("path", scope);
        sql.push(" ORDER BY path LIMIT 5000");
        Ok(sql.query_as().fetch_all(&self.pool).await?)
    }

    /// How many structures `scope` holds (decides between a select and a search field).
    pub async fn count_structures(&self, scope: &Scope) -> DResult<i64> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM structures WHERE 1 = 1");
        sql.and_scope("path", scope);
        Ok(sql.query_scalar().fetch_one(&self.pool).await?)
    }

    /// The structures of `scope` whose path label is `names` ("mairie-exemple / ccas" split on
    /// " / "), compared without case: one query per level, whatever the number of structures
    /// sharing the last name. Usually one; several only when siblings share a name.
    pub async fn structures_by_label(
        &self,
        scope: &Scope,
        names: &[&str],
    ) -> DResult<Vec<StructureInfo>> {
        let mut level: Vec<StructureInfo> = Vec::new();
        for (depth, name) in names.iter().enumerate() {
            let mut sql = select_structures("1 = 1");
            if depth == 0 {
                sql.push(" AND parent_id IS NULL");
            } else {
                let parents: Vec<i64> = level.iter().map(|s| s.id).collect();
                sql.and_in("parent_id", &parents);
            }
            sql.push(" AND LOWER(short_name) = ")
                .push_text(&name.trim().to_lowercase());
            level = sql.query_as().fetch_all(&self.pool).await?;
            if level.is_empty() {
                break;
            }
        }
        Ok(level
            .into_iter()
            .filter(|s| scope.contains(&s.path))
            .collect())
    }

    /// Structures of the scope whose name contains `q` (tree search), at most `limit`.
    pub async fn search_structures(
        &self,
        scope: &Scope,
        q: &str,
        limit: i64,
    ) -> DResult<Vec<StructureInfo>> {
        let mut sql = select_structures("1 = 1");
        sql.and_scope("path", scope);
        if !q.trim().is_empty() {
            let pat = contains_pattern(q);
            sql.push(" AND (LOWER(short_name) LIKE ")
                .push_text(&pat)
                .push(" ESCAPE '\\' OR LOWER(long_name) LIKE ")
                .push_text(&pat)
                .push(" ESCAPE '\\')");
        }
        sql.push(" ORDER BY path LIMIT ").push_int(limit);
        Ok(sql.query_as().fetch_all(&self.pool).await?)
    }

    /// Direct children counts (for "▸ N sous-structures") of the given structures, one query.
    pub async fn children_counts(
        &self,
        ids: &[i64],
    ) -> DResult<std::collections::HashMap<i64, i64>> {
        if ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let mut sql =
            Sql::new("SELECT parent_id, COUNT(*) AS children FROM structures WHERE 1 = 1");
        sql.and_in("parent_id", ids);
        sql.push(" GROUP BY parent_id");
        Ok(sql
            .query_as::<ChildCountRow>()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.parent_id, r.children))
            .collect())
    }

    /// The structure's own allowed domains (not inherited).
    pub async fn own_domains(&self, id: i64) -> DResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT domain FROM structure_domains WHERE structure_id = $1 ORDER BY domain",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Référents of the structure and of its ancestors (who are référents of it too).
    pub async fn structure_referents(&self, s: &StructureInfo) -> DResult<Vec<ReferentRow>> {
        let ids = path_ids(&s.path);
        let mut sql = Sql::new(
            "SELECT u.id, u.first_name, u.last_name, u.email, r.structure_id FROM referents r \
             JOIN users u ON u.id = r.user_id WHERE 1 = 1",
        );
        sql.and_in("r.structure_id", &ids);
        sql.push(" ORDER BY u.last_name, u.first_name, u.id");
        Ok(sql
            .query_as::<ReferentDbRow>()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| ReferentRow {
                user_id: r.id,
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                inherited: r.structure_id != s.id,
            })
            .collect())
    }

    /// A new structure with its postal address; domains are set apart by platform admins.
    pub async fn create_structure_full(
        &self,
        parent_id: Option<i64>,
        short_name: &str,
        long_name: &str,
        postal_address: &str,
    ) -> DResult<i64> {
        let mut tx = self.pool.begin().await?;
        let new = super::structures::NewStructure {
            parent_id,
            short_name,
            long_name,
            domains: &[],
        };
        let id = super::structures::insert_structure(&mut tx, &new, postal_address).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn update_structure(
        &self,
        id: i64,
        short_name: &str,
        long_name: &str,
        postal_address: &str,
    ) -> DResult<()> {
        let done = sqlx::query(
            "UPDATE structures SET short_name = $1, long_name = $2, postal_address = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(short_name.trim().to_string())
        .bind(long_name.trim().to_string())
        .bind(postal_address.trim().to_string())
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::NotFound);
        }
        Ok(())
    }

    /// Replaces the structure's own allowed domains (an empty list means "inherit").
    pub async fn set_domains(&self, id: i64, domains: &[String]) -> DResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM structure_domains WHERE structure_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for d in domains {
            sqlx::query(
                "INSERT INTO structure_domains (structure_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(d.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves a structure (and its whole subtree) below `new_parent` (None: becomes principal).
    /// Refuses cycles. The paths of the subtree are rewritten by one UPDATE on the range.
    pub async fn move_structure(&self, id: i64, new_parent: Option<i64>) -> DResult<()> {
        let mut tx = self.pool.begin().await?;
        let old: String = sqlx::query_scalar("SELECT path FROM structures WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(DirectoryError::NotFound)?;
        let parent_path = match new_parent {
            None => "/".to_string(),
            Some(pid) => {
                let p: String = sqlx::query_scalar("SELECT path FROM structures WHERE id = $1")
                    .bind(pid)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(DirectoryError::NotFound)?;
                if p.starts_with(&old) {
                    return Err(DirectoryError::Invalid(
                        "a structure cannot move below itself".into(),
                    ));
                }
                p
            }
        };
        let new = format!("{parent_path}{id}/");
        if new != old {
            let keep_from = i64::try_from(old.chars().count()).unwrap_or(0) + 1;
            sqlx::query(
                "UPDATE structures SET path = $1 || SUBSTR(path, CAST($2 AS INTEGER)), updated_at = $3 \
                 WHERE path >= $4 AND path < $5",
            )
            .bind(new.clone())
            .bind(keep_from)
            .bind(now())
            .bind(old.clone())
            .bind(subtree_upper(&old))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE structures SET parent_id = $1 WHERE id = $2")
            .bind(new_parent)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_referent(&self, user_id: i64, structure_id: i64) -> DResult<bool> {
        let done = sqlx::query("DELETE FROM referents WHERE user_id = $1 AND structure_id = $2")
            .bind(user_id)
            .bind(structure_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Structures of a scope, for the "Structure d'appartenance" and "pour le compte de"
    /// selects: (id, path, what the option shows), in tree order (each structure under its
    /// parent). An option shows the structure's name, and its parent's for an attached one
    /// ("CCAS d'Exemple (Mairie d'Exemple)"), so that two services of the same name in two
    /// establishments are told apart.
    pub async fn structure_choices(&self, scope: &Scope) -> DResult<Vec<(i64, String, String)>> {
        let list = self.search_structures(scope, "", 5000).await?;
        let paths: Vec<&str> = list.iter().map(|s| s.path.as_str()).collect();
        let labels = self.path_labels(&paths).await?;
        let ids: Vec<i64> = list
            .iter()
            .flat_map(|s| std::iter::once(s.id).chain(s.parent_id))
            .collect();
        let names = self.display_names_by_id(&ids).await?;
        let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
        let mut out: Vec<(String, (i64, String, String))> = list
            .iter()
            .map(|s| {
                let shown = match s.parent_id {
                    Some(p) => format!("{} ({})", name(s.id), name(p)),
                    None => name(s.id),
                };
                let order = labels.get(&s.path).cloned().unwrap_or_default();
                (order, (s.id, s.path.clone(), shown))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, c)| c).collect())
    }
}
