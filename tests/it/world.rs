//! Fixture builders: the structures, accounts and rights a test needs, made through the
//! directory's own API (`convergences::directory`) on a gateway started without the demo's data
//! ([`TestGateway::start_empty`]), and returned as typed handles (ids, e-mails) so that a test
//! says what it relies on instead of borrowing the demo's names.
//!
//! ```ignore
//! let t = TestGateway::start_empty();
//! let w = t.world();
//! let mairie = w.establishment("mairie-a", "Mairie A", "mairie-a.fr");
//! let referent = w.referent(&mairie, "referent");
//! let agent = w.agent(&mairie, "agent").with_role(&w, "bip", "utilisateur", &mairie);
//! let b = w.login(&referent);
//! ```
//!
//! Every account's password is [`PASSWORD`].

use crate::harness::{Browser, TestGateway, PASSWORD};
use convergences::directory::structures::NewStructure;
use convergences::directory::users::NewUser;
use std::sync::OnceLock;

/// A structure of the tree.
#[derive(Clone, Debug)]
pub struct Structure {
    pub id: i64,
    pub short_name: String,
    pub long_name: String,
    /// The e-mail domain of its accounts (a service's is its establishment's).
    pub domain: String,
}

/// An account.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl Person {
    /// Gives this account `role` of `app` on behalf of `on`.
    pub fn with_role(self, w: &World<'_>, app: &str, role: &str, on: &Structure) -> Person {
        w.grant(&self, app, role, on);
        self
    }

    /// "First Last", as pages show it.
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// Builds the directory of one gateway.
pub struct World<'a> {
    pub t: &'a TestGateway,
    hash: OnceLock<String>,
}

impl TestGateway {
    pub fn world(&self) -> World<'_> {
        World {
            t: self,
            hash: OnceLock::new(),
        }
    }
}

/// `referent` → `Referent`.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl World<'_> {
    fn password_hash(&self) -> String {
        self.hash
            .get_or_init(|| {
                self.t
                    .block_on(convergences::auth::password::hash(PASSWORD.to_string()))
                    .expect("hash")
            })
            .clone()
    }

    /// A principal establishment (top of the tree) whose accounts are `…@domain`.
    pub fn establishment(&self, short_name: &str, long_name: &str, domain: &str) -> Structure {
        let id = self
            .t
            .block_on(self.t.gw.dir.create_structure(NewStructure {
                parent_id: None,
                short_name,
                long_name,
                domains: &[domain],
            }))
            .expect("create establishment");
        Structure {
            id,
            short_name: short_name.into(),
            long_name: long_name.into(),
            domain: domain.into(),
        }
    }

    /// A structure attached to `parent` (no domain of its own).
    pub fn service(&self, parent: &Structure, short_name: &str, long_name: &str) -> Structure {
        let id = self
            .t
            .block_on(self.t.gw.dir.create_structure(NewStructure {
                parent_id: Some(parent.id),
                short_name,
                long_name,
                domains: &[],
            }))
            .expect("create service");
        Structure {
            id,
            short_name: short_name.into(),
            long_name: long_name.into(),
            domain: parent.domain.clone(),
        }
    }

    fn person(&self, s: &Structure, local: &str, platform_admin: bool) -> Person {
        let first_name = capitalised(&local.replace(['.', '-'], " "));
        let last_name = capitalised(&s.short_name.replace('-', " "));
        self.named(s, local, &first_name, &last_name, platform_admin)
    }

    fn named(
        &self,
        s: &Structure,
        local: &str,
        first_name: &str,
        last_name: &str,
        platform_admin: bool,
    ) -> Person {
        let email = format!("{local}@{}", s.domain);
        let (first_name, last_name) = (first_name.to_string(), last_name.to_string());
        let hash = self.password_hash();
        let dir = &self.t.gw.dir;
        let id = self.t.block_on(async {
            let id = dir
                .provision_user(NewUser {
                    email: &email,
                    first_name: &first_name,
                    last_name: &last_name,
                    structure_id: s.id,
                    job_title: "",
                    service: "",
                    app_identifier: "",
                    platform_admin,
                    created_by: None,
                })
                .await
                .expect("provision user");
            dir.set_password_hash(id, &hash).await.expect("password");
            id
        });
        Person {
            id,
            email,
            first_name,
            last_name,
        }
    }

    /// An agent of `s`, `local@domain`, with no right.
    pub fn agent(&self, s: &Structure, local: &str) -> Person {
        self.person(s, local, false)
    }

    /// An agent of `s` with the given names.
    pub fn agent_named(&self, s: &Structure, local: &str, first: &str, last: &str) -> Person {
        self.named(s, local, first, last, false)
    }

    /// A référent of `s` (and so of its subtree), `local@domain`, administrator of BIP there
    /// (as the demo's référent is): only the structure boundary limits it.
    pub fn referent(&self, s: &Structure, local: &str) -> Person {
        let p = self.person(s, local, false);
        self.t
            .block_on(self.t.gw.dir.add_referent(p.id, s.id))
            .expect("add referent");
        p.with_role(self, "bip", "administrateur", s)
    }

    /// A platform administrator, member of `s`.
    pub fn platform_admin(&self, s: &Structure, local: &str) -> Person {
        self.person(s, local, true)
    }

    /// Gives `p` role `role` of application `app` on behalf of `on`.
    pub fn grant(&self, p: &Person, app: &str, role: &str, on: &Structure) {
        self.t
            .block_on(self.t.gw.dir.assign_role(p.id, app, role, on.id, None))
            .expect("assign role");
    }
}

impl<'a> World<'a> {
    /// A browser signed in as `p` (password form).
    pub fn login(&self, p: &Person) -> Browser<'a> {
        let b = self.t.browser();
        assert_eq!(b.login(&p.email, PASSWORD).0, 303, "login {}", p.email);
        b
    }
}

/// Two establishments side by side, the common shape of the structure-boundary tests: "ours"
/// (a mairie with an attached CCAS, its référent, an agent holding BIP `utilisateur` and a
/// CCAS agent) and "theirs" (another mairie whose référent is also BIP `administrateur`, so
/// only the subtree rule stops them).
pub struct Boundary {
    pub mairie: Structure,
    pub ccas: Structure,
    pub referent: Person,
    pub agent: Person,
    pub ccas_agent: Person,
    pub other_mairie: Structure,
    pub intruder: Person,
}

impl World<'_> {
    pub fn boundary(&self) -> Boundary {
        let mairie = self.establishment("mairie-a", "Mairie A", "mairie-a.fr");
        let ccas = self.service(&mairie, "ccas-a", "CCAS A");
        let referent = self.referent(&mairie, "referent");
        let agent = self
            .agent(&mairie, "agent")
            .with_role(self, "bip", "utilisateur", &mairie);
        let ccas_agent = self.agent(&ccas, "agent.ccas");
        let other_mairie = self.establishment("mairie-b", "Mairie B", "mairie-b.fr");
        let intruder = self.referent(&other_mairie, "referent");
        Boundary {
            mairie,
            ccas,
            referent,
            agent,
            ccas_agent,
            other_mairie,
            intruder,
        }
    }
}
