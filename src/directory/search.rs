//! The directory search (docs/aia.md: from 3 characters, on name, first name, e-mail,
//! service, fonction), made to stay an index lookup at 100 000 accounts.
//!
//! Each account carries a `search_text`: its searchable fields folded (lower case, no accents)
//! and joined by line breaks. SQLite indexes it with an FTS5 trigram table (`user_search`),
//! PostgreSQL with a pg_trgm GIN index on the column; `push_match` writes the condition each
//! index serves.
//! Folding is done here, in Rust, because neither back end folds accents portably, and a French
//! user typing "helene" or "EMILIE" expects "Hélène" and "Émilie".

use super::query::{Arg, Sql};
use super::{Backend, DResult, Directory};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower case without diacritics: "Émilie Lœuvre" → "emilie loeuvre".
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'œ' | 'Œ' => out.push_str("oe"),
            'æ' | 'Æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            // Typographic apostrophes and dashes as typed on a keyboard.
            '\u{2019}' | '\u{2018}' => out.push('\''),
            '\u{2010}'..='\u{2014}' => out.push('-'),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// What an account is found by. "last first" and "first last" are both there so that
/// "jean dup" and "dupont j" find Jean Dupont; fields are separated by line breaks, which a
/// search box cannot contain, so a match never spans two fields.
pub fn search_text(last: &str, first: &str, email: &str, service: &str, job: &str) -> String {
    let (last, first) = (last.trim(), first.trim());
    fold(&format!(
        "{last} {first}\n{first} {last}\n{}\n{}\n{}",
        email.trim(),
        service.trim(),
        job.trim()
    ))
}

/// The folded needle, `None` under `min` characters (after trimming and folding). Control
/// characters (NUL, line breaks, ...) are dropped: none can be typed in a search box, a NUL
/// cannot even be sent to PostgreSQL, and a line break would let a match span two fields.
pub fn needle(q: &str, min: usize) -> Option<String> {
    let q: String = q.chars().filter(|c| !c.is_control()).collect();
    let n = fold(q.trim());
    (n.chars().count() >= min).then_some(n)
}

/// Appends "account `u` (an alias of `users`) contains the folded `needle`" to `sql`, the
/// needle taken literally.
///
/// The one place where the SQL differs by back end. SQLite: an FTS5 phrase query on the trigram
/// table (`MATCH '"mar"'` finds the substring from the index alone, where `LIKE` re-reads and
/// re-tests every candidate row: 3 to 4 times slower for a common trigram). PostgreSQL: `LIKE`
/// on the column, which the pg_trgm index serves (bitmap scan of the matches, combined with the
/// structure ids of a scope when that is cheaper), wildcards escaped.
pub fn push_match(sql: &mut Sql, backend: Backend, u: &'static str, needle: &str) {
    match backend {
        Backend::Sqlite => {
            // An FTS5 string: double quotes doubled; inside it every character is literal.
            let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
            sql.push(" AND ")
                .push(u)
                .push(".id IN (SELECT rowid FROM user_search WHERE user_search MATCH ")
                .push_text(&phrase)
                .push(")");
        }
        Backend::Postgres => {
            sql.push(" AND ")
                .push(u)
                .push(".search_text LIKE ")
                .push_text(&super::query::contains_pattern(needle))
                .push(" ESCAPE '\\'");
        }
    }
}

/// An account whose `search_text` is computed by `backfill_search_text`.
#[derive(sqlx::FromRow)]
struct BackfillRow {
    id: i64,
    last_name: String,
    first_name: String,
    email: String,
    service: String,
    job_title: String,
}

/// Rows computed per statement when filling `search_text` for existing accounts.
const BACKFILL_BATCH: i64 = 500;

impl Directory {
    /// Computes the `search_text` of accounts that have none: rows written before migration
    /// 0004, or inserted by hand in SQL. Idempotent and cheap when there is nothing to do; one
    /// statement per batch of 500 accounts.
    pub async fn backfill_search_text(&self) -> DResult<u64> {
        let mut done = 0u64;
        loop {
            let rows: Vec<BackfillRow> = sqlx::query_as(
                "SELECT id, last_name, first_name, email, service, job_title FROM users \
                 WHERE search_text IS NULL ORDER BY id LIMIT $1",
            )
            .bind(BACKFILL_BATCH)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            // UPDATE ... FROM (VALUES ...): one statement per batch on both back ends, which
            // both name the columns of VALUES column1, column2.
            let mut sql = Sql::new("UPDATE users SET search_text = v.column2 FROM (VALUES ");
            for (i, r) in rows.iter().enumerate() {
                let text = search_text(
                    &r.last_name,
                    &r.first_name,
                    &r.email,
                    &r.service,
                    &r.job_title,
                );
                if i > 0 {
                    sql.push(", ");
                }
                sql.push_list([Arg::Int(r.id), Arg::Text(text)]);
            }
            sql.push(") AS v WHERE users.id = v.column1");
            done += sql.query().execute(&self.pool).await?.rows_affected();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Émilie LŒUVRE"), "emilie loeuvre");
        assert_eq!(
            fold("Hélène d’Aubigné-Saint-Père"),
            "helene d'aubigne-saint-pere"
        );
        assert_eq!(fold("ÇA"), "ca");
    }

    #[test]
    fn search_text_has_both_name_orders_and_every_field() {
        let t = search_text(
            " Dupont ",
            "Jean",
            "jean.dupont@x.fr",
            "Paie",
            "Gestionnaire",
        );
        assert_eq!(
            t,
            "dupont jean\njean dupont\njean.dupont@x.fr\npaie\ngestionnaire"
        );
    }

    #[test]
    fn needle_needs_three_folded_characters() {
        assert_eq!(needle("  Ém ", 3), None);
        assert_eq!(needle(" Émi ", 3).as_deref(), Some("emi"));
        assert_eq!(needle("du\0pont\n", 3).as_deref(), Some("dupont"));
        assert_eq!(needle("\0\0\0", 3), None);
    }

    #[test]
    fn each_back_end_gets_its_indexed_form() {
        let mut sqlite = Sql::new("");
        push_match(&mut sqlite, Backend::Sqlite, "u", "mar");
        assert!(sqlite.sql().contains("MATCH $1"), "{}", sqlite.sql());
        let mut pg = Sql::new("");
        push_match(&mut pg, Backend::Postgres, "u", "mar");
        assert!(pg.sql().contains("LIKE $1 ESCAPE"), "{}", pg.sql());
    }
}
