//! Editing a structure: names and address; domains and moves for platform administrators.

use crate::directory::audit_action::AuditAction;
use crate::directory::DirectoryError;
use crate::web::aia::extract::{require, Action, SignedIn};
use crate::web::aia::form::FieldErrors;
use crate::web::aia::form_page::FormErrors;
use crate::web::aia::FrPath;
use crate::web::aia::{num, see_other};
use crate::web::error::WebResult;

use axum::response::Response;

use super::form::too_deep;
use super::form::{check, resolve_parent, show_form, StructureForm, MOVE_INTO_ITSELF};
use super::visible;
use crate::directory::admin_structures::depth_of;

pub async fn edit_form(FrPath(id): FrPath<i64>, who: SignedIn) -> WebResult<Response> {
    let s = visible(&who, id).await?;
    require(who.viewer.can_edit_structure(&s.path))?;
    let f = StructureForm {
        csrf: String::new(),
        parent_id: s.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        parent_q: String::new(),
        short_name: s.short_name.clone(),
        long_name: s.long_name.clone(),
        postal_address: s.postal_address.clone(),
        domains: who.dir().own_domains(id).await?.join(", "),
        second_factor_required: who
            .dir()
            .structure_requires_second_factor(id)
            .await?
            .then(|| "1".to_string()),
        password_sign_in_disabled: who
            .dir()
            .structure_disables_password(id)
            .await?
            .then(|| "1".to_string()),
    };
    show_form(&who, Some(id), f, FormErrors::default()).await
}

pub async fn update(
    FrPath(id): FrPath<i64>,
    Action(who, mut f): Action<StructureForm>,
) -> WebResult<Response> {
    let (v, dir) = (&who.viewer, who.dir());
    let s = visible(&who, id).await?;
    require(v.can_edit_structure(&s.path))?;
    let old_domains = dir.own_domains(id).await?;
    if !v.can_edit_domains() {
        // Référents neither see nor change domains or the parent.
        f.domains = old_domains.join(", ");
        f.parent_id = s.parent_id.map(|p| p.to_string()).unwrap_or_default();
    }
    let mut e = FieldErrors::default();
    if let Some(message) = resolve_parent(&who, &mut f).await? {
        e.add("parent_id", message);
    }
    let fields = check(&f, &mut e);
    let new_parent = if e.get("parent_id").is_some() {
        s.parent_id
    } else if f.parent_id.trim().is_empty() {
        None
    } else {
        match dir.structure_info(num(&f.parent_id, 0)).await? {
            Some(p) if v.can_view_structure(&p.path) => {
                if p.path.starts_with(&s.path) {
                    e.add("parent_id", MOVE_INTO_ITSELF);
                } else if Some(p.id) != s.parent_id {
                    // The moved subtree must fit: its deepest structure included.
                    let max_depth = who.gw().config.structures_max_depth;
                    let deepest = depth_of(&p.path) + 1 + dir.subtree_height(&s.path).await?;
                    if deepest > max_depth {
                        e.add("parent_id", too_deep(max_depth));
                    }
                }
                Some(p.id)
            }
            _ => {
                e.add("parent_id", "Choisissez une structure de rattachement.");
                None
            }
        }
    };
    if !e.is_empty() {
        return show_form(&who, Some(id), f, e.into()).await;
    }
    dir.update_structure(
        id,
        &fields.short_name,
        &fields.long_name,
        &fields.postal_address,
    )
    .await?;
    let mut details = Vec::new();
    let wanted = crate::web::aia::form::checked(&f.second_factor_required);
    if wanted != dir.structure_requires_second_factor(id).await? {
        dir.set_structure_requires_second_factor(id, wanted).await?;
        details.push(
            if wanted {
                "vérification en deux étapes exigée"
            } else {
                "vérification en deux étapes non exigée"
            }
            .to_string(),
        );
    }
    // Without a provider the checkbox is not shown: the setting stays as it is.
    let turned_off = crate::web::aia::form::checked(&f.password_sign_in_disabled);
    if !who.gw().providers.all().is_empty()
        && turned_off != dir.structure_disables_password(id).await?
    {
        dir.set_structure_disables_password(id, turned_off).await?;
        details.push(
            if turned_off {
                "connexion par mot de passe désactivée"
            } else {
                "connexion par mot de passe réactivée"
            }
            .to_string(),
        );
    }
    if v.can_edit_domains() && fields.domains != old_domains {
        dir.set_domains(id, &fields.domains).await?;
        details.push(format!("domaines : {}", fields.domains.join(", ")));
    }
    if new_parent != s.parent_id && v.can_move_structure() {
        match dir.move_structure(id, new_parent).await {
            Ok(()) => details.push("structure déplacée".to_string()),
            Err(DirectoryError::Invalid(_)) => {
                let refused = FormErrors::field("parent_id", MOVE_INTO_ITSELF);
                return show_form(&who, Some(id), f, refused).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
    let details = details.join("; ");
    who.audit(
        AuditAction::StructureUpdated,
        &fields.short_name,
        Some(id),
        &details,
    )
    .await?;
    who.gw().directory_changed();
    Ok(see_other(&format!("/aia/structures?id={id}"), "structure"))
}
