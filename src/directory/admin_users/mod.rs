//! Account administration for the AIA (docs/aia.md, docs/product.md#accounts): filtered,
//! paginated listings, the full record of one account, creation and edition with every field,
//! lock, and the GDPR deletion; the exports are in `export`. Listings cost a fixed number of
//! queries per page (no per-row query).

use super::access::{AccountPowers, Scope};
use super::flag::Flag;
use super::query::Sql;
use super::search;
use super::{now, today, Backend, DResult, Directory, DirectoryError};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

mod export;

/// Filters of the UTILISATEURS list and of its export. `q` is ignored under 3 characters.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub q: String,
    /// Subtrees of these structures (already checked against the viewer's scope); an empty
    /// list matches nothing (a structure search that found none).
    pub structure_paths: Option<Vec<String>>,
    /// Direct members of this structure only (the "Membres (N)" of a structure).
    pub structure_id: Option<i64>,
    /// "slug" (any role of the application) or "slug/role".
    pub app_role: Option<(String, Option<String>)>,
    pub locked: bool,
    pub expired: bool,
    pub never_logged_in: bool,
}

/// Minimum length of a search term (guide: "au moins 3 caractères").
pub const MIN_SEARCH: usize = 3;

/// One line of a user listing (read from `ROW_COLUMNS`; the label and the name are filled
/// afterwards).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub last_name: String,
    pub first_name: String,
    pub email: String,
    pub structure_id: i64,
    pub structure_path: String,
    #[sqlx(skip)]
    pub structure_label: String,
    /// The structure's name, for people (`Directory::display_names`).
    #[sqlx(skip)]
    pub structure_name: String,
    pub job_title: String,
    pub service: String,
    #[sqlx(try_from = "Flag")]
    pub locked: bool,
    pub valid_until: Option<String>,
    pub last_login_at: Option<i64>,
    /// Before this day the account cannot sign in yet.
    pub valid_from: Option<String>,
}

/// Every field of an account (docs/product.md#accounts), for the card, the edit form and the
/// export (read from `RECORD_COLUMNS`; the label and the name are filled afterwards).
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub last_name: String,
    pub first_name: String,
    pub structure_id: i64,
    pub structure_path: String,
    #[sqlx(skip)]
    pub structure_label: String,
    /// The structure's name, for people (`Directory::display_names`).
    #[sqlx(skip)]
    pub structure_name: String,
    pub job_title: String,
    pub service: String,
    pub postal_address: String,
    pub phone: String,
    pub app_identifier: String,
    #[sqlx(try_from = "Flag")]
    pub telework: bool,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub locked: bool,
    #[sqlx(try_from = "Flag")]
    pub has_password: bool,
    #[sqlx(try_from = "Flag")]
    pub platform_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
    #[sqlx(try_from = "Flag")]
    pub has_photo: bool,
}

/// The editable fields, already validated by the caller.
#[derive(Clone, Debug, Default)]
pub struct UserInput {
    pub email: String,
    pub last_name: String,
    pub first_name: String,
    pub structure_id: i64,
    pub job_title: String,
    pub service: String,
    pub postal_address: String,
    pub phone: String,
    pub app_identifier: String,
    pub telework: bool,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub locked: bool,
}

impl UserInput {
    fn search_text(&self) -> String {
        super::search::search_text(
            &self.last_name,
            &self.first_name,
            &super::users::normalize_email(&self.email),
            &self.service,
            &self.job_title,
        )
    }
}

/// A user of an export page with the roles already formatted.
#[derive(Clone, Debug)]
pub struct ExportRow {
    pub user: UserRecord,
    pub roles: String,
}

/// The columns of a [`UserRow`], on `u` (users) and `s` (its structure).
const ROW_COLUMNS: &str = "u.id, u.last_name, u.first_name, u.email, u.structure_id, \
     s.path AS structure_path, u.job_title, u.service, u.locked, u.valid_until, u.last_login_at, \
     u.valid_from";

/// The columns of a [`UserRecord`], on `u` (users), `s` (its structure) and `p` (its photo,
/// left-joined).
const RECORD_COLUMNS: &str = "u.id, u.email, u.last_name, u.first_name, u.structure_id, \
     s.path AS structure_path, u.job_title, u.service, u.postal_address, u.phone, \
     u.app_identifier, u.telework, u.valid_from, u.valid_until, u.locked, \
     CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS has_password, \
     u.platform_admin, u.created_at, u.updated_at, u.last_login_at, \
     CASE WHEN p.user_id IS NULL THEN 0 ELSE 1 END AS has_photo";

