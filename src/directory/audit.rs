//! The audit log (docs/product.md#audit-journal): one row per change, login success or
//! failure, logout and export.

use super::audit_action::AuditAction;
use super::{now, DResult, Directory};

#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub actor_id: Option<i64>,
    /// E-mail of the actor as typed (failed logins included).
    pub actor: &'a str,
    pub action: AuditAction,
    pub target: &'a str,
    pub structure_id: Option<i64>,
    pub client_ip: &'a str,
    pub details: &'a str,
}

impl AuditEvent<'_> {
    /// An event with nothing but its action, to complete with `..AuditEvent::of(action)`.
    pub fn of(action: AuditAction) -> Self {
        AuditEvent {
            actor_id: None,
            actor: "",
            action,
            target: "",
            structure_id: None,
            client_ip: "",
            details: "",
        }
    }
}

impl Directory {
    pub async fn audit(&self, e: AuditEvent<'_>) -> DResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, actor_id, actor, action, target, structure_id, client_ip, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now())
        .bind(e.actor_id)
        .bind(e.actor)
        .bind(e.action.as_str())
        .bind(e.target)
        .bind(e.structure_id)
        .bind(e.client_ip)
        .bind(e.details)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes audit events older than `days` days; returns how many went.
    pub async fn purge_audit(&self, days: u32) -> DResult<u64> {
        let cutoff = now() - i64::from(days) * 86_400;
        let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn count_audit(&self, action: &str) -> DResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = $1")
                .bind(action)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
