//! A tiny builder for the dynamic SQL of listings and filters: the text only ever receives
//! generated `$n` placeholders, values travel as bound arguments (portable to SQLite and
//! PostgreSQL through the Any driver).

use super::access::{subtree_upper, Scope};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

#[derive(Clone, Debug)]
pub enum Arg {
    Int(i64),
    Text(String),
}

#[derive(Clone, Debug, Default)]
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends literal SQL written in the code (never user input).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Binds a value and returns its placeholder.
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    pub fn int(&mut self, v: i64) -> String {
        self.arg(Arg::Int(v))
    }

    pub fn text(&mut self, v: &str) -> String {
        self.arg(Arg::Text(v.to_string()))
    }

    /// Appends `AND (<col> in one of the subtrees)`; an empty scope matches nothing.
    pub fn and_scope(&mut self, path_col: &str, scope: &Scope) -> &mut Self {
        match scope {
            Scope::All => {}
            Scope::Subtrees(paths) if paths.is_empty() => {
                self.push(" AND 1 = 0");
            }
            Scope::Subtrees(paths) => {
                let mut parts = Vec::with_capacity(paths.len());
                for p in paths {
                    let lo = self.text(p);
                    let hi = self.text(&subtree_upper(p));
                    parts.push(format!("({path_col} >= {lo} AND {path_col} < {hi})"));
                }
                let cond = format!(" AND ({})", parts.join(" OR "));
                self.push(&cond);
            }
        }
        self
    }

    /// Appends `AND <col> IN ($a, $b, ...)`; an empty list matches nothing.
    pub fn and_in(&mut self, col: &str, ids: &[i64]) -> &mut Self {
        if ids.is_empty() {
            self.push(" AND 1 = 0");
            return self;
        }
        let ph: Vec<String> = ids.iter().map(|i| self.int(*i)).collect();
        let cond = format!(" AND {col} IN ({})", ph.join(", "));
        self.push(&cond);
        self
    }

    /// The SQL written so far (for tests and plans).
    pub fn sql(&self) -> &str {
        &self.text
    }

    pub fn query(&self) -> Query<'static, Any, AnyArguments> {
        self.query_with_prefix("")
    }

    /// The query behind `prefix` (`EXPLAIN QUERY PLAN `: the benchmark shows the plans of the
    /// exact statements the directory runs).
    pub fn query_with_prefix(&self, prefix: &str) -> Query<'static, Any, AnyArguments> {
        // Only code-written SQL and generated placeholders are in `text`.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("{prefix}{}", self.text)));
        for a in &self.args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }
}

/// A `LIKE` pattern matching `needle` anywhere, lower-cased, with `%`, `_` and `\` escaped
/// (use with `ESCAPE '\'`).
pub fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes_wildcards() {
        assert_eq!(contains_pattern(" Ab%_\\ "), "%ab\\%\\_\\\\%");
    }

    #[test]
    fn scope_binds_ranges() {
        let mut s = Sql::new("SELECT 1 FROM structures s WHERE 1 = 1");
        s.and_scope("s.path", &Scope::Subtrees(vec!["/2/".into()]));
        assert!(s.text.ends_with("AND ((s.path >= $1 AND s.path < $2))"));
        assert_eq!(s.args.len(), 2);
        let mut e = Sql::new("x");
        e.and_scope("p", &Scope::Subtrees(vec![]));
        assert!(e.text.ends_with("1 = 0"));
    }
}
