//! Structures that turn off password sign-in for their accounts, which must then sign in
//! through an identity provider (docs/identity-providers.md#password-sign-in-turned-off). The
//! setting is inherited down the tree; the rule itself is `access::password_sign_in_allowed`.

use super::flag::Flag;
use super::structures::StructureFlag;
use super::users::normalize_email;
use super::{DResult, Directory};

/// What the password rule reads of an account.
#[derive(sqlx::FromRow)]
struct AccountRow {
    path: String,
    #[sqlx(try_from = "Flag")]
    platform_admin: bool,
}

impl Directory {
    /// Whether the structure itself (not its parents) turned password sign-in off.
    pub async fn structure_disables_password(&self, structure_id: i64) -> DResult<bool> {
        self.structure_flag(structure_id, StructureFlag::PasswordSignInDisabled)
            .await
    }

    pub async fn set_structure_disables_password(
        &self,
        structure_id: i64,
        disabled: bool,
    ) -> DResult<()> {
        self.set_structure_flag(
            structure_id,
            StructureFlag::PasswordSignInDisabled,
            disabled,
        )
        .await
    }

    /// Paths of the structures that turned password sign-in off.
    pub async fn structures_disabling_password(&self) -> DResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT path FROM structures WHERE password_sign_in_disabled = 1")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// True when the account with this e-mail exists and may not sign in with a password. The
    /// same queries run whether the account exists or not (the login step's timing must not
    /// tell).
    pub async fn password_disabled_for_email(&self, email: &str) -> DResult<bool> {
        let row = sqlx::query_as::<_, AccountRow>(
            "SELECT s.path, u.platform_admin FROM users u JOIN structures s ON s.id = u.structure_id \
             WHERE u.email = $1",
        )
        .bind(normalize_email(email))
        .fetch_optional(&self.pool)
        .await?;
        let disabling = self.structures_disabling_password().await?;
        Ok(match row {
            Some(r) => {
                !super::access::password_sign_in_allowed(&r.path, r.platform_admin, &disabling)
            }
            None => false,
        })
    }

    /// True when the account may not sign in with a password.
    pub async fn password_disabled_for_user(&self, user_id: i64) -> DResult<bool> {
        let row = sqlx::query_as::<_, AccountRow>(
            "SELECT s.path, u.platform_admin FROM users u JOIN structures s ON s.id = u.structure_id \
             WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(false);
        };
        let disabling = self.structures_disabling_password().await?;
        Ok(!super::access::password_sign_in_allowed(
            &r.path,
            r.platform_admin,
            &disabling,
        ))
    }
}
