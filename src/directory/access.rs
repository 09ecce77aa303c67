//! Who may see and change what in the directory (docs/product.md#permissions,
//! docs/aia.md#authorisation), as pure functions of a [`Viewer`] and of the materialised paths
//! ("/2/5/") of the objects involved. Every AIA handler asks these questions before reading or
//! changing anything, so the rules live in one place and are unit-tested here rather than
//! spread over handlers.

/// The role that only platform administrators may grant or remove (docs/product.md#permissions).
pub const ADMIN_ROLE: &str = "administrateur";

/// What the server knows about the person behind a request, for authorisation only.
#[derive(Clone, Debug, Default)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub structure_id: i64,
    pub platform_admin: bool,
    /// Paths of the structures the viewer is référent of, without nested duplicates (a
    /// référent of a structure is référent of everything below it).
    pub referent_paths: Vec<String>,
    /// Slugs of the applications on which the viewer holds `administrateur`.
    pub admin_apps: Vec<String>,
    /// Path of the viewer's principal establishment ("/2/"): agents see the directory cards of
    /// this subtree.
    pub establishment_path: String,
}

/// What an account holds, as far as taking it over is concerned (see
/// [`Viewer::can_change_email`]).
#[derive(Clone, Debug, Default)]
pub struct AccountPowers {
    /// Path of the account's structure.
    pub structure_path: String,
    /// (application slug, role, path of the structure on whose behalf it is held).
    pub grants: Vec<(String, String, String)>,
    pub referent: bool,
    pub platform_admin: bool,
}

/// The set of structures a listing is restricted to, turned into SQL by `query::scope_sql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Union of subtrees; empty means nothing at all.
    Subtrees(Vec<String>),
}

impl Scope {
    /// `true` when a structure at `path` lies in the scope.
    pub fn contains(&self, path: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Subtrees(roots) => roots.iter().any(|r| in_subtree(path, r)),
        }
    }
}

/// `true` when `path` is `root` or lies below it.
pub fn in_subtree(path: &str, root: &str) -> bool {
    !root.is_empty() && root.ends_with('/') && path.starts_with(root)
}

/// Whether an account may sign in with a password (docs/identity-providers.md#password-sign-in-turned-off):
/// not when its structure, or a structure above it, turned password sign-in off (`disabling`:
/// their paths), unless it is a platform administrator's, who always keeps the password as a
/// way in (the provider may be down, or the setting wrong, and someone must be able to fix it).
pub fn password_sign_in_allowed(
    account_path: &str,
    platform_admin: bool,
    disabling: &[String],
) -> bool {
    platform_admin || !disabling.iter().any(|d| in_subtree(account_path, d))
}

/// Exclusive upper bound of the subtree of `path` in byte order: "/2/5/" → "/2/50". Every
/// descendant path starts with "/2/5/", and '0' is the byte right after '/', so the subtree is
/// `path >= "/2/5/" AND path < "/2/50"`, one range scan on the path index.
pub fn subtree_upper(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(p) => format!("{p}0"),
        None => format!("{path}0"),
    }
}

/// The establishment ("/2/") a structure path belongs to: its first segment.
pub fn establishment_of(path: &str) -> String {
    match path.trim_start_matches('/').split('/').next() {
        Some(first) if !first.is_empty() => format!("/{first}/"),
        _ => String::new(),
    }
}

/// Number of levels of a path: "/2/" is 1 (a principal establishment), "/2/5/" is 2.
pub fn depth(path: &str) -> usize {
    path.split('/').filter(|s| !s.is_empty()).count()
}

/// Sorts paths and removes those already covered by a shorter one.
pub fn normalize_paths(mut paths: Vec<String>) -> Vec<String> {
    paths.retain(|p| p.starts_with('/') && p.ends_with('/') && p.len() > 1);
    paths.sort();
    paths.dedup();
    let mut out: Vec<String> = Vec::with_capacity(paths.len());
    for p in paths {
        if !out.iter().any(|root| in_subtree(&p, root)) {
            out.push(p);
        }
    }
    out
}

impl Viewer {
    pub fn is_referent(&self) -> bool {
        !self.referent_paths.is_empty()
    }

    /// Platform admins and référents: the people who manage accounts.
    pub fn is_manager(&self) -> bool {
        self.platform_admin || self.is_referent()
    }

    /// May create, edit, lock, delete accounts and export in this structure
    /// (docs/product.md#permissions).
    pub fn manages_path(&self, path: &str) -> bool {
        self.platform_admin || self.referent_paths.iter().any(|r| in_subtree(path, r))
    }

    pub fn can_manage_user(&self, target_structure_path: &str) -> bool {
        self.manages_path(target_structure_path)
    }

    /// Directory cards: managers of the user's structure, and agents of the same
    /// establishment tree (docs/product.md#actors: an agent looks up the directory cards of
    /// their own establishment tree).
    pub fn can_view_card(&self, target_structure_path: &str) -> bool {
        self.manages_path(target_structure_path)
            || in_subtree(target_structure_path, &self.establishment_path)
    }

