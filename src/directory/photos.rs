//! Profile photos (docs/security.md#input-and-uploads): stored already re-encoded by
//! `web::aia::photo`.

use super::{now, DResult, Directory};

/// A stored photo.
#[derive(sqlx::FromRow)]
struct PhotoRow {
    content_type: String,
    data: Vec<u8>,
}

impl Directory {
    pub async fn set_photo(&self, user_id: i64, content_type: &str, data: Vec<u8>) -> DResult<()> {
        sqlx::query(
            "INSERT INTO user_photos (user_id, content_type, data, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type, \
             data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(content_type.to_string())
        .bind(data)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Content type and bytes of the user's photo.
    pub async fn photo(&self, user_id: i64) -> DResult<Option<(String, Vec<u8>)>> {
        let row: Option<PhotoRow> =
            sqlx::query_as("SELECT content_type, data FROM user_photos WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| (r.content_type, r.data)))
    }

    pub async fn delete_photo(&self, user_id: i64) -> DResult<()> {
        sqlx::query("DELETE FROM user_photos WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
