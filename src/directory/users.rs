//! User accounts: creation, login lookup, password changes (the identity the proxy forwards is
//! read in `identities`).

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
