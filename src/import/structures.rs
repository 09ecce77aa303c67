//! `import-structures`: one structure a line, columns `directory::csv::STRUCTURE_COLUMNS`. A
//! parent may be a structure of the directory or one created by an earlier line.

use super::{columns, describe, read, Cells, ImportError, LineError, Report};
use crate::directory::csv::STRUCTURE_COLUMNS;
use crate::directory::fields::{self, FieldErrors};
use crate::directory::import::StructureLine;
use crate::directory::Directory;
use std::collections::{HashMap, HashSet};

/// Imports the structures of `bytes`; a line that would sit deeper than `max_depth`
/// (`structures.max_depth`) is refused like any other bad line.
pub async fn import_structures(
    dir: &Directory,
    bytes: &[u8],
    skip_invalid: bool,
    max_depth: u32,
) -> Result<Report, ImportError> {
    let (header, rows) = read(bytes)?;
    let at = columns(&header, &STRUCTURE_COLUMNS, &["Nom de la structure"])?;
    let index = dir.structure_index().await?;
    let mut known: HashSet<String> = index.by_name.keys().cloned().collect();
    // The level of each known short name (the first structure of that name, as the import
    // resolves parents): from the directory's labels, then from the lines above.
    let mut levels: HashMap<String, u32> = HashMap::new();
    let mut labels: Vec<(&String, &i64)> = index.by_label.iter().collect();
    labels.sort_by_key(|(_, id)| **id);
    for (label, id) in labels {
        let name = label.rsplit(" / ").next().unwrap_or_default();
        if index.by_name.get(name) == Some(id) {
            levels.insert(name.to_string(), label.split(" / ").count() as u32);
        }
    }
    let mut report = Report::default();
    let mut valid = Vec::new();
    for (line, row) in rows {
        let checked = check(&Cells { row: &row, at: &at }, &known).and_then(|s| {
            let level = if s.parent.is_empty() {
                1
            } else {
                levels.get(&s.parent).copied().unwrap_or(1) + 1
            };
            if level > max_depth {
                let mut e = FieldErrors::default();
                e.add(
                    "Structure parente",
                    format!(
                        "la structure serait au niveau {level} : l'arborescence est limitée à {max_depth} niveau(x) (structures.max_depth)."
                    ),
                );
                return Err(e);
            }
            levels.insert(s.short_name.clone(), level);
            Ok(s)
        });
        match checked {
            Ok(s) => {
                known.insert(s.short_name.clone());
                valid.push(s);
            }
            Err(e) => report.errors.push(LineError {
                line,
                message: describe(&e),
            }),
        }
    }
    if !report.errors.is_empty() && !skip_invalid {
        return Ok(report);
    }
    dir.import_structures(index.by_name, &valid).await?;
    report.imported = valid.len();
    Ok(report)
}

/// `known`: the short names of the directory and of the lines above. A principal establishment
/// needs an allowed domain, or no account could ever be created in it (docs/product.md#structures).
fn check(c: &Cells, known: &HashSet<String>) -> Result<StructureLine, FieldErrors> {
    let mut e = FieldErrors::default();
    let name = c.text(&mut e, "Nom de la structure", true, 100);
    let long = c.text(&mut e, "Nom long", false, fields::MAX_TEXT);
    let parent = c.text(&mut e, "Structure parente", false, 100);
    let domains = c.domains(&mut e, "Domaines autorisés");
    let address = c.text(&mut e, "Adresse postale", false, 500);
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
    if !e.is_empty() {
        return Err(e);
    }
    Ok(StructureLine {
        short_name: name,
        long_name: long,
        parent,
        domains,
        postal_address: address,
    })
}
