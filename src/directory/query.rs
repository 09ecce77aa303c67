//! A tiny builder for the dynamic SQL of listings and filters: the text only ever receives
//! generated `$n` placeholders, values travel as bound arguments (portable to SQLite and
//! PostgreSQL through the Any driver).

use super::access::{subtree_upper, Scope};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
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
    pub fn new(sql: &'static str) -> Sql {
        Sql {
            text: sql.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends SQL written in the code: only `&'static str`, so that a value can reach the
    /// statement only as a bound argument ([`Sql::push_int`], [`Sql::push_text`]).
    pub fn push(&mut self, sql: &'static str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Binds a value and appends its generated placeholder (`$n`).
    fn push_arg(&mut self, a: Arg) -> &mut Self {
        self.args.push(a);
        let n = self.args.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    /// Binds an integer and appends its placeholder.
    pub fn push_int(&mut self, v: i64) -> &mut Self {
        self.push_arg(Arg::Int(v))
    }

    /// Binds a text and appends its placeholder.
    pub fn push_text(&mut self, v: &str) -> &mut Self {
        self.push_arg(Arg::Text(v.to_string()))
    }

    /// Appends `(<p1>, <p2>, ...)`, one bound argument per value (`values` not empty).
    pub fn push_list(&mut self, values: impl IntoIterator<Item = Arg>) -> &mut Self {
        self.text.push('(');
        for (i, a) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.push_arg(a);
        }
        self.text.push(')');
        self
    }

    /// Appends `AND (<col> in one of the subtrees)`; an empty scope matches nothing.
    pub fn and_scope(&mut self, path_col: &'static str, scope: &Scope) -> &mut Self {
        match scope {
            Scope::All => {}
            Scope::Subtrees(paths) if paths.is_empty() => {
                self.push(" AND 1 = 0");
            }
            Scope::Subtrees(paths) => {
                self.push(" AND (");
                for (i, p) in paths.iter().enumerate() {
                    if i > 0 {
                        self.push(" OR ");
                    }
                    self.push("(").push(path_col).push(" >= ").push_text(p);
                    self.push(" AND ").push(path_col).push(" < ");
                    self.push_text(&subtree_upper(p)).push(")");
                }
                self.push(")");
            }
        }
        self
    }

    /// Appends `AND <col> IN ($a, $b, ...)`; an empty list matches nothing.
    pub fn and_in(&mut self, col: &'static str, ids: &[i64]) -> &mut Self {
        if ids.is_empty() {
            return self.push(" AND 1 = 0");
        }
        self.push(" AND ").push(col).push(" IN ");
        self.push_list(ids.iter().map(|i| Arg::Int(*i)))
    }

    /// The SQL written so far (for tests and plans).
    pub fn sql(&self) -> &str {
        &self.text
    }

    pub fn query(&self) -> Query<'static, Any, AnyArguments> {
        self.query_with_prefix("")
    }

    /// The query, its rows read as `T` (by column name).
    pub fn query_as<T>(&self) -> QueryAs<'static, Any, T, AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        let mut q = sqlx::query_as(self.safe_text(""));
        for a in &self.args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }

    /// The query, the first column of its rows read as `T`.
    pub fn query_scalar<T>(&self) -> QueryScalar<'static, Any, T, AnyArguments>
    where
        (T,): for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        let mut q = sqlx::query_scalar(self.safe_text(""));
        for a in &self.args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }

    /// The query behind `prefix` (`EXPLAIN QUERY PLAN `: the benchmark shows the plans of the
    /// exact statements the directory runs).
    pub fn query_with_prefix(&self, prefix: &'static str) -> Query<'static, Any, AnyArguments> {
        let mut q = sqlx::query(self.safe_text(prefix));
        for a in &self.args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }

    /// Only code-written SQL and generated placeholders are in `text`.
    fn safe_text(&self, prefix: &'static str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(format!("{prefix}{}", self.text))
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

    fn texts(s: &Sql) -> Vec<String> {
        s.args
            .iter()
            .map(|a| match a {
                Arg::Int(i) => format!("int {i}"),
                Arg::Text(t) => format!("text {t}"),
            })
            .collect()
    }

    #[test]
    fn scope_binds_ranges() {
        let mut s = Sql::new("SELECT 1 FROM structures s WHERE 1 = 1");
        s.and_scope("s.path", &Scope::Subtrees(vec!["/2/".into()]));
        assert_eq!(
            s.sql(),
            "SELECT 1 FROM structures s WHERE 1 = 1 AND ((s.path >= $1 AND s.path < $2))"
        );
        assert_eq!(texts(&s), ["text /2/", "text /20"]);
    }

    #[test]
    fn scope_of_several_subtrees_is_a_disjunction() {
        let mut s = Sql::new("W");
        s.and_scope("p", &Scope::Subtrees(vec!["/1/".into(), "/3/".into()]));
        assert_eq!(
            s.sql(),
            "W AND ((p >= $1 AND p < $2) OR (p >= $3 AND p < $4))"
        );
        assert_eq!(texts(&s), ["text /1/", "text /10", "text /3/", "text /30"]);
    }

    #[test]
    fn empty_scope_matches_nothing_and_all_adds_nothing() {
        let mut e = Sql::new("x");
        e.and_scope("p", &Scope::Subtrees(vec![]));
        assert_eq!(e.sql(), "x AND 1 = 0");
        assert!(e.args.is_empty());
        let mut a = Sql::new("x");
        a.and_scope("p", &Scope::All);
        assert_eq!(a.sql(), "x");
        assert!(a.args.is_empty());
    }

    #[test]
    fn in_list_binds_each_id() {
        let mut s = Sql::new("SELECT id FROM t WHERE 1 = 1");
        s.and_in("t.id", &[7, 9, 11]);
        assert_eq!(
            s.sql(),
            "SELECT id FROM t WHERE 1 = 1 AND t.id IN ($1, $2, $3)"
        );
        assert_eq!(texts(&s), ["int 7", "int 9", "int 11"]);
        let mut e = Sql::new("x");
        e.and_in("t.id", &[]);
        assert_eq!(e.sql(), "x AND 1 = 0");
        assert!(e.args.is_empty());
    }

    #[test]
    fn values_only_travel_as_arguments() {
        let mut s = Sql::new("SELECT 1 WHERE a = ");
        s.push_text("x' OR 1 = 1 --").push(" LIMIT ").push_int(5);
        s.push(" AND b IN ")
            .push_list([Arg::Text("p".into()), Arg::Int(2)]);
        assert_eq!(s.sql(), "SELECT 1 WHERE a = $1 LIMIT $2 AND b IN ($3, $4)");
        assert_eq!(
            texts(&s),
            ["text x' OR 1 = 1 --", "int 5", "text p", "int 2"]
        );
    }
}
