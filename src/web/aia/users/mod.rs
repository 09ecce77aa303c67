//! UTILISATEURS (docs/aia.md): the list with search, filters and pagination, the card,
//! AJOUTER / ÉDITER with every field of an account (docs/product.md#accounts), lock, password
//! reset, GDPR deletion and the export.

mod card;
mod create;
mod delete;
mod edit;
mod export;
mod factors;
mod form;
mod identity_link;
mod list;
mod lock;
mod photo;
mod reset;
mod sessions;

pub use card::card;
pub use create::{create, new_form};
pub use delete::{confirm_delete, delete};
pub use edit::{edit_form, update, EMAIL_CHANGE_REFUSED};
pub use export::export;
pub use factors::reset_factors;
pub use form::UserForm;
pub use identity_link::unlink_provider;
pub use list::{list, ListQuery};
pub use lock::{lock, LockForm};
pub use photo::upload_photo;
pub use reset::reset_password;
pub use sessions::end_sessions;

use crate::directory::access::Viewer;
use crate::directory::admin_users::{UserRecord, UserRow};
use crate::web::aia::extract::{require, SignedIn};
use crate::web::error::{WebError, WebResult};

pub struct ListRow {
    pub r: UserRow,
    /// The viewer's own account (no "Supprimer" in its menu).
    pub is_self: bool,
    pub manage: bool,
    pub last_login: String,
    pub expired: bool,
    /// "01/12/2026" when the account's validity starts after today: it cannot sign in yet, so
    /// the list says "À venir" rather than "Actif".
    pub upcoming: Option<String>,
}

/// Loads a user the viewer may see, else 404.
async fn visible_user(who: &SignedIn, id: i64) -> WebResult<UserRecord> {
    let v = &who.viewer;
    let u = who.dir().user_record(id).await?.ok_or(WebError::NotFound)?;
    if u.id != v.user_id && !v.can_view_card(&u.structure_path) {
        return Err(WebError::NotFound);
    }
    Ok(u)
}

/// Loads a user the viewer manages: 404 when out of sight, 403 when only visible. Platform
/// administrators' accounts are managed by platform administrators only.
async fn managed_user(who: &SignedIn, id: i64) -> WebResult<UserRecord> {
    let u = visible_user(who, id).await?;
    require(manages_account(&who.viewer, &u))?;
    Ok(u)
}

/// Whether `v` may change the account `u`. A platform administrator's account is changed by
/// platform administrators only: anyone else could take over the whole platform through it.
fn manages_account(v: &Viewer, u: &UserRecord) -> bool {
    v.can_manage_user(&u.structure_path) && (!u.platform_admin || v.platform_admin)
}
