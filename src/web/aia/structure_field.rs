//! The "structure" field of the AIA forms and filters. A select is the simplest control while a
//! manager's scope is small; a platform administrator's holds thousands of structures (a 5 000-
//! option select weighs 250 KiB and cannot be used), so above `SELECT_MAX` the structure is
//! typed instead: its name, or its path ("établissement / service") when several share a name.

use super::super::error::WebResult;
use crate::directory::access::Scope;
use crate::directory::Directory;

/// Above this many structures in the scope, the field is typed text.
pub const SELECT_MAX: i64 = 200;

/// Structures a typed name may match, at most (filters beyond it ask for a longer name).
pub const MATCH_MAX: usize = 50;

/// Levels of a typed path looked up at most.
const MAX_DEPTH: usize = 16;

/// The (id, path, label) options of a select, or `None` when the scope is too large for one.
pub async fn choices(
    dir: &Directory,
    scope: &Scope,
) -> WebResult<Option<Vec<(i64, String, String)>>> {
    if dir.count_structures(scope).await? > SELECT_MAX {
        return Ok(None);
    }
    Ok(Some(dir.structure_choices(scope).await?))
}

/// The structure of `scope` that `typed` designates: its path label ("mairie-exemple / ccas",
/// as the forms show it, resolved level by level, so it works however many structures share
/// the last name), or else a name only one structure of the scope contains. `Err` holds the
/// French message for the field.
pub async fn by_text(
    dir: &Directory,
    scope: &Scope,
    typed: &str,
) -> WebResult<Result<i64, String>> {
    let typed: String = typed.trim().chars().take(300).collect();
    let names: Vec<&str> = typed.split(" / ").collect();
    // One query per level: a typed "path" deeper than any real tree is not looked up.
    let exact = if names.len() <= MAX_DEPTH {
        dir.structures_by_label(scope, &names).await?
    } else {
        Vec::new()
    };
    let found = if exact.is_empty() {
        let last = names.last().copied().unwrap_or_default().trim();
        dir.search_structures(scope, last, MATCH_MAX as i64 + 1)
            .await?
    } else {
        exact
    };
    let paths: Vec<&str> = found.iter().map(|s| s.path.as_str()).collect();
    let labels = dir.path_labels(&paths).await?;
    let label = |p: &str| labels.get(p).cloned().unwrap_or_default();
    Ok(match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(format!("Aucune structure ne correspond à « {typed} ».")),
        many => {
            let examples: Vec<String> = many.iter().take(5).map(|s| label(&s.path)).collect();
            Err(format!(
                "Plusieurs structures correspondent à « {typed} » : saisissez le chemin complet, \
                 par exemple « {} ».",
                examples.join(" », « ")
            ))
        }
    })
}
