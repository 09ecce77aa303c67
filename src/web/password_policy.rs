//! What the password paths say when a structure turned password sign-in off for its accounts
//! (docs/identity-providers.md#password-sign-in-turned-off). The rule is
//! `directory::access::password_sign_in_allowed`, applied through `Gateway::password_refused`.

use super::error::WebResult;
use crate::state::Gateway;

/// "« S'identifier avec ProConnect »", or the buttons of every provider joined by "ou".
pub fn buttons(gw: &Gateway) -> String {
    gw.providers
        .all()
        .iter()
        .map(|p| format!("« S'identifier avec {} »", p.config.name))
        .collect::<Vec<_>>()
        .join(" ou ")
}

/// Added to every failed password sign-in once some structure turned passwords off: it depends
/// on no account, so an unknown e-mail, a wrong password and an account that may not use its
/// password all get the same answer, and nobody learns which accounts exist or which password is
/// right.
pub async fn login_hint(gw: &Gateway) -> WebResult<String> {
    if gw.providers.all().is_empty() || gw.dir.structures_disabling_password().await?.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        " Si votre structure a désactivé la connexion par mot de passe, utilisez le bouton {} ci-dessus.",
        buttons(gw)
    ))
}

/// For the account's owner (a reset link, a confirmation during a session) or its référent:
/// here saying it is no secret.
pub fn refused(gw: &Gateway) -> String {
    format!(
        "La connexion par mot de passe est désactivée pour les comptes de cette structure : la connexion se fait avec le bouton {} de la page de connexion.",
        buttons(gw)
    )
}
