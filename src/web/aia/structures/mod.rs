//! STRUCTURES (docs/aia.md, docs/product.md#structures): the tree, the selected structure with
//! its référents and "Membres (N)", creation and edition (référents below their principal
//! structure only; domains, moves and référents by platform admins), and the members export.

mod browse;
mod create;
mod edit;
mod export;
mod form;
mod referents;
mod tree;

pub use browse::page;
pub use create::{create, new_form};
pub use edit::{edit_form, update};
pub use export::export;
pub use form::StructureForm;
pub use referents::{add_referent, remove_referent, ReferentForm};
pub use tree::{tree_events, TreeEvent};

use crate::directory::admin_structures::StructureInfo;
use crate::web::aia::extract::SignedIn;
use crate::web::error::{WebError, WebResult};

/// A structure the viewer manages, else 404 (existence not revealed).
async fn visible(who: &SignedIn, id: i64) -> WebResult<StructureInfo> {
    let s = who
        .dir()
        .structure_info(id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !who.viewer.can_view_structure(&s.path) {
        return Err(WebError::NotFound);
    }
    Ok(s)
}
