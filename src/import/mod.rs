//! `convergences admin import-structures` / `import-users`: bulk loading from CSV files in the
//! directory's own export format (`directory::csv`: `;`, UTF-8 with or without BOM, cells
//! neutralised with a leading quote accepted). Every line is checked first, with the same field
//! rules as the AIA forms (`directory::fields`); any bad line and nothing is imported (unless
//! `--skip-invalid`), and errors name their line. This module reads the file and checks the
//! lines; the lookups and inserts are the directory's (`directory::import`).

mod structures;
mod users;

pub use crate::directory::csv::STRUCTURE_COLUMNS;
pub use structures::import_structures;
pub use users::import_users;

use crate::directory::csv::{parse_yes_no, restore, SEPARATOR};
use crate::directory::fields::{self, FieldErrors};
use std::collections::HashMap;

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
}

/// A data line: its number in the file and its cells.
type Line = (usize, Vec<String>);

/// Reads a `;` CSV with a header row; returns the header and the records with their line
/// numbers. A malformed file (bad quoting, wrong number of cells) is an error naming the line.
fn read(bytes: &[u8]) -> Result<(Vec<String>, Vec<Line>), ImportError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ImportError::File(format!("the file is not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(SEPARATOR)
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
        rows.push((line, rec.iter().map(restore).collect()));
    }
    Ok((header, rows))
}

/// The 1-based line of the first character at or after `byte` that is not a line break (the
/// csv crate's own line count is off by one after CRLF line ends, and counts no line at all
/// for a bare CR, which old spreadsheet software writes).
fn line_at(text: &str, byte: usize) -> usize {
    let rest = text.get(byte..).unwrap_or("");
    let skipped = rest.len() - rest.trim_start_matches(['\r', '\n']).len();
    let start = (byte + skipped).min(text.len());
    1 + line_breaks(&text.as_bytes()[..start])
}

/// Line breaks in `bytes`: CRLF, LF and a bare CR each count once.
pub fn line_breaks(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => n += 1,
            b'\r' => {
                n += 1;
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    n
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

/// One data line and the header's column positions. Each check names the field after its
/// column, so that a message tells the operator which cell to fix.
struct Cells<'a> {
    row: &'a [String],
    at: &'a HashMap<String, usize>,
}

impl<'a> Cells<'a> {
    /// The cell of the named column; empty when the file has no such column.
    fn get(&self, col: &str) -> &'a str {
        self.at
            .get(col)
            .and_then(|&i| self.row.get(i))
            .map_or("", |s| s.as_str())
    }

    fn text(&self, e: &mut FieldErrors, col: &'static str, required: bool, max: usize) -> String {
        fields::text(e, col, self.get(col), required, max)
    }

    fn date(&self, e: &mut FieldErrors, col: &'static str) -> Option<String> {
        fields::date(e, col, self.get(col))
    }

    fn domains(&self, e: &mut FieldErrors, col: &'static str) -> Vec<String> {
        fields::parse_domains(e, col, self.get(col))
    }

    /// A yes/no cell (`directory::csv::parse_yes_no`); anything else is a field error.
    fn yes(&self, e: &mut FieldErrors, col: &'static str) -> bool {
        let v = self.get(col);
        parse_yes_no(v).unwrap_or_else(|| {
            e.add(
                col,
                format!(
                    "« {} » : attendu « oui » ou « non ».",
                    v.trim().to_lowercase()
                ),
            );
            false
        })
    }
}

fn describe(errors: &FieldErrors) -> String {
    errors
        .0
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Bare CR line ends (old spreadsheet software), mixed with the others.
        let (_, rows) = read("Nom;Prénom\rA;B\r\rC;D\r\nE;F\n".as_bytes()).unwrap();
        assert_eq!(
            rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert_eq!(line_breaks(b"a\rb\r\nc\nd\n\r"), 5);
    }
}
