//! What the audit journal records (docs/product.md#audit-journal): one variant per kind of
//! event, with the string stored in `audit_events.action` (stable: rows written by earlier
//! versions are read with it) and the French label the "Journal" page shows. A new kind of
//! event is a new line here, so the journal can never show a raw code.

macro_rules! audit_actions {
    ($($variant:ident => $code:literal, $label:literal;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            /// Every action, in the order the journal's filter offers them.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The code stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $code,)*
                }
            }

            /// The French label of the journal.
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
                }
            }

            /// The action stored as `code`, if this version knows it.
            pub fn parse(code: &str) -> Option<AuditAction> {
                match code {
                    $($code => Some(AuditAction::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

audit_actions! {
    Login => "login", "Connexion";
    LoginFailed => "login_failed", "Échec de connexion";
    Logout => "logout", "Déconnexion";
    SessionEnded => "session_ended", "Fin d'une session par l'utilisateur";
    SessionsEnded => "sessions_ended", "Fin de sessions";
    UserCreated => "user_created", "Création d'un compte";
    UserUpdated => "user_updated", "Modification d'un compte";
    EmailChanged => "email_changed", "Changement d'adresse e-mail";
    EmailChangeRefused => "email_change_refused", "Changement d'adresse e-mail refusé";
    FactorAdded => "factor_added", "Ajout d'un second facteur";
    FactorRemoved => "factor_removed", "Retrait d'un second facteur";
    FactorsReset => "factors_reset", "Réinitialisation de la vérification en deux étapes";
    IdentityConfirmed => "identity_confirmed", "Confirmation d'identité";
    RecoveryCodesRegenerated => "recovery_codes_regenerated", "Nouveaux codes de secours";
    RecoveryCodeUsed => "recovery_code_used", "Connexion avec un code de secours";
    UserLocked => "user_locked", "Verrouillage d'un compte";
    UserUnlocked => "user_unlocked", "Déverrouillage d'un compte";
    UserDeleted => "user_deleted", "Suppression d'un compte";
    PasswordResetSent => "password_reset_sent", "Envoi d'un lien de réinitialisation";
    PasswordChanged => "password_changed", "Changement de mot de passe";
    PasswordLinkSent => "password_link_sent", "Envoi d'un lien de mot de passe";
    PasswordSet => "password_set", "Choix d'un mot de passe par lien";
    FirstVisitLinkSent => "first_visit_link_sent", "Envoi d'un lien de première visite";
    ResetLinkSent => "reset_link_sent", "Demande de réinitialisation du mot de passe";
    MailFailed => "mail_failed", "Échec d'envoi d'un message";
    ProviderLinked => "provider_linked", "Liaison à un fournisseur d'identité";
    ProviderAccountCreated => "provider_account_created", "Création d'un compte par un fournisseur d'identité";
    ProviderUnlinked => "provider_unlinked", "Retrait de la liaison à un fournisseur d'identité";
    StructureCreated => "structure_created", "Création d'une structure";
    StructureUpdated => "structure_updated", "Modification d'une structure";
    ReferentAdded => "referent_added", "Désignation d'un référent";
    ReferentRemoved => "referent_removed", "Retrait d'un référent";
    ReferentDesignated => "referent_designated", "Désignation d'un référent (ligne de commande)";
    RoleAssigned => "role_assigned", "Affectation d'un rôle";
    RoleUnassigned => "role_unassigned", "Désaffectation d'un rôle";
    RoleReassigned => "role_reassigned", "Réaffectation d'un rôle";
    UsersExported => "users_exported", "Export des utilisateurs";
    StructureMembersExported => "structure_members_exported", "Export des membres d'une structure";
    RoleMembersExported => "role_members_exported", "Export des membres d'un rôle";
    AuditExported => "audit_exported", "Export du journal";
    PhotoUpdated => "photo_updated", "Modification d'une photo";
    PhotoDeleted => "photo_deleted", "Suppression d'une photo";
    UsersImported => "users_imported", "Import de comptes";
    StructuresImported => "structures_imported", "Import de structures";
    PlatformAdminCreated => "platform_admin_created", "Création d'un administrateur de plateforme";
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn codes_are_unique_and_read_back() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()), "{} twice", a.as_str());
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
            assert!(!a.label().is_empty());
        }
        assert_eq!(AuditAction::parse("nothing"), None);
    }
}
