//! The directory's CSV format (docs/aia.md#exports): written by the AIA's exports, read back by
//! `convergences admin import-users` and `import-structures`. Both sides take the columns, the
//! separator, the cell neutralisation and the cell formats from here, so that an export can be
//! imported as it is.

/// Cell separator: what French spreadsheet software expects.
pub const SEPARATOR: u8 = b';';

/// Columns of the structures import.
pub const STRUCTURE_COLUMNS: [&str; 5] = [
    "Nom de la structure",
    "Nom long",
    "Structure parente",
    "Domaines autorisés",
    "Adresse postale",
];

/// Columns of the users export; the CSV import reads the same format.
pub const USER_COLUMNS: [&str; 16] = [
    "Nom",
    "Prénom",
    "Adresse e-mail",
    "Structure",
    "Chemin de la structure",
    // For people; the import reads the two columns above.
    "Nom de la structure",
    "Fonction",
    "Service",
    "Téléphone",
    "Identifiant applicatif",
    "Télétravail",
    "Début de validité",
    "Fin de validité",
    "Verrouillé",
    "Dernière connexion",
    "Applications et rôles",
];

/// A cell a spreadsheet could take for a formula gets a leading quote (OWASP CSV injection).
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        // A leading quote is quoted too, so that the import's `restore` gives it back as is.
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// Undoes [`neutralise`] on a trimmed cell (`'=x` → `=x`, `'+33…` → `+33…`); a quote before
/// anything else is the cell's own.
pub fn restore(raw: &str) -> String {
    let t = raw.trim();
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) => rest.to_string(),
        _ => t.to_string(),
    }
}

/// A flag as the export writes it.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "oui"
    } else {
        "non"
    }
}

/// A flag as the import reads it: the export's words, their English forms, 1/0 and
/// true/false, in any case; empty is no. `None` for anything else.
pub fn parse_yes_no(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "" | "non" | "no" | "0" | "false" => Some(false),
        "oui" | "yes" | "1" | "true" => Some(true),
        _ => None,
    }
}

/// One grant of the "Applications et rôles" cell: "BIP : utilisateur (mairie-exemple / ccas)".
pub fn grant(app: &str, role: &str, structure_label: &str) -> String {
    format!("{app} : {role} ({structure_label})")
}

/// Joins the grants of one account into its cell.
pub fn grants_cell(grants: &[String]) -> String {
    grants.join(" | ")
}

/// The grants of an "Applications et rôles" cell, each trimmed, empty ones left out.
pub fn grants_of(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('|').map(str::trim).filter(|g| !g.is_empty())
}

/// Reads one grant: (application as written, role, structure label if given). `None` when
/// there is no ':' between application and role.
pub fn parse_grant(g: &str) -> Option<(&str, &str, Option<&str>)> {
    g.split_once(':').map(|(app, rest)| {
        let rest = rest.trim();
        let (role, on) = match rest.split_once('(') {
            Some((r, s)) => (r.trim(), Some(s.trim_end_matches(')').trim())),
            None => (rest, None),
        };
        (app.trim(), role, on)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralised_cells_come_back() {
        assert_eq!(restore("'=cmd()"), "=cmd()");
        assert_eq!(restore("'+33 1 23 45 67 89"), "+33 1 23 45 67 89");
        assert_eq!(restore("'quoted"), "'quoted");
        // A cell that starts with a quote before a formula character survives the round trip.
        assert_eq!(restore(&neutralise("'=cmd()")), "'=cmd()");
        assert_eq!(restore(&neutralise("''")), "''");
        assert_eq!(restore("  plain "), "plain");
        for cell in ["=1+1", "+33 1", "-x", "@x", "Dupont", "'quoted"] {
            assert_eq!(restore(&neutralise(cell)), cell);
        }
    }

    #[test]
    fn grants_read_back_what_the_export_writes() {
        let cell = grants_cell(&[
            grant("BIP", "utilisateur", "mairie-exemple / ccas"),
            grant("Net-Cotisations", "administrateur", "mairie-exemple"),
        ]);
        let read: Vec<_> = grants_of(&cell).filter_map(parse_grant).collect();
        assert_eq!(
            read,
            vec![
                ("BIP", "utilisateur", Some("mairie-exemple / ccas")),
                ("Net-Cotisations", "administrateur", Some("mairie-exemple")),
            ]
        );
        assert_eq!(parse_grant("BIP : lecteur"), Some(("BIP", "lecteur", None)));
        assert_eq!(parse_grant("BIP lecteur"), None);
    }
}
