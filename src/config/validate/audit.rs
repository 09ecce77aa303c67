//! `[audit]`: how long the journal keeps its events (docs/product.md#audit-journal).

use super::Problems;
use crate::config::file::AuditSection;

/// Returns the retention in days.
pub(super) fn check(a: &AuditSection, p: &mut Problems) -> u32 {
    if a.retention_days == 0 {
        p.add("audit.retention_days", "must be at least 1");
    }
    a.retention_days
}