    /// Structures shown in the STRUCTURES tab: the managed ones.
    pub fn can_view_structure(&self, path: &str) -> bool {
        self.manages_path(path)
    }

    /// A new structure below `parent` (None: a principal establishment, platform admins only).
    pub fn can_create_structure(&self, parent_path: Option<&str>) -> bool {
        match parent_path {
            None => self.platform_admin,
            Some(p) => self.manages_path(p),
        }
    }

    /// Name, long name and address of a structure. Référents may edit the structures strictly
    /// below the ones they were designated for, never those (guide: "Etablissement principal :
    /// les informations correspondantes ne sont pas modifiables").
    pub fn can_edit_structure(&self, path: &str) -> bool {
        self.platform_admin
            || self
                .referent_paths
                .iter()
                .any(|r| in_subtree(path, r) && path != r)
    }

    /// Allowed domains, moves, référents: the centre's staff only (docs/product.md#permissions).
    pub fn can_edit_domains(&self) -> bool {
        self.platform_admin
    }

    pub fn can_move_structure(&self) -> bool {
        self.platform_admin
    }

    pub fn can_manage_referents(&self) -> bool {
        self.platform_admin
    }

    /// Applications listed in the APPLICATIONS tab.
    pub fn can_admin_app(&self, slug: &str) -> bool {
        self.platform_admin || self.admin_apps.iter().any(|a| a == slug)
    }

    /// Only platform admins grant or remove `administrateur` (docs/product.md#permissions).
    pub fn can_grant_role(&self, slug: &str, role: &str) -> bool {
        self.can_admin_app(slug) && (role != ADMIN_ROLE || self.platform_admin)
    }

    /// Assign, unassign or move `role` of `slug` for a user of `user_path` on behalf of the
    /// structure at `on_behalf_path`: a référent-administrateur only inside their subtree.
    pub fn can_change_assignment(
        &self,
        slug: &str,
        role: &str,
        user_path: &str,
        on_behalf_path: &str,
    ) -> bool {
        self.can_grant_role(slug, role)
            && self.manages_path(user_path)
            && self.manages_path(on_behalf_path)
    }

    /// Changing an account's e-mail (its login, where reset links go) hands the account over:
    /// allowed only to someone who could have given it everything it holds. A référent may
    /// not change the address of an account that holds a role they could not assign
    /// (`administrateur` of an application, a role of an application they do not administer,
    /// a role held on behalf of a structure outside their subtree), nor of a référent or a
    /// platform administrator, whom only platform administrators designate.
    pub fn can_change_email(&self, target: &AccountPowers) -> bool {
        if self.platform_admin {
            return true;
        }
        if target.platform_admin || (target.referent && !self.can_manage_referents()) {
            return false;
        }
        self.manages_path(&target.structure_path)
            && target.grants.iter().all(|(slug, role, on_behalf)| {
                self.can_change_assignment(slug, role, &target.structure_path, on_behalf)
            })
    }

    pub fn can_read_journal(&self) -> bool {
        self.is_manager()
    }

    pub fn can_export(&self) -> bool {
        self.is_manager()
    }

    /// Structures whose users the viewer may list (cards included).
    pub fn list_scope(&self) -> Scope {
        if self.platform_admin {
            return Scope::All;
        }
        let mut paths = self.referent_paths.clone();
        if !self.establishment_path.is_empty() {
            paths.push(self.establishment_path.clone());
        }
        Scope::Subtrees(normalize_paths(paths))
    }