/// What `RETURNING id` gives back.
#[derive(sqlx::FromRow)]
struct Inserted {
    id: i64,
}

/// What [`Directory::account_powers`] reads of the account itself.
#[derive(sqlx::FromRow)]
struct PowersRow {
    path: String,
    #[sqlx(try_from = "Flag")]
    platform_admin: bool,
}

/// One grant of [`Directory::account_powers`].
#[derive(sqlx::FromRow)]
struct PowerGrantRow {
    slug: String,
    role: String,
    path: String,
}

/// Structures listed by id at most; beyond, listings filter on path ranges.
const PLACE_IDS_MAX: i64 = 1000;

/// The structures a listing is restricted to (the viewer's scope and the structure filter),
/// resolved to ids by `Directory::place` when they are few.
#[derive(Clone, Debug)]
pub enum Place {
    /// Every account.
    All,
    /// Accounts of these structures. PostgreSQL estimates `structure_id IN (...)` from its
    /// statistics; a path range joined through `structures` looks like one structure of 20
    /// accounts to it, which sent the pages of a 20 000-account establishment to plans 50 times
    /// slower (sort everything, then keep 25).
    Ids(Vec<i64>),
    /// Too many structures to list: path ranges of the scope and of the structure filter.
    Paths(Scope, Option<Vec<String>>),
}

impl Place {
    /// Appends the restriction, on `u` (accounts) and `s` (their structures, joined when
    /// `needs_structures`).
    pub fn push(&self, sql: &mut Sql) {
        match self {
            Place::All => {}
            Place::Ids(ids) => {
                sql.and_in("u.structure_id", ids);
            }
            Place::Paths(scope, filter) => {
                sql.and_scope("s.path", scope);
                if let Some(paths) = filter {
                    sql.and_scope("s.path", &Scope::Subtrees(paths.clone()));
                }
            }
        }
    }

    pub fn needs_structures(&self) -> bool {
        matches!(self, Place::Paths(..))
    }
}

fn apply_filter(sql: &mut Sql, f: &UserFilter, place: &Place, backend: Backend) {
    place.push(sql);
    if let Some(id) = f.structure_id {
        sql.push(" AND u.structure_id = ").push_int(id);
    }
    if let Some(n) = search::needle(&f.q, MIN_SEARCH) {
        search::push_match(sql, backend, "u", &n);
    }
    if let Some((slug, role)) = &f.app_role {
        sql.push(
            " AND EXISTS (SELECT 1 FROM role_assignments ra JOIN app_roles r ON r.id = ra.role_id \
             JOIN applications a ON a.id = r.app_id WHERE ra.user_id = u.id AND a.slug = ",
        )
        .push_text(slug);
        if let Some(role) = role {
            sql.push(" AND r.name = ").push_text(role);
        }
        sql.push(")");
    }
    if f.locked {
        sql.push(" AND u.locked = 1");
    }
    if f.expired {
        sql.push(" AND u.valid_until IS NOT NULL AND u.valid_until < ")
            .push_text(&today());
    }
    if f.never_logged_in {
        sql.push(" AND u.last_login_at IS NULL");
    }
}

/// The count and the page query of `Directory::list_users`.
pub fn list_users_sql(
    backend: Backend,
    place: &Place,
    f: &UserFilter,
    limit: i64,
    offset: i64,
) -> (Sql, Sql) {
    let from = filtered_from(place);
    let mut count = Sql::new("SELECT COUNT(*) ");
    count.push(from);
    apply_filter(&mut count, f, place, backend);
    // The page's ids first, from the name index alone, then their rows: a deep page
    // (OFFSET 19 900) skips index entries instead of joining and reading 19 900 rows.
    let mut sql = Sql::new("SELECT ");
    sql.push(ROW_COLUMNS)
        .push(
            " FROM users u JOIN structures s ON s.id = u.structure_id WHERE u.id IN (SELECT u.id ",
        )
        .push(from);
    apply_filter(&mut sql, f, place, backend);
    sql.push(" ORDER BY u.last_name, u.first_name, u.id LIMIT ")
        .push_int(limit)
        .push(" OFFSET ")
        .push_int(offset)
        .push(") ORDER BY u.last_name, u.first_name, u.id");
    (count, sql)
}

