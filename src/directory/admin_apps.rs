//! Applications, roles and role members for the APPLICATIONS tab (docs/aia.md): counts per role,
//! paginated members restricted to the viewer's scope, and assign / unassign / reassign.

use super::access::Scope;
use super::admin_users::{Place, UserFilter};
use super::query::{Arg, Sql};
use super::search;
use super::{now, Backend, DResult, Directory};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct RoleInfo {
    pub id: i64,
    pub name: String,
    /// Members inside the viewer's scope.
    pub members: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AppInfo {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    #[sqlx(skip)]
    pub roles: Vec<RoleInfo>,
}

/// One assignment of a role, with its user and the structure on whose behalf it is held (read
/// from `MEMBER_COLUMNS`; the structure names are filled afterwards).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MemberRow {
    pub assignment_id: i64,
    pub user_id: i64,
    pub last_name: String,
    pub first_name: String,
    pub email: String,
    pub user_path: String,
    #[sqlx(skip)]
    pub user_structure: String,
    pub on_behalf_id: i64,
    pub on_behalf_path: String,
    #[sqlx(skip)]
    pub on_behalf: String,
}

/// The columns of a [`MemberRow`] in `members_sql`.
const MEMBER_COLUMNS: &str = "ra.id AS assignment_id, u.id AS user_id, u.last_name, \
     u.first_name, u.email, s.path AS user_path, b.id AS on_behalf_id, b.path AS on_behalf_path";

/// A role of `apps_with_roles`.
#[derive(sqlx::FromRow)]
struct RoleRow {
    id: i64,
    app_id: i64,
    name: String,
}

/// A line of `role_counts`.
#[derive(sqlx::FromRow)]
struct RoleCountRow {
    role_id: i64,
    members: i64,
}

/// A line of `role_holdings`.
#[derive(sqlx::FromRow)]
struct HoldingRow {
    user_id: i64,
    structure_id: i64,
}

/// An assignment with what authorisation needs to know about it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AssignmentInfo {
    pub id: i64,
    pub user_id: i64,
    pub role_id: i64,
    pub structure_id: i64,
    pub user_path: String,
    pub on_behalf_path: String,
}

/// Above this many members, a role's page is read in name order (see `members_sql`).
const BY_NAME_FROM: i64 = 2000;

impl Directory {
    /// Active applications (all, or the given slugs) with their roles and, per role, the number
    /// of members whose account lies in `scope`: three queries.
    pub async fn apps_with_roles(
        &self,
        only: Option<&[String]>,
        scope: &Scope,
    ) -> DResult<Vec<AppInfo>> {
        let mut sql =
            Sql::new("SELECT id, slug, name, description FROM applications WHERE active = 1");
        if let Some(slugs) = only {
            if slugs.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND slug IN ")
                .push_list(slugs.iter().map(|s| Arg::Text(s.clone())));
        }
        sql.push(" ORDER BY name");
        let mut apps: Vec<AppInfo> = sql.query_as().fetch_all(&self.pool).await?;
        if apps.is_empty() {
            return Ok(apps);
        }
        let ids: Vec<i64> = apps.iter().map(|a| a.id).collect();
        let mut rs = Sql::new("SELECT id, app_id, name FROM app_roles WHERE 1 = 1");
        rs.and_in("app_id", &ids);
        rs.push(" ORDER BY name");
        let roles: Vec<RoleRow> = rs.query_as().fetch_all(&self.pool).await?;
        let role_ids: Vec<i64> = roles.iter().map(|r| r.id).collect();
        let per_role = self.role_counts(&role_ids, scope).await?;
        for r in roles {
            if let Some(a) = apps.iter_mut().find(|a| a.id == r.app_id) {
                a.roles.push(RoleInfo {
                    id: r.id,
                    name: r.name,
                    members: per_role.get(&r.id).copied().unwrap_or(0),
                });
            }
        }
        Ok(apps)
    }

