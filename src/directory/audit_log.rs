//! Reading the audit log for the "Journal" page and its export, restricted to the viewer's
//! structures, and the non-reversible references that replace e-mails of deleted accounts.

use super::access::Scope;
use super::query::{contains_pattern, Sql};
use super::DResult;
use super::Directory;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::Row;

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: String,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub structure: String,
    pub client_ip: String,
    pub details: String,
}

/// The reference that stands for the e-mail of a deleted account in the audit log
/// (docs/product.md#account-deletion): an HMAC-SHA256 under the gateway secret, so it cannot be
/// reversed by guessing addresses without the secret, yet all events of one person stay linked.
pub fn pseudonym(secret: &[u8], email: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return "supprimé".to_string();
    };
    mac.update(b"deleted-user:");
    mac.update(email.trim().to_lowercase().as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("supprimé-{hex}")
}

fn filtered(select: &str, scope: &Scope, f: &AuditFilter) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {select} FROM audit_events e LEFT JOIN structures s ON s.id = e.structure_id WHERE 1 = 1"
    ));
    sql.and_scope("s.path", scope);
    if !f.action.is_empty() {
        let a = sql.text(&f.action);
        sql.push(&format!(" AND e.action = {a}"));
    }
    if let Some(from) = f.from {
        let p = sql.int(from);
        sql.push(&format!(" AND e.at >= {p}"));
    }
    if let Some(until) = f.until {
        let p = sql.int(until);
        sql.push(&format!(" AND e.at < {p}"));
    }
    if f.text.trim().chars().count() >= 1 {
        let pat = sql.text(&contains_pattern(&f.text));
        sql.push(&format!(
            " AND (LOWER(e.actor) LIKE {pat} ESCAPE '\\' OR LOWER(e.target) LIKE {pat} ESCAPE '\\' \
             OR LOWER(e.details) LIKE {pat} ESCAPE '\\')"
        ));
    }
    sql
}

const COLUMNS: &str = "e.id, e.at, e.actor, e.action, e.target, s.path, e.client_ip, e.details";

impl Directory {
    async fn audit_rows(&self, sql: Sql) -> DResult<Vec<AuditRow>> {
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut paths = Vec::with_capacity(rows.len());
        for r in &rows {
            let path: Option<String> = r.try_get(5)?;
            paths.push(path.unwrap_or_default());
            out.push(AuditRow {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                target: r.try_get(4)?,
                structure: String::new(),
                client_ip: r.try_get(6)?,
                details: r.try_get(7)?,
            });
        }
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let labels = self.display_names(&refs).await?;
        for (row, path) in out.iter_mut().zip(paths.iter()) {
            row.structure = labels.get(path).cloned().unwrap_or_default();
        }
        Ok(out)
    }

    /// A page of events, newest first, with the total.
    pub async fn list_audit(
        &self,
        scope: &Scope,
        f: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> DResult<(i64, Vec<AuditRow>)> {
        let total: i64 = filtered("COUNT(*)", scope, f)
            .query()
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let mut sql = filtered(COLUMNS, scope, f);
        let l = sql.int(limit);
        let o = sql.int(offset);
        sql.push(&format!(" ORDER BY e.id DESC LIMIT {l} OFFSET {o}"));
        Ok((total, self.audit_rows(sql).await?))
    }

    /// A keyset page of events with ids below `before` (newest first), for the export.
    pub async fn audit_page(
        &self,
        scope: &Scope,
        f: &AuditFilter,
        before: i64,
        limit: i64,
    ) -> DResult<Vec<AuditRow>> {
        let mut sql = filtered(COLUMNS, scope, f);
        let b = sql.int(before);
        let l = sql.int(limit);
        sql.push(&format!(" AND e.id < {b} ORDER BY e.id DESC LIMIT {l}"));
        self.audit_rows(sql).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pseudonym_is_stable_keyed_and_hides_the_address() {
        let a = super::pseudonym(b"k1", "Agent@Mairie.fr");
        assert_eq!(a, super::pseudonym(b"k1", "agent@mairie.fr"));
        assert_ne!(a, super::pseudonym(b"k2", "agent@mairie.fr"));
        assert!(!a.contains("mairie"));
    }
}
