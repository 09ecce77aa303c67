//! The contact details an OpenID Connect client may ask for (`phone` and `address` scopes),
//! read only when asked: the proxy's identity does not carry them.

use super::{DResult, Directory};
use sqlx::Row;

pub struct Contact {
    pub phone: String,
    pub postal_address: String,
}

impl Directory {
    pub async fn contact(&self, user_id: i64) -> DResult<Option<Contact>> {
        let row = sqlx::query("SELECT phone, postal_address FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Contact {
                phone: r.try_get(0)?,
                postal_address: r.try_get(1)?,
            })
        })
        .transpose()
    }
}
