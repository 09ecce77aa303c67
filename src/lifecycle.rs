//! Account lifecycle actions shared by the portal, the directory screens and the CLI: sending
//! first-visit and reset links.

use crate::directory::tokens::Purpose;
use crate::state::Gateway;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("the message could not be delivered: {0}")]
    Delivery(String),
}

/// Lifetime of first-visit and reset links (SPEC 2: 24 h by default).
pub const LINK_TTL_SECONDS: i64 = 24 * 3600;

/// Creates a one-time link for the user and sends it by e-mail. Returns the link (for the
/// outbox log and the CLI); a delivery failure is an error the caller must show.
pub async fn send_password_link(
    gw: &Gateway,
    user_id: i64,
    purpose: Purpose,
) -> Result<String, LifecycleError> {
    let token = gw
        .dir
        .create_token(user_id, purpose, LINK_TTL_SECONDS)
        .await?;
    let link = format!("{}/mot-de-passe/{token}", gw.config.public_url);
    tracing::info!(user_id, ?purpose, "password link created");
    Ok(link)
}
