//! The identity the proxy forwards (account, structure, grants), read for one user or for a
//! batch of users in the same three queries: the proxy's identity cache reloads the entries of
//! the users in use in batches (docs/decisions/0006-identity-cache-on-the-proxy-path.md).

use super::flag::Flag;
use super::model::{Grant, Identity};
use super::query::{Arg, Sql};
use super::{DResult, Directory};
use std::collections::HashMap;

/// The most users one batch reads; a longer list is read in several batches.
pub const MAX_BATCH: usize = 64;

/// The account's own columns of an [`Identity`].
#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: i64,
    uid: String,
    email: String,
    first_name: String,
    last_name: String,
    structure_id: i64,
    structure_path: String,
    app_identifier: String,
    #[sqlx(try_from = "Flag")]
    platform_admin: bool,
    #[sqlx(try_from = "Flag")]
    locked: bool,
    #[sqlx(try_from = "Flag")]
    has_password: bool,
    valid_from: Option<String>,
    valid_until: Option<String>,
    #[sqlx(try_from = "Flag")]
    has_provider_link: bool,
    photo_version: Option<i64>,
}

/// One role of a user on an active application, in a structure.
#[derive(sqlx::FromRow)]
struct GrantRow {
    user_id: i64,
    slug: String,
    role: String,
    structure_id: i64,
    path: String,
}

/// The ids of a batch as bound arguments, padded (with the last id) to one of a few lengths,
/// so that the database sees at most four shapes of each statement and its prepared-statement
/// cache keeps them.
fn id_list(ids: &[i64]) -> impl Iterator<Item = Arg> + '_ {
    let len = [1, 4, 16, MAX_BATCH]
        .into_iter()
        .find(|&n| n >= ids.len())
        .unwrap_or(ids.len());
    let last = ids.last().copied().unwrap_or_default();
    ids.iter()
        .copied()
        .chain(std::iter::repeat(last))
        .take(len)
        .map(Arg::Int)
}

impl Directory {
    /// Loads the identity of a user with its grants and structure paths. `None` when the
    /// account no longer exists. It is the directory call of the proxy's path, hence guarded
    /// by the circuit breaker.
    pub async fn identity(&self, user_id: i64) -> DResult<Option<Identity>> {
        Ok(self.identities(&[user_id]).await?.remove(&user_id))
    }

    /// [`identity`](Self::identity) for several users at once: three queries per
    /// [`MAX_BATCH`] users, whatever their number of grants. Accounts that no longer exist are
    /// absent from the map.
    pub async fn identities(&self, user_ids: &[i64]) -> DResult<HashMap<i64, Identity>> {
        let mut found = HashMap::with_capacity(user_ids.len());
        for batch in user_ids.chunks(MAX_BATCH) {
            found.extend(self.guarded(self.read_identities(batch)).await?);
        }
        Ok(found)
    }

    async fn read_identities(&self, ids: &[i64]) -> DResult<HashMap<i64, Identity>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = Sql::new(
            "SELECT u.id, u.uid, u.email, u.first_name, u.last_name, u.structure_id, \
             s.path AS structure_path, u.app_identifier, u.platform_admin, u.locked, \
             CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS has_password, \
             u.valid_from, u.valid_until, \
             CASE WHEN EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = u.id) THEN 1 ELSE 0 END \
             AS has_provider_link, \
             (SELECT p.updated_at FROM user_photos p WHERE p.user_id = u.id) AS photo_version \
             FROM users u JOIN structures s ON s.id = u.structure_id WHERE u.id IN ",
        );
        sql.push_list(id_list(ids));
        let accounts: Vec<IdentityRow> = sql.query_as().fetch_all(&self.pool).await?;
        if accounts.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = Sql::new(
            "SELECT ra.user_id, a.slug, r.name AS role, ra.structure_id, s.path \
             FROM role_assignments ra \
             JOIN app_roles r ON r.id = ra.role_id JOIN applications a ON a.id = r.app_id \
             JOIN structures s ON s.id = ra.structure_id \
             WHERE a.active = 1 AND ra.user_id IN ",
        );
        sql.push_list(id_list(ids))
            .push(" ORDER BY ra.user_id, a.slug, r.name, s.path");
        let grants: Vec<GrantRow> = sql.query_as().fetch_all(&self.pool).await?;
        let mut paths: Vec<&str> = grants.iter().map(|g| g.path.as_str()).collect();
        paths.extend(accounts.iter().map(|a| a.structure_path.as_str()));
        paths.sort_unstable();
        paths.dedup();
        let names = self.path_names(&paths).await?;
        let names_of = |p: &str| names.get(p).cloned().unwrap_or_default();
        let label = |p: &str| names_of(p).join(" / ");
        Ok(accounts
            .into_iter()
            .map(|r| {
                let identity = Identity {
                    user_id: r.id,
                    uid: r.uid,
                    email: r.email,
                    first_name: r.first_name,
                    last_name: r.last_name,
                    structure_id: r.structure_id,
                    structure_path: label(&r.structure_path),
                    structure_names: names_of(&r.structure_path),
                    app_identifier: r.app_identifier,
                    platform_admin: r.platform_admin,
                    locked: r.locked,
                    has_password: r.has_password,
                    has_provider_link: r.has_provider_link,
                    valid_from: r.valid_from,
                    valid_until: r.valid_until,
                    photo_version: r.photo_version,
                    grants: grants
                        .iter()
                        .filter(|g| g.user_id == r.id)
                        .map(|g| Grant {
                            app_slug: g.slug.clone(),
                            role: g.role.clone(),
                            structure_id: g.structure_id,
                            structure_path: label(&g.path),
                            structure_names: names_of(&g.path),
                        })
                        .collect(),
                };
                (r.id, identity)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(ids: &[i64]) -> Vec<i64> {
        id_list(ids)
            .map(|a| match a {
                Arg::Int(i) => i,
                Arg::Text(_) => unreachable!("ids are integers"),
            })
            .collect()
    }

    #[test]
    fn id_lists_are_padded_with_the_last_id_to_a_few_lengths() {
        assert_eq!(ints(&[7]), vec![7]);
        assert_eq!(ints(&[7, 8]), vec![7, 8, 8, 8]);
        assert_eq!(ints(&[1, 2, 3, 4]), vec![1, 2, 3, 4]);
        assert_eq!(ints(&[1, 2, 3, 4, 5]).len(), 16);
        let full: Vec<i64> = (0..MAX_BATCH as i64).collect();
        assert_eq!(ints(&full), full);
        let more: Vec<i64> = (0..MAX_BATCH as i64 + 1).collect();
        assert_eq!(ints(&more), more, "longer than a batch: as it is");
    }
}
