//! `convergences admin import-structures` / `import-users`: bulk loading from CSV files in the
//! directory's own export format (`;`, UTF-8 with or without BOM, cells neutralised with a
//! leading quote accepted). Every line is checked first, with the same rules as the AIA forms;
//! any bad line and nothing is imported (unless `--skip-invalid`), and errors name their line.

use crate::directory::admin_users::{insert_user, UserInput};
use crate::directory::structures::{insert_structure, NewStructure};
use crate::directory::users::normalize_email;
use crate::directory::{now, DResult, Directory};
use crate::web::aia::form::{self, FieldErrors};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// One refused line: its number in the file (the header is line 1) and why.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub imported: usize,
    pub errors: Vec<LineError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    File(String),
    #[error("{0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

pub const STRUCTURE_COLUMNS: [&str; 5] = [
    "Nom de la structure",
    "Nom long",
    "Structure parente",
    "Domaines autorisés",
    "Adresse postale",
];

/// Undoes the export's formula neutralisation (`'=x` → `=x`, `'+33…` → `+33…`).
fn cell(raw: &str) -> String {
    let t = raw.trim();
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_string(),
        _ => t.to_string(),
    }
}

/// Reads a `;` CSV with a header row; returns the header and the records with their line
/// numbers. A malformed file (bad quoting, wrong number of cells) is an error naming the line.
/// A data line: its number in the file and its cells.
type Line = (usize, Vec<String>);

fn read(bytes: &[u8]) -> Result<(Vec<String>, Vec<Line>), ImportError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ImportError::File(format!("the file is not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| ImportError::File(format!("line 1: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(text, p.byte() as usize));
            let what = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    format!("{len} cell(s) where the header has {expected_len}")
                }
                _ => e.to_string(),
            };
            ImportError::File(format!("line {line}: {what}"))
        })?;
        let line = rec
            .position()
            .map_or(0, |p| line_at(text, p.byte() as usize));
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push((line, rec.iter().map(cell).collect()));
    }
    Ok((header, rows))
}

/// The 1-based line of the first character at or after `byte` that is not a line break (the
/// csv crate's own line count is off by one after CRLF line ends).
fn line_at(text: &str, byte: usize) -> usize {
    let rest = text.get(byte..).unwrap_or("");
    let skipped = rest.len() - rest.trim_start_matches(['\r', '\n']).len();
    let start = (byte + skipped).min(text.len());
    1 + text.as_bytes()[..start]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// Positions of the named columns; an error lists the missing ones.
fn columns(
    header: &[String],
    wanted: &[&str],
    required: &[&str],
) -> Result<HashMap<String, usize>, ImportError> {
    let mut at = HashMap::new();
    for w in wanted {
        if let Some(i) = header.iter().position(|h| h == w) {
            at.insert(w.to_string(), i);
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !at.contains_key(*r))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::File(format!(
            "line 1: missing column(s) {} (expected the export format: {})",
            missing.join(", "),
            wanted.join(";")
        )));
    }
    Ok(at)
}

fn get<'a>(row: &'a [String], at: &HashMap<String, usize>, col: &str) -> &'a str {
    at.get(col)
        .and_then(|&i| row.get(i))
        .map_or("", |s| s.as_str())
}

fn describe(errors: &FieldErrors) -> String {
    errors
        .0
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Short name → (id, materialised path), and path label → id, for every structure.
async fn structure_index(
    dir: &Directory,
) -> DResult<(HashMap<String, (i64, String)>, HashMap<String, i64>)> {
    let rows = sqlx::query("SELECT id, short_name, path FROM structures")
        .fetch_all(&dir.pool)
        .await?;
    let mut by_name = HashMap::new();
    let mut paths = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        let path: String = r.try_get(2)?;
        by_name.entry(name).or_insert((id, path.clone()));
        paths.push((id, path));
    }
    let refs: Vec<&str> = paths.iter().map(|(_, p)| p.as_str()).collect();
    let labels = dir.path_labels(&refs).await?;
    let by_label = paths
        .iter()
        .filter_map(|(id, p)| labels.get(p).map(|l| (l.clone(), *id)))
        .collect();
    Ok((by_name, by_label))
}

