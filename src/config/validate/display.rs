//! `[display]`: the time zone that people read times in. Only IANA names are accepted, so
//! that summer and winter time follow the zone's rules (a fixed offset would be wrong half the
//! year).

use super::Problems;
use crate::config::file::DisplaySection;

pub(super) fn check(s: &DisplaySection, p: &mut Problems) -> jiff::tz::TimeZone {
    let name = s.time_zone.trim();
    match jiff::tz::TimeZone::get(name) {
        Ok(tz) if tz.iana_name().is_some() => tz,
        _ => {
            p.add(
                "display.time_zone",
                format!(
                    "{name:?} is not a known time zone (an IANA name such as \"Europe/Paris\")"
                ),
            );
            jiff::tz::TimeZone::UTC
        }
    }
}
