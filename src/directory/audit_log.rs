//! Reading the audit log for the "Journal" page and its export, restricted to the viewer's
//! structures, and the non-reversible references that replace e-mails of deleted accounts.

use super::access::Scope;
use super::query::{contains_pattern, Sql};
use super::DResult;
use super::Directory;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: String,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    pub text: String,
}

/// One event (read from `COLUMNS`; `structure`, the name of its structure, is filled
/// afterwards).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[sqlx(skip)]
    pub structure: String,
    /// The path of its structure, `None` without one or when the structure is gone.
    #[sqlx(rename = "structure_path")]
    path: Option<String>,
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

fn filtered(select: &'static str, scope: &Scope, f: &AuditFilter) -> Sql {
    let mut sql = Sql::new("SELECT ");
    sql.push(select)
        .push(" FROM audit_events e LEFT JOIN structures s ON s.id = e.structure_id WHERE 1 = 1");
    sql.and_scope("s.path", scope);
    if !f.action.is_empty() {
        sql.push(" AND e.action = ").push_text(&f.action);
    }
    if let Some(from) = f.from {
        sql.push(" AND e.at >= ").push_int(from);
    }
    if let Some(until) = f.until {
        sql.push(" AND e.at < ").push_int(until);
    }
    if f.text.trim().chars().count() >= 1 {
        let pat = contains_pattern(&f.text);
        sql.push(" AND (LOWER(e.actor) LIKE ")
            .push_text(&pat)
            .push(" ESCAPE '\\' OR LOWER(e.target) LIKE ")
            .push_text(&pat)
            .push(" ESCAPE '\\' OR LOWER(e.details) LIKE ")
            .push_text(&pat)
            .push(" ESCAPE '\\')");
    }
    sql
}

/// The columns of an [`AuditRow`].
const COLUMNS: &str = "e.id, e.at, e.actor, e.action, e.target, s.path AS structure_path, \
     e.client_ip, e.details";

impl Directory {
    async fn audit_rows(&self, sql: Sql) -> DResult<Vec<AuditRow>> {
        let mut out: Vec<AuditRow> = sql.query_as().fetch_all(&self.pool).await?;
        let refs: Vec<&str> = out
            .iter()
            .map(|r| r.path.as_deref().unwrap_or_default())
            .collect();
        let labels = self.display_names(&refs).await?;
        for row in &mut out {
            let path = row.path.as_deref().unwrap_or_default();
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
            .query_scalar()
            .fetch_one(&self.pool)
            .await?;
        let mut sql = filtered(COLUMNS, scope, f);
        sql.push(" ORDER BY e.id DESC LIMIT ")
            .push_int(limit)
            .push(" OFFSET ")
            .push_int(offset);
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
        sql.push(" AND e.id < ")
            .push_int(before)
            .push(" ORDER BY e.id DESC LIMIT ")
            .push_int(limit);
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
