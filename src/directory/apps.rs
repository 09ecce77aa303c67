//! Applications and their roles, mirrored from the configuration, and role assignments.

use super::{now, DResult, Directory, DirectoryError};
use crate::config::AppConfig;

impl Directory {
    /// Mirrors the configured applications and roles into the database so that assignments can
    /// reference them. Applications removed from the configuration are marked inactive, never
    /// deleted, so their assignments come back if the operator restores the entry.
    pub async fn sync_apps(&self, apps: &[AppConfig]) -> DResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE applications SET active = 0")
            .execute(&mut *tx)
            .await?;
        for a in apps {
            sqlx::query(
                "INSERT INTO applications (slug, name, description, active) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (slug) DO UPDATE SET name = excluded.name, description = excluded.description, active = 1",
            )
            .bind(&a.slug)
            .bind(&a.name)
            .bind(&a.description)
            .execute(&mut *tx)
            .await?;
            let app_id: i64 = sqlx::query_scalar("SELECT id FROM applications WHERE slug = $1")
                .bind(&a.slug)
                .fetch_one(&mut *tx)
                .await?;
            for r in &a.roles {
                sqlx::query(
                    "INSERT INTO app_roles (app_id, name) VALUES ($1, $2) ON CONFLICT (app_id, name) DO NOTHING",
                )
                .bind(app_id)
                .bind(r)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Grants `role` of application `slug` to a user on behalf of `structure_id`. Idempotent.
    pub async fn assign_role(
        &self,
        user_id: i64,
        slug: &str,
        role: &str,
        structure_id: i64,
        by: Option<i64>,
    ) -> DResult<()> {
        let role_id: i64 = sqlx::query_scalar(
            "SELECT r.id FROM app_roles r JOIN applications a ON a.id = r.app_id WHERE a.slug = $1 AND r.name = $2",
        )
        .bind(slug)
        .bind(role)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DirectoryError::Invalid(format!("unknown role {role} of application {slug}")))?;
        sqlx::query(
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
        Ok(())
    }

    /// Removes every assignment of `role` on `slug` held by the user. Returns how many went.
    pub async fn unassign_role(&self, user_id: i64, slug: &str, role: &str) -> DResult<u64> {
        let done = sqlx::query(
            "DELETE FROM role_assignments WHERE user_id = $1 AND role_id IN \
             (SELECT r.id FROM app_roles r JOIN applications a ON a.id = r.app_id WHERE a.slug = $2 AND r.name = $3)",
        )
        .bind(user_id)
        .bind(slug)
        .bind(role)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