    /// Assignments of each role held by accounts in `scope`, from the counts the triggers of
    /// migration 0004 maintain per (role, structure): a sum over the structures of the scope,
    /// not a scan of the assignments.
    pub async fn role_counts(&self, role_ids: &[i64], scope: &Scope) -> DResult<HashMap<i64, i64>> {
        Ok(Self::role_counts_sql(role_ids, scope)
            .query_as::<RoleCountRow>()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.role_id, r.members))
            .collect())
    }

    pub fn role_counts_sql(role_ids: &[i64], scope: &Scope) -> Sql {
        let mut sql = Sql::new(
            "SELECT c.role_id, CAST(SUM(c.members) AS BIGINT) AS members FROM role_member_counts c",
        );
        if !matches!(scope, Scope::All) {
            sql.push(" JOIN structures s ON s.id = c.structure_id");
        }
        sql.push(" WHERE 1 = 1");
        sql.and_in("c.role_id", role_ids);
        sql.and_scope("s.path", scope);
        sql.push(" GROUP BY c.role_id");
        sql
    }

    /// The id of `role` of the active application `slug`.
    pub async fn role_id(&self, slug: &str, role: &str) -> DResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT r.id FROM app_roles r JOIN applications a ON a.id = r.app_id \
             WHERE a.slug = $1 AND r.name = $2 AND a.active = 1",
        )
        .bind(slug.to_string())
        .bind(role.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The members of a role. `users_first` reads the accounts (in the order of the query:
    /// names, ids) and looks their assignment up, which gives the first page of a large role
    /// without sorting it; a small role is better read from its assignments and sorted.
    /// (`CROSS JOIN` fixes the join order for SQLite; PostgreSQL treats it as an inner join and
    /// plans it from its statistics.)
    fn members_sql(
        backend: Backend,
        select: &'static str,
        role_id: i64,
        place: &Place,
        q: &str,
        users_first: bool,
    ) -> Sql {
        let from = if users_first {
            "FROM users u CROSS JOIN role_assignments ra"
        } else {
            "FROM role_assignments ra CROSS JOIN users u"
        };
        let mut sql = Sql::new("SELECT ");
        sql.push(select)
            .push(" ")
            .push(from)
            .push(
                " JOIN structures s ON s.id = u.structure_id \
                 JOIN structures b ON b.id = ra.structure_id WHERE u.id = ra.user_id",
            )
            .push(" AND ra.role_id = ")
            .push_int(role_id);
        place.push(&mut sql);
        if let Some(n) = search::needle(q, super::admin_users::MIN_SEARCH) {
            search::push_match(&mut sql, backend, "u", &n);
        }
        sql
    }

    /// The page query of `role_members`, for a role with `total` members in `place`.
    pub fn role_members_page_sql(
        backend: Backend,
        role_id: i64,
        place: &Place,
        q: &str,
        total: i64,
        limit: i64,
        offset: i64,
    ) -> Sql {
        let mut sql = Self::members_sql(
            backend,
            MEMBER_COLUMNS,
            role_id,
            place,
            q,
            total > BY_NAME_FROM,
        );
        sql.push(" ORDER BY u.last_name, u.first_name, u.id, b.path LIMIT ")
            .push_int(limit)
            .push(" OFFSET ")
            .push_int(offset);
        sql
    }

    /// A page of the role's members inside `scope`, with the total.
    pub async fn role_members(
        &self,
        role_id: i64,
        scope: &Scope,
        q: &str,
        limit: i64,
        offset: i64,
    ) -> DResult<(i64, Vec<MemberRow>)> {
        let place = self.place(scope, &UserFilter::default()).await?;
        let total: i64 = if search::needle(q, super::admin_users::MIN_SEARCH).is_none() {
            let counts = self.role_counts(&[role_id], scope).await?;
            counts.get(&role_id).copied().unwrap_or(0)
        } else {
            Self::members_sql(self.backend, "COUNT(*)", role_id, &place, q, false)
                .query_scalar()
                .fetch_one(&self.pool)
                .await?
        };
        let mut out: Vec<MemberRow> =
            Self::role_members_page_sql(self.backend, role_id, &place, q, total, limit, offset)
                .query_as()
                .fetch_all(&self.pool)
                .await?;
        let mut paths: Vec<&str> = out.iter().map(|m| m.user_path.as_str()).collect();
        paths.extend(out.iter().map(|m| m.on_behalf_path.as_str()));
        let labels = self.display_names(&paths).await?;
        let label = |p: &str| labels.get(p).cloned().unwrap_or_default();
        for m in &mut out {
            m.user_structure = label(&m.user_path);
            m.on_behalf = label(&m.on_behalf_path);
        }
        Ok((total, out))
    }

    /// Distinct members (user ids above `after`, ascending) of a role inside `place` (resolved
    /// once per export by `Directory::place`), for the streamed export.
    pub async fn role_member_ids_page(
        &self,
        role_id: i64,
        place: &Place,
        after: i64,
        limit: i64,
    ) -> DResult<Vec<i64>> {
        // Account ids in order, each probed in the (user, role) index: a page stops after
        // `limit` members instead of sorting the whole role.
        let mut sql = Self::members_sql(self.backend, "DISTINCT u.id", role_id, place, "", true);
        sql.push(" AND u.id > ")
            .push_int(after)
            .push(" ORDER BY u.id LIMIT ")
            .push_int(limit);
        Ok(sql.query_scalar().fetch_all(&self.pool).await?)
    }

    pub async fn assignment(&self, id: i64) -> DResult<Option<AssignmentInfo>> {
        Ok(sqlx::query_as(
            "SELECT ra.id, ra.user_id, ra.role_id, ra.structure_id, s.path AS user_path, \
             b.path AS on_behalf_path \
             FROM role_assignments ra JOIN users u ON u.id = ra.user_id \
             JOIN structures s ON s.id = u.structure_id JOIN structures b ON b.id = ra.structure_id \
             WHERE ra.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Who among `user_ids` already holds the role, and on behalf of which structures (ids),
    /// for AFFECTER's search results.
    pub async fn role_holdings(
        &self,
        role_id: i64,
        user_ids: &[i64],
    ) -> DResult<HashMap<i64, Vec<i64>>> {
        let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let mut sql =
            Sql::new("SELECT user_id, structure_id FROM role_assignments WHERE role_id = ");
        sql.push_int(role_id)
            .and_in("user_id", user_ids)
            .push(" ORDER BY user_id, structure_id");
        for r in sql.query_as::<HoldingRow>().fetch_all(&self.pool).await? {
            out.entry(r.user_id).or_default().push(r.structure_id);
        }
        Ok(out)
    }

    /// Grants a role on behalf of a structure; `false` when the user already had it.
    pub async fn assign_role_id(
        &self,
        user_id: i64,
        role_id: i64,
        structure_id: i64,
        by: i64,
    ) -> DResult<bool> {
        let done = sqlx::query(
            "INSERT INTO role_assignments (user_id, role_id, structure_id, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, role_id, structure_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(role_id)
        .bind(structure_id)
        .bind(now())
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_assignment(&self, id: i64) -> DResult<bool> {
        let done = sqlx::query("DELETE FROM role_assignments WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves an assignment to another role of the same application (same user and structure).
    pub async fn move_assignment(&self, a: &AssignmentInfo, to_role: i64, by: i64) -> DResult<()> {
        self.move_assignment_to(a, to_role, a.structure_id, by)
            .await
    }

    /// "Réaffecter": the assignment becomes `to_role` held on behalf of `to_structure`, in one
    /// transaction (an identical assignment already held is kept, not duplicated).
    pub async fn move_assignment_to(
        &self,
        a: &AssignmentInfo,
        to_role: i64,
        to_structure: i64,
        by: i64,
    ) -> DResult<()> {
        if to_role == a.role_id && to_structure == a.structure_id {
            // Nothing to move: inserting would keep the row and the delete would lose it.
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO role_assignments (user_id, role_id, structure_id, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, role_id, structure_id) DO NOTHING",
        )
        .bind(a.user_id)
        .bind(to_role)
        .bind(to_structure)
        .bind(now())
        .bind(by)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM role_assignments WHERE id = $1")
            .bind(a.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
