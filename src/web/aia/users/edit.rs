//! ÉDITER: every field of an account, and the e-mail change rules (docs/aia.md#authorisation).

use super::form::{check, show_form, UserForm, EMAIL_TAKEN};
use super::managed_user;
use crate::directory::admin_users::{UserInput, UserRecord};
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::SignedIn;
use crate::web::aia::form_page::{Checked, FormErrors};
use crate::web::aia::photo::FormAndPhoto;
use crate::web::aia::{see_other, FlashQuery};
use crate::web::aia::{FrPath, FrQuery};
use crate::web::error::{WebError, WebResult};
use axum::response::Response;

pub async fn edit_form(
    FrPath(id): FrPath<i64>,
    FrQuery(q): FrQuery<FlashQuery>,
    who: SignedIn,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    let f = UserForm::from_record(&u);
    show_form(&who, Some(id), f, FormErrors::default(), &q.ok).await
}

/// ENREGISTRER, the photo with the other fields: choosing a photo keeps what was typed.
pub async fn update(
    FrPath(id): FrPath<i64>,
    FormAndPhoto {
        who,
        form: f,
        photo,
    }: FormAndPhoto<UserForm>,
) -> WebResult<Response> {
    let before = managed_user(&who, id).await?;
    let Checked {
        value: input,
        mut errors,
    } = check(&who, &f, Some(id)).await?;
    let photo = super::form::check_photo(photo, &mut errors).await?;
    if id == who.viewer.user_id && input.locked {
        errors.add(
            "locked",
            "Vous ne pouvez pas verrouiller votre propre compte.",
        );
    }
    let email_changed = before.email != input.email;
    if email_changed && errors.get("email").is_none() {
        // The e-mail is the login and where reset links go: changing it hands the account
        // over, so it needs every right the account holds.
        let powers = who
            .dir()
            .account_powers(id)
            .await?
            .ok_or(WebError::NotFound)?;
        if !who.viewer.can_change_email(&powers) {
            errors.add("email", EMAIL_CHANGE_REFUSED);
            who.audit(
                AuditAction::EmailChangeRefused,
                &before.email,
                Some(before.structure_id),
                &format!("adresse demandée : {}", input.email),
            )
            .await?;
        }
    }
    if !errors.is_empty() {
        return show_form(&who, Some(id), f, errors.into(), "").await;
    }
    if !who.dir().update_user_full(id, &input).await? {
        let taken = FormErrors::field("email", EMAIL_TAKEN);
        return show_form(&who, Some(id), f, taken, "").await;
    }
    let mut details = Vec::new();
    if let Some(p) = photo {
        who.dir().set_photo(id, p.content_type, p.bytes).await?;
        details.push("photo modifiée");
    }
    if before.email != input.email {
        details.push("adresse e-mail modifiée");
    }
    if before.structure_id != input.structure_id {
        details.push("structure modifiée");
    }
    if before.locked != input.locked {
        details.push(if input.locked {
            "verrouillé"
        } else {
            "déverrouillé"
        });
    }
    who.audit(
        AuditAction::UserUpdated,
        &input.email,
        Some(input.structure_id),
        &details.join(", "),
    )
    .await?;
    if input.locked && !before.locked {
        who.gw().revoke_user(id).await?;
    } else {
        who.gw().user_changed(id);
    }
    if email_changed {
        email_change_notice(&who, &before, &input).await?;
        return Ok(see_other(
            &format!("/aia/utilisateurs/{id}"),
            "email-modifie",
        ));
    }
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "modifie"))
}

/// Shown next to the e-mail field when the viewer may not change it.
pub const EMAIL_CHANGE_REFUSED: &str = "Seul un administrateur de la plateforme peut modifier l'adresse e-mail de ce compte : il détient des droits que vous ne pouvez pas attribuer vous-même (rôle administrateur d'une application, rôle d'une application que vous n'administrez pas ou détenu pour une autre structure, désignation de référent). Adressez-vous au correspondant CIG.";

/// After an e-mail change: the previous address is told (by whom), and the change is audited
/// with the old address and whether that message went out. A delivery failure does not undo
/// the change; it is logged and recorded in the audit event.
async fn email_change_notice(
    who: &SignedIn,
    before: &UserRecord,
    input: &UserInput,
) -> WebResult<()> {
    let email = &who.viewer.email;
    let by = match &who.req.user {
        Some(u) => format!("{} ({email})", u.ident.identity.display_name()),
        None => email.clone(),
    };
    let sent = crate::lifecycle::notify_email_changed(
        who.gw(),
        &before.first_name,
        &before.email,
        &input.email,
        &by,
    )
    .await;
    let details = match &sent {
        Ok(()) => format!(
            "ancienne adresse : {} ; avertissement envoyé à l'ancienne adresse",
            before.email
        ),
        Err(e) => {
            tracing::error!(user_id = before.id, error = %e, "e-mail change notice not sent to the previous address");
            format!(
                "ancienne adresse : {} ; l'avertissement n'a pas pu être envoyé à l'ancienne adresse",
                before.email
            )
        }
    };
    who.audit(
        AuditAction::EmailChanged,
        &input.email,
        Some(input.structure_id),
        &details,
    )
    .await
}
