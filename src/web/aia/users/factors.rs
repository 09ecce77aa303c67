//! "Réinitialiser la vérification en deux étapes" on a user's card (docs/security.md#lost-factor):
//! for an agent who lost his phone, his key and his recovery codes. A référent whose scope
//! covers the account, or a platform administrator, removes every factor of the account after
//! confirming his own identity (step-up); the account's sessions end, the event is journaled
//! and the user is told by mail. The next sign-in is with the password alone, then the policy
//! asks for a new enrolment if it requires one.

use super::managed_user;
use crate::directory::audit_action::AuditAction;
use crate::web::aia::extract::{CsrfOnly, Sensitive};
use crate::web::aia::see_other;
use crate::web::aia::FrPath;
use crate::web::error::{WebError, WebResult};
use axum::response::Response;

pub async fn reset_factors(
    FrPath(id): FrPath<i64>,
    Sensitive(who, _): Sensitive<CsrfOnly>,
) -> WebResult<Response> {
    let u = managed_user(&who, id).await?;
    if u.id == who.viewer.user_id {
        return Err(WebError::BadRequest(
            "Vos propres facteurs se gèrent depuis la page Sécurité du compte de votre profil."
                .into(),
        ));
    }
    let gw = who.gw();
    if !gw.dir.remove_factors(id).await? {
        return Ok(see_other(
            &format!("/aia/utilisateurs/{id}"),
            "sans-facteur",
        ));
    }
    gw.revoke_user(id).await?;
    who.audit(
        AuditAction::FactorsReset,
        &u.email,
        Some(u.structure_id),
        "",
    )
    .await?;
    crate::second_factor::notify(
        gw,
        &u.email,
        &u.first_name,
        "Votre référent administrateur vient de réinitialiser la vérification en deux étapes de votre compte Convergences : vos applications d'authentification, clés de sécurité et codes de secours sont retirés. Connectez-vous avec votre mot de passe, puis activez à nouveau la vérification en deux étapes.",
    )
    .await;
    Ok(see_other(&format!("/aia/utilisateurs/{id}"), "facteurs"))
}
