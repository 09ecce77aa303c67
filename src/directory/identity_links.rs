//! Accounts linked to identities at external identity providers, and the rule that decides,
//! on a first sign-in, which account an identity is (docs/identity-providers.md#account-linking).

use super::flag::Flag;
use super::{now, DResult, Directory};

/// One link, as the account card shows it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct IdentityLink {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// What the directory knows of the account an asserted e-mail names.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub user_id: i64,
    /// Allowed e-mail domains of the account's structure (its own or inherited).
    pub allowed_domains: Vec<String>,
    /// Référent of some structure or platform administrator.
    pub privileged: bool,
    /// The subject this account is already linked to at this provider, if any.
    pub linked_subject: Option<String>,
}

/// What `link_candidate` reads of the account.
#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    structure_id: i64,
    #[sqlx(try_from = "Flag")]
    platform_admin: bool,
    referent_of: i64,
    linked_subject: Option<String>,
}

/// What an identity presents on its first sign-in.
pub struct Asserted<'a> {
    pub email: Option<&'a str>,
    /// `email_verified` from the provider.
    pub email_verified: bool,
    /// The provider is trusted for e-mail addresses (`trust_email`).
    pub trusted_for_email: bool,
    pub subject: &'a str,
}

/// The outcome of the first sign-in of an identity.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstSignIn {
    /// Link the identity to this account.
    Link(i64),
    /// No account: create one in this structure (`create_accounts`).
    Create(i64),
    Refused(Refusal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No e-mail, or one no account has and none may be created for.
    NoAccount,
    EmailNotVerified,
    /// The address is outside the domains of the account's structure.
    DomainNotAllowed,
    /// The account is already linked to another identity at this provider: the asserted
    /// e-mail may be someone else's.
    LinkedToAnother,
    /// A référent's or platform administrator's account is linked only on an e-mail the
    /// provider itself marks verified, never on trust alone.
    PrivilegedNeedsVerified,
    /// Several structures own the domain: nobody can tell where to create the account.
    Ambiguous,
}

impl Refusal {
    /// For the audit journal and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NoAccount => "no matching account",
            Refusal::EmailNotVerified => "e-mail not verified by the provider",
            Refusal::DomainNotAllowed => "e-mail domain not allowed for the account's structure",
            Refusal::LinkedToAnother => {
                "account already linked to another identity at this provider"
            }
            Refusal::PrivilegedNeedsVerified => {
                "privileged account needs an e-mail verified by the provider"
            }
            Refusal::Ambiguous => "several structures own the e-mail domain",
        }
    }
}

/// The rule of a first sign-in (pure). `candidate` is the account the e-mail names;
/// `creation` is `None` when accounts are not created, else the structures that could receive
/// one (the SIRET mapping's, or those owning the domain).
pub fn first_sign_in(
    a: &Asserted,
    candidate: Option<&Candidate>,
    creation: Option<&[i64]>,
) -> FirstSignIn {
    use FirstSignIn::Refused;
    let Some(email) = a.email.filter(|e| e.contains('@')) else {
        return Refused(Refusal::NoAccount);
    };
    if !a.email_verified && !a.trusted_for_email {
        return Refused(Refusal::EmailNotVerified);
    }
    match candidate {
        Some(c) => {
            if c.linked_subject.as_deref().is_some_and(|s| s != a.subject) {
                return Refused(Refusal::LinkedToAnother);
            }
            let domain = super::fields::domain_of(email);
            if !c
                .allowed_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&domain))
            {
                return Refused(Refusal::DomainNotAllowed);
            }
            if c.privileged && !a.email_verified {
                return Refused(Refusal::PrivilegedNeedsVerified);
            }
            FirstSignIn::Link(c.user_id)
        }
        None => match creation {
            None | Some([]) => Refused(Refusal::NoAccount),
            Some([one]) => FirstSignIn::Create(*one),
            Some(_) => Refused(Refusal::Ambiguous),
        },
    }
}

