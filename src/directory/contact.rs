//! The contact details an OpenID Connect client may ask for (`phone` and `address` scopes),
//! read only when asked: the proxy's identity does not carry them.

use super::{DResult, Directory};

#[derive(sqlx::FromRow)]
pub struct Contact {
    pub phone: String,
    pub postal_address: String,
}

impl Directory {
    pub async fn contact(&self, user_id: i64) -> DResult<Option<Contact>> {
        Ok(
            sqlx::query_as("SELECT phone, postal_address FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
