//! User accounts: creation, login lookup, the identity the proxy forwards, password changes.

use super::flag::Flag;
use super::model::{Grant, Identity};
use super::{now, DResult, Directory, DirectoryError};

pub struct NewUser<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub structure_id: i64,
    pub job_title: &'a str,
    pub service: &'a str,
    pub app_identifier: &'a str,
    pub platform_admin: bool,
    pub created_by: Option<i64>,
}

/// What the login form needs: enough to verify the password and decide usability.
#[derive(Debug, sqlx::FromRow)]
pub struct LoginRecord {
    #[sqlx(rename = "id")]
    pub user_id: i64,
    pub password_hash: Option<String>,
}

/// E-mail addresses are compared case-insensitively (docs/product.md#accounts): they are
/// stored lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

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

/// One grant of an [`Identity`], before its structure names are known.
#[derive(sqlx::FromRow)]
struct GrantRow {
    slug: String,
    role: String,
    structure_id: i64,
    path: String,
}

impl Directory {
    /// Creates an account from the few fields that a command-line administrator, the demo or an
    /// identity provider's first sign-in supply (the AIA's form, with every field, goes through
    /// [`create_account`](Self::create_account)).
    pub async fn provision_user(&self, u: NewUser<'_>) -> DResult<i64> {
        let t = now();
        let email = normalize_email(u.email);
        let res = sqlx::query_scalar(
            "INSERT INTO users (uid, email, first_name, last_name, structure_id, job_title, service, \
             app_identifier, platform_admin, created_at, updated_at, created_by, search_text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) RETURNING id",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&email)
        .bind(u.first_name.trim())
        .bind(u.last_name.trim())
        .bind(u.structure_id)
        .bind(u.job_title.trim())
        .bind(u.service.trim())
        .bind(u.app_identifier.trim())
        .bind(i64::from(u.platform_admin))
        .bind(t)
        .bind(u.created_by)
        .bind(super::search::search_text(
            u.last_name,
            u.first_name,
            &email,
            u.service,
            u.job_title,
        ))
        .fetch_one(&self.pool)
        .await;
        match res {
            Ok(id) => Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(
                DirectoryError::Invalid(format!("an account with e-mail {email} already exists")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_id_by_email(&self, email: &str) -> DResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(normalize_email(email))
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn find_login(&self, email: &str) -> DResult<Option<LoginRecord>> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
                .bind(normalize_email(email))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Loads the identity of a user with its grants and structure paths: three queries, whatever
    /// the number of grants. `None` when the account no longer exists. It is the directory
    /// call of the proxy's path, hence guarded by the circuit breaker.
    pub async fn identity(&self, user_id: i64) -> DResult<Option<Identity>> {
        self.guarded(self.read_identity(user_id)).await
    }

    async fn read_identity(&self, user_id: i64) -> DResult<Option<Identity>> {
        let Some(r) = sqlx::query_as::<_, IdentityRow>(
            "SELECT u.id, u.uid, u.email, u.first_name, u.last_name, u.structure_id, \
             s.path AS structure_path, u.app_identifier, u.platform_admin, u.locked, \
             CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS has_password, \
             u.valid_from, u.valid_until, \
             CASE WHEN EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = u.id) THEN 1 ELSE 0 END \
             AS has_provider_link, \
             (SELECT p.updated_at FROM user_photos p WHERE p.user_id = u.id) AS photo_version \
             FROM users u JOIN structures s ON s.id = u.structure_id WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let raw = sqlx::query_as::<_, GrantRow>(
            "SELECT a.slug, r.name AS role, ra.structure_id, s.path FROM role_assignments ra \
             JOIN app_roles r ON r.id = ra.role_id JOIN applications a ON a.id = r.app_id \
             JOIN structures s ON s.id = ra.structure_id \
             WHERE ra.user_id = $1 AND a.active = 1 ORDER BY a.slug, r.name, s.path",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let own_path = r.structure_path;
        let mut paths: Vec<&str> = raw.iter().map(|g| g.path.as_str()).collect();
        paths.push(&own_path);
        let names = self.path_names(&paths).await?;
        let names_of = |p: &str| names.get(p).cloned().unwrap_or_default();
        let label = |p: &str| names_of(p).join(" / ");
        Ok(Some(Identity {
            user_id: r.id,
            uid: r.uid,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            structure_id: r.structure_id,
            structure_path: label(&own_path),
            structure_names: names_of(&own_path),
            app_identifier: r.app_identifier,
            platform_admin: r.platform_admin,
            locked: r.locked,
            has_password: r.has_password,
            has_provider_link: r.has_provider_link,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            photo_version: r.photo_version,
            grants: raw
                .iter()
                .map(|g| Grant {
                    app_slug: g.slug.clone(),
                    role: g.role.clone(),
                    structure_id: g.structure_id,
                    structure_path: label(&g.path),
                    structure_names: names_of(&g.path),
                })
                .collect(),
        }))
    }

    /// Sets a new password hash and voids every outstanding one-time link of the user (a
    /// password change invalidates them: docs/product.md#one-time-links).
    pub async fn set_password_hash(&self, user_id: i64, hash: &str) -> DResult<()> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(hash)
        .bind(t)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::NotFound);
        }
        sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(t)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn record_login(&self, user_id: i64) -> DResult<()> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_locked(&self, user_id: i64, locked: bool) -> DResult<()> {
        sqlx::query("UPDATE users SET locked = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(locked))
            .bind(now())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_validity(
        &self,
        user_id: i64,
        valid_from: Option<&str>,
        valid_until: Option<&str>,
    ) -> DResult<()> {
        sqlx::query(
            "UPDATE users SET valid_from = $1, valid_until = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(valid_from)
        .bind(valid_until)
        .bind(now())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