impl Directory {
    /// The account linked to this identity.
    pub async fn linked_user(&self, issuer: &str, subject: &str) -> DResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM identity_links WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The account an asserted e-mail names, with what the linking rule needs.
    pub async fn link_candidate(&self, email: &str, provider: &str) -> DResult<Option<Candidate>> {
        let Some(r) = sqlx::query_as::<_, CandidateRow>(
            "SELECT u.id, u.structure_id, u.platform_admin, \
             (SELECT COUNT(*) FROM referents r WHERE r.user_id = u.id) AS referent_of, \
             (SELECT l.subject FROM identity_links l WHERE l.user_id = u.id AND l.provider = $2) \
             AS linked_subject \
             FROM users u WHERE u.email = $1",
        )
        .bind(super::users::normalize_email(email))
        .bind(provider)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Candidate {
            user_id: r.id,
            allowed_domains: self.allowed_domains(r.structure_id).await?,
            privileged: r.platform_admin || r.referent_of > 0,
            linked_subject: r.linked_subject,
        }))
    }

    /// Structures that list `domain` among their own allowed domains (not inherited).
    pub async fn structures_owning_domain(&self, domain: &str) -> DResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT structure_id FROM structure_domains WHERE domain = $1 ORDER BY structure_id",
        )
        .bind(domain.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn structure_exists(&self, id: i64) -> DResult<bool> {
        Ok(sqlx::query("SELECT 1 FROM structures WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Stores a link; `false` when the identity or the account's slot for this provider is
    /// already taken (two first sign-ins racing).
    pub async fn link_identity(
        &self,
        provider: &str,
        issuer: &str,
        subject: &str,
        user_id: i64,
        email: &str,
    ) -> DResult<bool> {
        let t = now();
        let res = sqlx::query(
            "INSERT INTO identity_links (issuer, subject, provider, user_id, email, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(provider)
        .bind(user_id)
        .bind(email)
        .bind(t)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn touch_identity_link(&self, issuer: &str, subject: &str) -> DResult<()> {
        sqlx::query(
            "UPDATE identity_links SET last_login_at = $1 WHERE issuer = $2 AND subject = $3",
        )
        .bind(now())
        .bind(issuer)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn identity_links(&self, user_id: i64) -> DResult<Vec<IdentityLink>> {
        Ok(sqlx::query_as(
            "SELECT provider, issuer, subject, email, created_at, last_login_at \
             FROM identity_links WHERE user_id = $1 ORDER BY provider",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes the account's link to a provider; `false` when there was none.
    pub async fn unlink_identity(&self, user_id: i64, provider: &str) -> DResult<bool> {
        let done = sqlx::query("DELETE FROM identity_links WHERE user_id = $1 AND provider = $2")
            .bind(user_id)
            .bind(provider)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand() -> Candidate {
        Candidate {
            user_id: 7,
            allowed_domains: vec!["mairie.fr".into()],
            privileged: false,
            linked_subject: None,
        }
    }

    fn asserted<'a>(email: &'a str, verified: bool, trusted: bool) -> Asserted<'a> {
        Asserted {
            email: Some(email),
            email_verified: verified,
            trusted_for_email: trusted,
            subject: "sub-1",
        }
    }

    #[test]
    fn links_a_verified_address_in_the_structure_domains() {
        let c = cand();
        let a = asserted("Agent@Mairie.fr", true, false);
        assert_eq!(first_sign_in(&a, Some(&c), None), FirstSignIn::Link(7));
        let trusted = asserted("agent@mairie.fr", false, true);
        assert_eq!(
            first_sign_in(&trusted, Some(&c), None),
            FirstSignIn::Link(7)
        );
    }

    #[test]
    fn refuses_unverified_foreign_domain_and_taken_accounts() {
        let mut c = cand();
        let r = |f| FirstSignIn::Refused(f);
        assert_eq!(
            first_sign_in(&asserted("agent@mairie.fr", false, false), Some(&c), None),
            r(Refusal::EmailNotVerified)
        );
        assert_eq!(
            first_sign_in(&asserted("agent@ailleurs.fr", true, false), Some(&c), None),
            r(Refusal::DomainNotAllowed)
        );
        c.linked_subject = Some("sub-other".into());
        assert_eq!(
            first_sign_in(&asserted("agent@mairie.fr", true, false), Some(&c), None),
            r(Refusal::LinkedToAnother)
        );
        c.linked_subject = Some("sub-1".into());
        assert_eq!(
            first_sign_in(&asserted("agent@mairie.fr", true, false), Some(&c), None),
            FirstSignIn::Link(7)
        );
        c.linked_subject = None;
        c.privileged = true;
        assert_eq!(
            first_sign_in(&asserted("agent@mairie.fr", false, true), Some(&c), None),
            r(Refusal::PrivilegedNeedsVerified)
        );
        assert_eq!(
            first_sign_in(&asserted("agent@mairie.fr", true, true), Some(&c), None),
            FirstSignIn::Link(7)
        );
        c.allowed_domains.clear();
        assert_eq!(
            first_sign_in(&asserted("agent@mairie.fr", true, false), Some(&c), None),
            r(Refusal::DomainNotAllowed)
        );
    }

    #[test]
    fn creates_only_when_allowed_and_unambiguous() {
        let a = asserted("new@mairie.fr", true, false);
        let r = |f| FirstSignIn::Refused(f);
        assert_eq!(first_sign_in(&a, None, None), r(Refusal::NoAccount));
        assert_eq!(first_sign_in(&a, None, Some(&[])), r(Refusal::NoAccount));
        assert_eq!(first_sign_in(&a, None, Some(&[3])), FirstSignIn::Create(3));
        assert_eq!(
            first_sign_in(&a, None, Some(&[3, 4])),
            r(Refusal::Ambiguous)
        );
        let no_mail = Asserted {
            email: None,
            email_verified: true,
            trusted_for_email: true,
            subject: "s",
        };
        assert_eq!(
            first_sign_in(&no_mail, None, Some(&[3])),
            r(Refusal::NoAccount)
        );
    }
}