pub async fn import_structures(
    dir: &Directory,
    bytes: &[u8],
    skip_invalid: bool,
) -> Result<Report, ImportError> {
    let (header, rows) = read(bytes)?;
    let at = columns(&header, &STRUCTURE_COLUMNS, &["Nom de la structure"])?;
    let (by_name, _) = structure_index(dir).await?;
    let mut known: HashSet<String> = by_name.keys().cloned().collect();
    let mut report = Report::default();
    let mut valid = Vec::new();
    for (line, row) in rows {
        let mut e = FieldErrors::default();
        let name = form::text(
            &mut e,
            "Nom de la structure",
            get(&row, &at, "Nom de la structure"),
            true,
            100,
        );
        let long = form::text(
            &mut e,
            "Nom long",
            get(&row, &at, "Nom long"),
            false,
            form::MAX_TEXT,
        );
        let parent = form::text(
            &mut e,
            "Structure parente",
            get(&row, &at, "Structure parente"),
            false,
            100,
        );
        let domains = form::parse_domains(
            &mut e,
            "Domaines autorisés",
            get(&row, &at, "Domaines autorisés"),
        );
        let address = form::text(
            &mut e,
            "Adresse postale",
            get(&row, &at, "Adresse postale"),
            false,
            500,
        );
        if !name.is_empty() && known.contains(&name) {
            e.add("Nom de la structure", format!("« {name} » existe déjà."));
        }
        if !parent.is_empty() && !known.contains(&parent) {
            e.add(
                "Structure parente",
                format!(
                    "« {parent} » n'existe pas (ni dans l'annuaire, ni plus haut dans le fichier)."
                ),
            );
        }
        if parent.is_empty() && domains.is_empty() {
            e.add(
                "Domaines autorisés",
                "Une structure principale doit avoir au moins un domaine autorisé.",
            );
        }
        if e.is_empty() {
            known.insert(name.clone());
            valid.push((name, long, parent, domains, address));
        } else {
            report.errors.push(LineError {
                line,
                message: describe(&e),
            });
        }
    }
    if !report.errors.is_empty() && !skip_invalid {
        return Ok(report);
    }
    let mut tx = dir.pool.begin().await?;
    let mut ids: HashMap<String, i64> = by_name.into_iter().map(|(k, (id, _))| (k, id)).collect();
    for (name, long, parent, domains, address) in &valid {
        let domains: Vec<&str> = domains.iter().map(String::as_str).collect();
        let new = NewStructure {
            parent_id: ids.get(parent).copied().filter(|_| !parent.is_empty()),
            short_name: name,
            long_name: long,
            domains: &domains,
        };
        let id = insert_structure(&mut tx, &new, address).await?;
        ids.insert(name.clone(), id);
    }
    tx.commit().await?;
    report.imported = valid.len();
    Ok(report)
}

struct UserLine {
    email: String,
    first: String,
    last: String,
    structure_id: i64,
    job: String,
    service: String,
    phone: String,
    app_id: String,
    telework: bool,
    from: Option<String>,
    until: Option<String>,
    locked: bool,
    grants: Vec<(i64, i64)>,
}

fn yes(v: &str, e: &mut FieldErrors, field: &'static str) -> bool {
    match v.trim().to_lowercase().as_str() {
        "" | "non" | "no" | "0" | "false" => false,
        "oui" | "yes" | "1" | "true" => true,
        other => {
            e.add(field, format!("« {other} » : attendu « oui » ou « non »."));
            false
        }
    }
}

