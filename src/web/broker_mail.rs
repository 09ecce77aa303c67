//! The mail an account's owner receives when the account is linked to an identity provider
//! for the first time (docs/identity-providers.md#account-linking): from then on that identity
//! signs in without the password, so the owner must hear of it where they read, like a sign-in
//! from a new browser.

use super::error::WebResult;
use crate::state::Gateway;

/// Tells the account's address that it was just linked to `provider`, when and from where, and
/// what to do if it was not them.
pub async fn linked(gw: &Gateway, user_id: i64, provider: &str, ip: &str) -> WebResult<()> {
    let Some(id) = gw.dir.identity(user_id).await? else {
        return Ok(());
    };
    let what = format!(
        "Votre compte Convergences ({email}) vient d'être associé à votre identité {provider}, \
         le {at} ({zone}), depuis l'adresse IP {ip}. Vous pouvez désormais vous connecter \
         avec le bouton « S'identifier avec {provider} » de la page de connexion.\n\n\
         Si ce n'est pas vous : quelqu'un dispose d'une identité {provider} à votre adresse. \
         Votre référent administrateur peut supprimer cette association depuis votre fiche \
         (« Identité externe ») et fermer les sessions ouvertes.",
        email = id.email,
        at = super::aia::fmt_ts(crate::directory::now(), &gw.config.time_zone),
        zone = super::french::zone_label(&gw.config.time_zone),
    );
    crate::second_factor::notify(gw, &id.email, &id.first_name, &what).await;
    Ok(())
}
