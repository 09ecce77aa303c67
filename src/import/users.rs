//! `import-users`: one account a line, in the format of the AIA's users export
//! (`directory::csv::USER_COLUMNS`), so that an export can be loaded into another directory.
//! Accounts are new ones only: an e-mail already in the directory is a bad line.

use super::{columns, describe, read, Cells, ImportError, LineError, Report};
use crate::directory::admin_users::UserInput;
use crate::directory::csv::{grants_of, parse_grant, USER_COLUMNS};
use crate::directory::fields::{self, FieldErrors};
use crate::directory::import::{StructureIndex, UserLine};
use crate::directory::users::normalize_email;
use crate::directory::{DResult, Directory};
use std::collections::{HashMap, HashSet};

pub async fn import_users(
    dir: &Directory,
    bytes: &[u8],
    skip_invalid: bool,
) -> Result<Report, ImportError> {
    let (header, rows) = read(bytes)?;
    let at = columns(&header, &USER_COLUMNS, &["Nom", "Prénom", "Adresse e-mail"])?;
    if !at.contains_key("Structure") && !at.contains_key("Chemin de la structure") {
        return Err(ImportError::File(
            "line 1: a column \"Structure\" or \"Chemin de la structure\" is needed".into(),
        ));
    }
    let mut checks = Checks {
        dir,
        index: dir.structure_index().await?,
        roles: dir.import_role_ids().await?,
        domains: HashMap::new(),
        seen: HashSet::new(),
    };
    let mut report = Report::default();
    let mut valid = Vec::new();
    for (line, row) in rows {
        match checks.line(&Cells { row: &row, at: &at }).await? {
            Ok(u) => valid.push(u),
            Err(e) => report.errors.push(LineError {
                line,
                message: describe(&e),
            }),
        }
    }
    if !report.errors.is_empty() && !skip_invalid {
        return Ok(report);
    }
    dir.import_users(&valid).await?;
    report.imported = valid.len();
    Ok(report)
}

/// What checking a line needs from the directory and from the lines above.
struct Checks<'a> {
    dir: &'a Directory,
    index: StructureIndex,
    /// `Directory::import_role_ids`.
    roles: HashMap<(String, String), i64>,
    /// Allowed domains by structure id, read once per structure.
    domains: HashMap<i64, Vec<String>>,
    /// E-mails of the lines above.
    seen: HashSet<String>,
}

impl Checks<'_> {
    /// The account of one line, or every field error of it (docs/product.md#accounts).
    async fn line(&mut self, c: &Cells<'_>) -> DResult<Result<UserLine, FieldErrors>> {
        let mut e = FieldErrors::default();
        let last = c.text(&mut e, "Nom", true, 100);
        let first = c.text(&mut e, "Prénom", true, 100);
        let email = normalize_email(&c.text(&mut e, "Adresse e-mail", true, 254));
        if !email.is_empty() && !fields::email_syntax_ok(&email) {
            e.add("Adresse e-mail", "Adresse e-mail invalide.");
        }
        let structure_id = self.structure(c, &mut e);
        if structure_id != 0 && !email.is_empty() {
            self.check_domain(&email, structure_id, &mut e).await?;
        }
        if !email.is_empty() {
            if !self.seen.insert(email.clone()) {
                e.add(
                    "Adresse e-mail",
                    "adresse présente deux fois dans le fichier.",
                );
            } else if self.dir.user_id_by_email(&email).await?.is_some() {
                e.add(
                    "Adresse e-mail",
                    "un compte existe déjà avec cette adresse.",
                );
            }
        }
        let job = c.text(&mut e, "Fonction", false, fields::MAX_TEXT);
        let service = c.text(&mut e, "Service", false, fields::MAX_TEXT);
        let phone = c.text(&mut e, "Téléphone", false, 30);
        if !phone.is_empty() && !fields::phone_ok(&phone) {
            e.add("Téléphone", "numéro de téléphone invalide.");
        }
        let app_id = c.text(&mut e, "Identifiant applicatif", false, 100);
        let telework = c.yes(&mut e, "Télétravail");
        let locked = c.yes(&mut e, "Verrouillé");
        let from = c.date(&mut e, "Début de validité");
        let until = c.date(&mut e, "Fin de validité");
        if let (Some(f), Some(u)) = (&from, &until) {
            if f > u {
                e.add("Fin de validité", "la fin de validité précède le début.");
            }
        }
        let grants = self.grants(c.get("Applications et rôles"), structure_id, &mut e);
        if !e.is_empty() {
            return Ok(Err(e));
        }
        Ok(Ok(UserLine {
            user: UserInput {
                email,
                last_name: last,
                first_name: first,
                structure_id,
                job_title: job,
                service,
                phone,
                app_identifier: app_id,
                telework,
                valid_from: from,
                valid_until: until,
                locked,
                ..Default::default()
            },
            grants,
        }))
    }

    /// The structure's id by its path label, else by its short name; 0 (with an error) when
    /// unknown.
    fn structure(&self, c: &Cells, e: &mut FieldErrors) -> i64 {
        let path_label = c.get("Chemin de la structure").trim();
        let short = c.get("Structure").trim();
        let structure = if !path_label.is_empty() {
            self.index.by_label.get(path_label).copied()
        } else {
            self.index.by_name.get(short).copied()
        };
        structure.unwrap_or_else(|| {
            e.add(
                "Structure",
                format!(
                    "structure « {} » inconnue.",
                    if path_label.is_empty() {
                        short
                    } else {
                        path_label
                    }
                ),
            );
            0
        })
    }

    /// The e-mail's domain must be allowed for the structure (docs/product.md#structures).
    async fn check_domain(
        &mut self,
        email: &str,
        structure_id: i64,
        e: &mut FieldErrors,
    ) -> DResult<()> {
        let allowed = match self.domains.entry(structure_id) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.dir.allowed_domains(structure_id).await?)
            }
        };
        if !allowed.contains(&fields::domain_of(email)) {
            e.add(
                "Adresse e-mail",
                format!(
                    "le domaine n'est pas autorisé pour cette structure ({}).",
                    allowed.join(", ")
                ),
            );
        }
        Ok(())
    }

    /// The "Applications et rôles" cell as (role id, structure id) pairs; a grant without a
    /// structure is held on behalf of the account's own. `administrateur` is left to platform
    /// administrators (docs/product.md#permissions), so an import cannot grant it.
    fn grants(&self, cell: &str, structure_id: i64, e: &mut FieldErrors) -> Vec<(i64, i64)> {
        let mut grants = Vec::new();
        for g in grants_of(cell) {
            let Some((app, role, on)) = parse_grant(g) else {
                e.add(
                    "Applications et rôles",
                    format!("« {g} » : attendu « Application : rôle (structure) »."),
                );
                continue;
            };
            let Some(role_id) = self.roles.get(&(app.to_lowercase(), role.to_string())) else {
                e.add(
                    "Applications et rôles",
                    format!("« {g} » : application ou rôle inconnu."),
                );
                continue;
            };
            if role == "administrateur" {
                e.add(
                    "Applications et rôles",
                    "le rôle administrateur ne s'attribue pas par import.",
                );
                continue;
            }
            let on_id = match on {
                None | Some("") => Some(structure_id),
                Some(label) => self.index.by_label.get(label).copied(),
            };
            match on_id {
                Some(sid) if sid != 0 => grants.push((*role_id, sid)),
                _ => e.add(
                    "Applications et rôles",
                    format!("« {g} » : structure inconnue."),
                ),
            }
        }
        grants
    }
}