pub async fn import_users(
    dir: &Directory,
    bytes: &[u8],
    skip_invalid: bool,
) -> Result<Report, ImportError> {
    let (header, rows) = read(bytes)?;
    let cols = crate::web::aia::csv_export::USER_COLUMNS;
    let at = columns(&header, &cols, &["Nom", "Prénom", "Adresse e-mail"])?;
    if !at.contains_key("Structure") && !at.contains_key("Chemin de la structure") {
        return Err(ImportError::File(
            "line 1: a column \"Structure\" or \"Chemin de la structure\" is needed".into(),
        ));
    }
    let (by_name, by_label) = structure_index(dir).await?;
    // Role ids by (application name or slug, role name).
    let role_rows = sqlx::query(
        "SELECT r.id, a.slug, a.name, r.name FROM app_roles r JOIN applications a ON a.id = r.app_id WHERE a.active = 1",
    )
    .fetch_all(&dir.pool)
    .await?;
    let mut roles: HashMap<(String, String), i64> = HashMap::new();
    for r in &role_rows {
        let id: i64 = r.try_get(0)?;
        let role: String = r.try_get(3)?;
        roles.insert(
            (r.try_get::<String, _>(1)?.to_lowercase(), role.clone()),
            id,
        );
        roles.insert((r.try_get::<String, _>(2)?.to_lowercase(), role), id);
    }
    let mut domains_cache: HashMap<i64, Vec<String>> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut report = Report::default();
    let mut valid: Vec<UserLine> = Vec::new();
    for (line, row) in rows {
        let mut e = FieldErrors::default();
        let last = form::text(&mut e, "Nom", get(&row, &at, "Nom"), true, 100);
        let first = form::text(&mut e, "Prénom", get(&row, &at, "Prénom"), true, 100);
        let email = normalize_email(&form::text(
            &mut e,
            "Adresse e-mail",
            get(&row, &at, "Adresse e-mail"),
            true,
            254,
        ));
        if !email.is_empty() && !form::email_syntax_ok(&email) {
            e.add("Adresse e-mail", "Adresse e-mail invalide.");
        }
        let path_label = get(&row, &at, "Chemin de la structure").trim();
        let short = get(&row, &at, "Structure").trim();
        let structure = if !path_label.is_empty() {
            by_label.get(path_label).copied()
        } else {
            by_name.get(short).map(|(id, _)| *id)
        };
        let structure_id = match structure {
            Some(id) => id,
            None => {
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
            }
        };
        if structure_id != 0 && !email.is_empty() {
            let allowed = match domains_cache.entry(structure_id) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(dir.allowed_domains(structure_id).await?)
                }
            };
            if !allowed.contains(&form::domain_of(&email)) {
                e.add(
                    "Adresse e-mail",
                    format!(
                        "le domaine n'est pas autorisé pour cette structure ({}).",
                        allowed.join(", ")
                    ),
                );
            }
        }
        if !email.is_empty() {
            if !seen.insert(email.clone()) {
                e.add(
                    "Adresse e-mail",
                    "adresse présente deux fois dans le fichier.",
                );
            } else if dir.user_id_by_email(&email).await?.is_some() {
                e.add(
                    "Adresse e-mail",
                    "un compte existe déjà avec cette adresse.",
                );
            }
        }
        let job = form::text(
            &mut e,
            "Fonction",
            get(&row, &at, "Fonction"),
            false,
            form::MAX_TEXT,
        );
        let service = form::text(
            &mut e,
            "Service",
            get(&row, &at, "Service"),
            false,
            form::MAX_TEXT,
        );
        let phone = form::text(&mut e, "Téléphone", get(&row, &at, "Téléphone"), false, 30);
        if !phone.is_empty() && !form::phone_ok(&phone) {
            e.add("Téléphone", "numéro de téléphone invalide.");
        }
        let app_id = form::text(
            &mut e,
            "Identifiant applicatif",
            get(&row, &at, "Identifiant applicatif"),
            false,
            100,
        );
        let telework = yes(get(&row, &at, "Télétravail"), &mut e, "Télétravail");
        let locked = yes(get(&row, &at, "Verrouillé"), &mut e, "Verrouillé");
        let from = form::date(
            &mut e,
            "Début de validité",
            get(&row, &at, "Début de validité"),
        );
        let until = form::date(&mut e, "Fin de validité", get(&row, &at, "Fin de validité"));
        if let (Some(f), Some(u)) = (&from, &until) {
            if f > u {
                e.add("Fin de validité", "la fin de validité précède le début.");
            }
        }
        // "BIP : utilisateur (mairie-exemple / ccas) | Net-Cotisations : administrateur (…)"
        let mut grants = Vec::new();
        for g in get(&row, &at, "Applications et rôles")
            .split('|')
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            let parsed = g.split_once(':').map(|(app, rest)| {
                let rest = rest.trim();
                let (role, on) = match rest.split_once('(') {
                    Some((r, s)) => (r.trim(), Some(s.trim_end_matches(')').trim())),
                    None => (rest, None),
                };
                (
                    app.trim().to_lowercase(),
                    role.to_string(),
                    on.map(str::to_string),
                )
            });
            let Some((app, role, on)) = parsed else {
                e.add(
                    "Applications et rôles",
                    format!("« {g} » : attendu « Application : rôle (structure) »."),
                );
                continue;
            };
            let Some(role_id) = roles.get(&(app.clone(), role.clone())) else {
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
            let on_id = match on.as_deref() {
                None | Some("") => Some(structure_id),
                Some(label) => by_label.get(label).copied(),
            };
            match on_id {
                Some(sid) if sid != 0 => grants.push((*role_id, sid)),
                _ => e.add(
                    "Applications et rôles",
                    format!("« {g} » : structure inconnue."),
                ),
            }
        }
        if e.is_empty() {
            valid.push(UserLine {
                email,
                first,
                last,
                structure_id,
                job,
                service,
                phone,
                app_id,
                telework,
                from,
                until,
                locked,
                grants,
            });
        } else {
            report.errors.push(LineError {
                line,
                message: describe(&e),
            });
        }
    }
    if !report.errors.is_empty() && !skip_invalid {
        return Ok(report);
    }
    let t = now();
    let mut tx = dir.pool.begin().await?;
    for u in &valid {
        let input = UserInput {
            email: u.email.clone(),
            last_name: u.last.clone(),
            first_name: u.first.clone(),
            structure_id: u.structure_id,
            job_title: u.job.clone(),
            service: u.service.clone(),
            phone: u.phone.clone(),
            app_identifier: u.app_id.clone(),
            telework: u.telework,
            valid_from: u.from.clone(),
            valid_until: u.until.clone(),
            locked: u.locked,
            ..Default::default()
        };
        let id = insert_user(&mut tx, &input, None).await?;
        for (role_id, sid) in &u.grants {
            sqlx::query(
                "INSERT INTO role_assignments (user_id, role_id, structure_id, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, role_id, structure_id) DO NOTHING",
            )
            .bind(id)
            .bind(role_id)
            .bind(sid)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    report.imported = valid.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralised_cells_come_back() {
        assert_eq!(cell("'=cmd()"), "=cmd()");
        assert_eq!(cell("'+33 1 23 45 67 89"), "+33 1 23 45 67 89");
        assert_eq!(cell("'quoted"), "'quoted");
        assert_eq!(cell("  plain "), "plain");
    }

    #[test]
    fn header_with_bom_and_line_numbers() {
        let (h, rows) = read("\u{feff}Nom;Prénom\r\nA;B\r\n\r\nC;D\r\n".as_bytes()).unwrap();
        assert_eq!(h, vec!["Nom", "Prénom"]);
        assert_eq!(rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![2, 4]);
        let (_, rows) = read("Nom;Prénom\r\nA;B\r\nC;D\r\nE;F".as_bytes()).unwrap();
        assert_eq!(
            rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let (_, rows) = read("Nom;Prénom\nA;B\nC;D\n".as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![2, 3]);
        let e = read("Nom;Prénom\nA;B;C\n".as_bytes())
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("line 2"), "{e}");
        assert!(read(&[0xff, 0xfe]).is_err());
    }
}