    /// Structures the viewer manages (exports, journal, role members, structure tree).
    pub fn manage_scope(&self) -> Scope {
        if self.platform_admin {
            Scope::All
        } else {
            Scope::Subtrees(self.referent_paths.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referent() -> Viewer {
        Viewer {
            user_id: 2,
            referent_paths: normalize_paths(vec!["/2/".into(), "/2/3/".into()]),
            admin_apps: vec!["bip".into()],
            establishment_path: "/2/".into(),
            ..Default::default()
        }
    }

    fn agent() -> Viewer {
        Viewer {
            user_id: 3,
            establishment_path: "/2/".into(),
            ..Default::default()
        }
    }

    fn admin() -> Viewer {
        Viewer {
            platform_admin: true,
            establishment_path: "/1/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn password_sign_in_is_turned_off_down_the_tree_but_never_for_platform_admins() {
        let off = vec!["/2/5/".to_string()];
        assert!(!password_sign_in_allowed("/2/5/", false, &off));
        assert!(!password_sign_in_allowed("/2/5/7/", false, &off));
        assert!(password_sign_in_allowed("/2/", false, &off));
        assert!(password_sign_in_allowed("/2/50/", false, &off));
        assert!(password_sign_in_allowed("/2/5/7/", true, &off));
        assert!(password_sign_in_allowed("/2/5/", false, &[]));
    }

    #[test]
    fn paths_helpers() {
        assert_eq!(subtree_upper("/2/5/"), "/2/50");
        assert!("/2/5/9/" < subtree_upper("/2/5/").as_str());
        assert!("/2/50/" >= subtree_upper("/2/5/").as_str());
        assert_eq!(establishment_of("/2/5/9/"), "/2/");
        assert_eq!(establishment_of(""), "");
        assert_eq!(depth("/2/"), 1);
        assert_eq!(depth("/2/5/"), 2);
        assert!(in_subtree("/2/5/", "/2/"));
        assert!(!in_subtree("/22/", "/2/"));
        assert!(!in_subtree("/2/", ""));
        assert_eq!(
            normalize_paths(vec![
                "/2/3/".into(),
                "/2/".into(),
                "/4/".into(),
                "bad".into()
            ]),
            vec!["/2/".to_string(), "/4/".to_string()]
        );
    }

    #[test]
    fn referent_manages_its_subtree_only() {
        let r = referent();
        assert!(r.can_manage_user("/2/"));
        assert!(r.can_manage_user("/2/3/"));
        assert!(!r.can_manage_user("/22/"));
        assert!(!r.can_manage_user("/1/"));
        assert!(!r.can_edit_structure("/2/"), "principal establishment");
        assert!(r.can_edit_structure("/2/3/"));
        assert!(!r.can_edit_structure("/5/3/"));
        assert!(r.can_create_structure(Some("/2/")));
        assert!(!r.can_create_structure(Some("/5/")));
        assert!(!r.can_create_structure(None));
        assert!(!r.can_edit_domains());
        assert!(!r.can_manage_referents());
        assert_eq!(r.manage_scope(), Scope::Subtrees(vec!["/2/".into()]));
    }

    #[test]
    fn roles_and_applications() {
        let r = referent();
        assert!(r.can_admin_app("bip"));
        assert!(!r.can_admin_app("netcotisations"));
        assert!(r.can_grant_role("bip", "utilisateur"));
        assert!(!r.can_grant_role("bip", ADMIN_ROLE));
        assert!(r.can_change_assignment("bip", "utilisateur", "/2/3/", "/2/"));
        assert!(!r.can_change_assignment("bip", "utilisateur", "/7/", "/2/"));
        assert!(!r.can_change_assignment("bip", "utilisateur", "/2/", "/7/"));
        assert!(admin().can_change_assignment("x", ADMIN_ROLE, "/7/", "/2/"));
    }

    #[test]
    fn email_changes_need_every_right_the_account_holds() {
        let r = referent();
        let grant = |slug: &str, role: &str, on: &str| (slug.into(), role.into(), on.into());
        let plain = AccountPowers {
            structure_path: "/2/3/".into(),
            ..Default::default()
        };
        assert!(r.can_change_email(&plain));
        let user_of_bip = AccountPowers {
            grants: vec![grant("bip", "utilisateur", "/2/")],
            ..plain.clone()
        };
        assert!(r.can_change_email(&user_of_bip));
        for (what, target) in [
            (
                "administrateur of an application",
                AccountPowers {
                    grants: vec![
                        grant("bip", "utilisateur", "/2/"),
                        grant("bip", ADMIN_ROLE, "/2/"),
                    ],
                    ..plain.clone()
                },
            ),
            (
                "a role of an application the référent does not administer",
                AccountPowers {
                    grants: vec![grant("netcotisations", "utilisateur", "/2/")],
                    ..plain.clone()
                },
            ),
            (
                "a role held on behalf of a structure outside the subtree",
                AccountPowers {
                    grants: vec![grant("bip", "utilisateur", "/7/")],
                    ..plain.clone()
                },
            ),
            (
                "a référent",
                AccountPowers {
                    referent: true,
                    ..plain.clone()
                },
            ),
            (
                "a platform administrator",
                AccountPowers {
                    platform_admin: true,
                    ..plain.clone()
                },
            ),
            (
                "an account outside the subtree",
                AccountPowers {
                    structure_path: "/7/".into(),
                    ..Default::default()
                },
            ),
        ] {
            assert!(!r.can_change_email(&target), "{what}");
            assert!(admin().can_change_email(&target), "{what}: platform admin");
        }
        assert!(!agent().can_change_email(&plain));
    }

    #[test]
    fn agent_sees_cards_of_its_establishment_and_manages_nothing() {
        let a = agent();
        assert!(a.can_view_card("/2/3/"));
        assert!(!a.can_view_card("/4/"));
        assert!(!a.can_manage_user("/2/"));
        assert!(!a.is_manager());
        assert!(!a.can_export());
        assert!(!a.can_admin_app("bip"));
        assert_eq!(a.manage_scope(), Scope::Subtrees(vec![]));
        assert_eq!(a.list_scope(), Scope::Subtrees(vec!["/2/".into()]));
        assert_eq!(admin().list_scope(), Scope::All);
    }
}
