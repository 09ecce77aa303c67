//! Plain data read from the directory.

/// What the gateway needs to know about a user on every proxied request. Built by one query
/// batch and cached (see `proxy::identity_cache`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user_id: i64,
    pub uid: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub structure_id: i64,
    /// "mairie-exemple / ccas": for people to read.
    pub structure_path: String,
    /// The structure names from the root, for the identity headers.
    pub structure_names: Vec<String>,
    pub app_identifier: String,
    pub platform_admin: bool,
    pub locked: bool,
    pub has_password: bool,
    /// Linked to an identity at an external provider, which signs in without a password.
    pub has_provider_link: bool,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    /// When the photo was last set, `None` without one: the header shows it, and the version
    /// in its URL lets a new photo replace the cached one at once.
    pub photo_version: Option<i64>,
    pub grants: Vec<Grant>,
}

/// One role held on one application on behalf of one structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub app_slug: String,
    pub role: String,
    pub structure_id: i64,
    pub structure_path: String,
    pub structure_names: Vec<String>,
}

impl Identity {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// Usable = has a password (or a provider identity: docs/identity-providers.md), is not
    /// locked and `today` is inside the validity dates (docs/product.md#accounts).
    pub fn is_usable(&self, today: &str) -> bool {
        (self.has_password || self.has_provider_link)
            && !self.locked
            && self.valid_from.as_deref().is_none_or(|f| f <= today)
            && self.valid_until.as_deref().is_none_or(|u| today <= u)
    }

    pub fn grants_for<'a>(&'a self, slug: &'a str) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants.iter().filter(move |g| g.app_slug == slug)
    }

    pub fn has_app(&self, slug: &str) -> bool {
        self.grants_for(slug).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> Identity {
        Identity {
            user_id: 1,
            uid: "u".into(),
            email: "a@b.fr".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            structure_id: 1,
            structure_path: "s".into(),
            structure_names: vec!["s".into()],
            app_identifier: String::new(),
            platform_admin: false,
            locked: false,
            has_password: true,
            has_provider_link: false,
            valid_from: None,
            valid_until: None,
            photo_version: None,
            grants: vec![],
        }
    }

    #[test]
    fn usable_respects_lock_password_and_dates() {
        let mut i = ident();
        assert!(i.is_usable("2026-01-01"));
        i.valid_from = Some("2026-01-02".into());
        assert!(!i.is_usable("2026-01-01"));
        assert!(i.is_usable("2026-01-02"));
        i.valid_until = Some("2026-02-01".into());
        assert!(i.is_usable("2026-02-01"));
        assert!(!i.is_usable("2026-02-02"));
        i.valid_until = None;
        i.locked = true;
        assert!(!i.is_usable("2026-03-01"));
        i.locked = false;
        i.has_password = false;
        assert!(!i.is_usable("2026-03-01"));
        i.has_provider_link = true;
        assert!(i.is_usable("2026-03-01"));
    }
}
