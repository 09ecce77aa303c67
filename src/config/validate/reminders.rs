//! `[reminders]`: the daily mail to référents (docs/product.md#directory).

use super::Problems;
use crate::config::file::RemindersSection;
use crate::config::model::Reminders;

pub(super) fn check(r: &RemindersSection, p: &mut Problems) -> Reminders {
    if r.hour > 23 {
        p.add("reminders.hour", "must be between 0 and 23");
    }
    if r.expiring_within_days == 0 || r.unused_for_days == 0 {
        p.add(
            "reminders.expiring_within_days",
            "reminder periods must be at least one day",
        );
    }
    Reminders {
        enabled: r.enabled,
        hour: r.hour,
        expiring_within_days: r.expiring_within_days,
        unused_for_days: r.unused_for_days,
    }
}