/// `FROM ... WHERE 1 = 1` for the filter: the structures are joined only when the filter
/// reads their paths (every account has a structure, so the join never removes a row).
fn filtered_from(place: &Place) -> &'static str {
    if place.needs_structures() {
        "FROM users u JOIN structures s ON s.id = u.structure_id WHERE 1 = 1"
    } else {
        "FROM users u WHERE 1 = 1"
    }
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Binds the editable fields in the order both `insert_user` and `update_user_full` list them
/// (e-mail, first name, last name, structure, job, service, address, phone, application
/// identifier, telework, validity from, until, locked).
fn bind_fields<'q>(q: Query<'q, Any, AnyArguments>, u: &UserInput) -> Query<'q, Any, AnyArguments> {
    q.bind(super::users::normalize_email(&u.email))
        .bind(u.first_name.trim().to_string())
        .bind(u.last_name.trim().to_string())
        .bind(u.structure_id)
        .bind(u.job_title.clone())
        .bind(u.service.clone())
        .bind(u.postal_address.clone())
        .bind(u.phone.clone())
        .bind(u.app_identifier.clone())
        .bind(i64::from(u.telework))
        .bind(u.valid_from.clone())
        .bind(u.valid_until.clone())
        .bind(i64::from(u.locked))
}

/// Inserts an account with every field (docs/product.md#accounts) and no password, in the
/// caller's connection or transaction (shared by the AIA form and the CSV import). A taken
/// e-mail is a unique violation the caller interprets.
pub async fn insert_user(
    conn: &mut sqlx::AnyConnection,
    u: &UserInput,
    by: Option<i64>,
) -> DResult<i64> {
    let t = now();
    let q = sqlx::query(
        "INSERT INTO users (uid, email, first_name, last_name, structure_id, job_title, service, \
         postal_address, phone, app_identifier, telework, valid_from, valid_until, locked, \
         platform_admin, created_at, updated_at, created_by, search_text) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $15, $16, \
         $17) RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string());
    let row = bind_fields(q, u)
        .bind(t)
        .bind(by)
        .bind(u.search_text())
        .fetch_one(&mut *conn)
        .await?;
    Ok(<Inserted as sqlx::FromRow<_>>::from_row(&row)?.id)
}

impl Directory {
    /// Resolves the viewer's scope and the structure filter of `f` into a `Place`: ids when
    /// at most `PLACE_IDS_MAX` structures qualify (one indexed query), path ranges otherwise.
    pub async fn place(&self, scope: &Scope, f: &UserFilter) -> DResult<Place> {
        if matches!(scope, Scope::All) && f.structure_paths.is_none() {
            return Ok(Place::All);
        }
        let mut sql = Sql::new("SELECT id FROM structures WHERE 1 = 1");
        sql.and_scope("path", scope);
        if let Some(paths) = &f.structure_paths {
            sql.and_scope("path", &Scope::Subtrees(paths.clone()));
        }
        sql.push(" ORDER BY id LIMIT ").push_int(PLACE_IDS_MAX + 1);
        let ids: Vec<i64> = sql.query_scalar().fetch_all(&self.pool).await?;
        Ok(if ids.len() as i64 > PLACE_IDS_MAX {
            Place::Paths(scope.clone(), f.structure_paths.clone())
        } else {
            Place::Ids(ids)
        })
    }

    /// One page of users (ordered by name) and the total count for the filter.
    pub async fn list_users(
        &self,
        scope: &Scope,
        f: &UserFilter,
        limit: i64,
        offset: i64,
    ) -> DResult<(i64, Vec<UserRow>)> {
        let place = self.place(scope, f).await?;
        let (count, sql) = list_users_sql(self.backend, &place, f, limit, offset);
        let total: i64 = count.query_scalar().fetch_one(&self.pool).await?;
        let mut rows: Vec<UserRow> = sql.query_as().fetch_all(&self.pool).await?;
        self.label_rows(&mut rows).await?;
        Ok((total, rows))
    }

    /// Fills `structure_label` of rows with one query for the whole page.
    pub async fn label_rows(&self, rows: &mut [UserRow]) -> DResult<()> {
        let paths: Vec<&str> = rows.iter().map(|r| r.structure_path.as_str()).collect();
        let labels = self.path_labels(&paths).await?;
        let names = self.display_names(&paths).await?;
        for r in rows.iter_mut() {
            r.structure_label = labels.get(&r.structure_path).cloned().unwrap_or_default();
            r.structure_name = names.get(&r.structure_path).cloned().unwrap_or_default();
        }
        Ok(())
    }

    /// The full record of one account, `None` when it does not exist.
    pub async fn user_record(&self, user_id: i64) -> DResult<Option<UserRecord>> {
        let row = sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM users u JOIN structures s ON s.id = u.structure_id \
             LEFT JOIN user_photos p ON p.user_id = u.id WHERE u.id = $1"
        )))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut rec) = row else { return Ok(None) };
        let labels = self.path_labels(&[rec.structure_path.as_str()]).await?;
        rec.structure_label = labels.get(&rec.structure_path).cloned().unwrap_or_default();
        let names = self.display_names(&[rec.structure_path.as_str()]).await?;
        rec.structure_name = names.get(&rec.structure_path).cloned().unwrap_or_default();
        Ok(Some(rec))
    }

    /// What the account holds that bears on who may change its e-mail
    /// ([`super::access::Viewer::can_change_email`]): every role assignment, those of
    /// applications currently switched off included (they come back with the application),
    /// its référent designations and platform administration. `None` when it does not exist.
    pub async fn account_powers(&self, user_id: i64) -> DResult<Option<AccountPowers>> {
        let Some(u) = sqlx::query_as::<_, PowersRow>(
            "SELECT s.path, u.platform_admin FROM users u JOIN structures s ON s.id = u.structure_id \
             WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let grants = sqlx::query_as::<_, PowerGrantRow>(
            "SELECT a.slug, r.name AS role, s.path FROM role_assignments ra \
             JOIN app_roles r ON r.id = ra.role_id JOIN applications a ON a.id = r.app_id \
             JOIN structures s ON s.id = ra.structure_id WHERE ra.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|g| (g.slug, g.role, g.path))
        .collect();
        let referent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM referents WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(AccountPowers {
            structure_path: u.path,
            platform_admin: u.platform_admin,
            grants,
            referent: referent > 0,
        }))
    }

    /// Creates an account with every field (docs/product.md#accounts) and no password (the
    /// agent chooses it through "Première visite ?"). `Ok(None)` when the e-mail is already
    /// taken.
    pub async fn create_account(&self, u: &UserInput, by: i64) -> DResult<Option<i64>> {
        let mut conn = self.pool.acquire().await?;
        match insert_user(&mut conn, u, Some(by)).await {
            Ok(id) => Ok(Some(id)),
            Err(DirectoryError::Db(e)) if unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Rewrites every editable field. `Ok(false)` when the new e-mail is already taken.
    pub async fn update_user_full(&self, id: i64, u: &UserInput) -> DResult<bool> {
        let q = sqlx::query(
            "UPDATE users SET email = $1, first_name = $2, last_name = $3, structure_id = $4, \
             job_title = $5, service = $6, postal_address = $7, phone = $8, app_identifier = $9, \
             telework = $10, valid_from = $11, valid_until = $12, locked = $13, updated_at = $14, \
             search_text = $16 WHERE id = $15",
        );
        let res = bind_fields(q, u)
            .bind(now())
            .bind(id)
            .bind(u.search_text())
            .execute(&self.pool)
            .await;
        match res {
            Ok(done) if done.rows_affected() == 0 => Err(DirectoryError::NotFound),
            Ok(_) => Ok(true),
            Err(e) if unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// GDPR deletion (docs/product.md#account-deletion): removes the account and, by cascade,
    /// its photo, référent designations, role assignments and one-time tokens, and replaces the
    /// e-mail by `reference` in every earlier audit row naming it, in one transaction.
    pub async fn delete_user_gdpr(
        &self,
        user_id: i64,
        email: &str,
        reference: &str,
    ) -> DResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE audit_events SET actor = $1, actor_id = NULL WHERE actor_id = $2 OR LOWER(actor) = $3",
        )
        .bind(reference)
        .bind(user_id)
        .bind(email.to_lowercase())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE audit_events SET target = $1 WHERE LOWER(target) = $2")
            .bind(reference)
            .bind(email.to_lowercase())
            .execute(&mut *tx)
            .await?;
        for sql in [
            "DELETE FROM user_photos WHERE user_id = $1",
            "DELETE FROM role_assignments WHERE user_id = $1",
            "DELETE FROM referents WHERE user_id = $1",
            "DELETE FROM one_time_tokens WHERE user_id = $1",
            "UPDATE users SET created_by = NULL WHERE created_by = $1",
            "UPDATE role_assignments SET created_by = NULL WHERE created_by = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}
