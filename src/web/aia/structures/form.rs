//! The structure form that creation and edition share: its fields, checks and page.

use crate::web::aia::extract::{CsrfProtected, SignedIn};
use crate::web::aia::form::{self, FieldErrors, MAX_TEXT};
use crate::web::aia::form_page::{self, FormErrors, FormPage};
use crate::web::aia::num;
use crate::web::aia::Nav;
use crate::web::error::WebResult;
use crate::web::pages::Layout;
use askama::Template;

use axum::response::Response;
use serde::Deserialize;

use crate::directory::admin_structures::depth_of;
use crate::web::aia::structure_field;

#[derive(Deserialize, Default, Clone)]
pub struct StructureForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub parent_id: String,
    /// The parent typed as text (platform administrators, when a select would hold too many
    /// structures); empty means none.
    #[serde(default)]
    pub parent_q: String,
    #[serde(default)]
    pub short_name: String,
    #[serde(default)]
    pub long_name: String,
    #[serde(default)]
    pub postal_address: String,
    #[serde(default)]
    pub domains: String,
    /// The checkbox "Exiger la vérification en deux étapes" (edition only).
    #[serde(default)]
    pub second_factor_required: Option<String>,
    /// The checkbox "Désactiver la connexion par mot de passe" (edition only, and only while an
    /// identity provider is configured).
    #[serde(default)]
    pub password_sign_in_disabled: Option<String>,
}

#[derive(Template)]
#[template(path = "aia/structure_form.html")]
pub struct StructureFormPage {
    pub l: Layout,
    pub nav: Nav,
    pub id: Option<i64>,
    pub f: StructureForm,
    pub errors: FormErrors,
    /// The parent as a select, or `None` for a typed parent (large scopes).
    pub parents: Option<Vec<(i64, String, String)>>,
    pub admin: bool,
    /// Parent chosen by the platform admin, or fixed (shown as text) for référents.
    pub parent_label: String,
    /// The parent's name, for people.
    pub parent_name: String,
    /// The providers' buttons as the login page names them; empty without any provider, and
    /// then the password setting is not offered.
    pub provider_buttons: String,
}

impl CsrfProtected for StructureForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl FormPage for StructureFormPage {
    fn errors(&self) -> &FormErrors {
        &self.errors
    }
}

impl StructureFormPage {
    pub fn is_parent(&self, id: &i64) -> bool {
        self.f.parent_id == id.to_string()
    }
}

/// The new structure form (`id` is `None`) or the edit form, with what was typed and what is
/// wrong.
pub(super) async fn show_form(
    who: &SignedIn,
    id: Option<i64>,
    f: StructureForm,
    errors: FormErrors,
) -> WebResult<Response> {
    let v = &who.viewer;
    let parents = if v.platform_admin {
        // A structure at the last level allowed can take no sub-structure: not offered, except
        // the current parent of a structure of an older, deeper tree (the select would
        // otherwise move it elsewhere on save).
        let max_depth = who.gw().config.structures_max_depth;
        structure_field::choices(who.dir(), &v.manage_scope())
            .await?
            .map(|mut all| {
                all.retain(|(pid, path, _)| {
                    depth_of(path) < max_depth || f.parent_id == pid.to_string()
                });
                all
            })
    } else {
        Some(Vec::new())
    };
    let (parent_label, parent_name) = match who.dir().structure_info(num(&f.parent_id, 0)).await? {
        Some(p) if v.can_view_structure(&p.path) => (
            who.dir()
                .path_labels(&[p.path.as_str()])
                .await?
                .remove(&p.path)
                .unwrap_or_default(),
            p.display_name().to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    let page = StructureFormPage {
        l: who.layout(if id.is_some() {
            "Éditer la structure"
        } else {
            "Nouvelle structure"
        }),
        nav: who.nav("structures"),
        id,
        f,
        errors,
        parents,
        admin: v.platform_admin,
        parent_label,
        parent_name,
        provider_buttons: crate::web::password_policy::buttons(who.gw()),
    };
    form_page::render(&page)
}

/// The fields of the structure form once checked.
pub(super) struct StructureFields {
    pub short_name: String,
    pub long_name: String,
    pub postal_address: String,
    pub domains: Vec<String>,
}

/// The checks the new and edit forms share: names, address and (platform admins) domains;
/// what is wrong goes to `e`, next to what the caller found already.
pub(super) fn check(f: &StructureForm, e: &mut FieldErrors) -> StructureFields {
    StructureFields {
        short_name: form::text(e, "short_name", &f.short_name, true, MAX_TEXT),
        long_name: form::text(e, "long_name", &f.long_name, false, MAX_TEXT),
        postal_address: form::text(e, "postal_address", &f.postal_address, false, 500),
        domains: form::parse_domains(e, "domains", &f.domains),
    }
}

/// Shown when a move would put a structure below itself.
/// Refusal of a structure that would sit deeper than `structures.max_depth`.
pub(super) fn too_deep(max_depth: u32) -> String {
    format!(
        "L'arborescence des structures est limitée à {max_depth} niveau(x) (établissement principal, puis établissements rattachés) : choisissez une structure de rattachement plus haute."
    )
}

pub(super) const MOVE_INTO_ITSELF: &str =
    "Une structure ne peut pas être rattachée à elle-même ni à l'une de ses sous-structures.";

/// A parent typed as text by a platform administrator becomes `parent_id`; `Some(message)`
/// when the text designates no structure or several.
pub(super) async fn resolve_parent(
    who: &SignedIn,
    f: &mut StructureForm,
) -> WebResult<Option<String>> {
    let v = &who.viewer;
    let typed = f.parent_q.trim();
    if !v.platform_admin || typed.is_empty() {
        return Ok(None);
    }
    Ok(
        match structure_field::by_text(who.dir(), &v.manage_scope(), typed).await? {
            Ok(id) => {
                f.parent_id = id.to_string();
                None
            }
            Err(message) => Some(message),
        },
    )
}
