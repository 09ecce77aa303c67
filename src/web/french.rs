//! French wording shared by several pages, and times as people read them: in the configured
//! zone (`[display].time_zone`, Europe/Paris by default) with its summer and winter time, never
//! in UTC (docs/product.md#times).

use jiff::tz::TimeZone;

/// "3 secondes", "2 minutes": how long to wait, rounded up.
pub fn duration(seconds: i64) -> String {
    if seconds < 60 {
        format!("{seconds} seconde{}", if seconds > 1 { "s" } else { "" })
    } else {
        let minutes = (seconds + 59) / 60;
        format!("{minutes} minute{}", if minutes > 1 { "s" } else { "" })
    }
}

fn civil(unix: i64, tz: &TimeZone) -> Option<jiff::civil::DateTime> {
    jiff::Timestamp::from_second(unix)
        .ok()
        .map(|t| tz.to_datetime(t))
}

/// "05/03/2027": the day of a Unix time in `tz`.
pub fn date(unix: i64, tz: &TimeZone) -> String {
    civil(unix, tz)
        .map(|d| format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()))
        .unwrap_or_default()
}

/// "24/11/2026 10:05": a Unix time in `tz`.
pub fn date_time(unix: i64, tz: &TimeZone) -> String {
    civil(unix, tz)
        .map(|d| {
            format!(
                "{:02}/{:02}/{} {:02}:{:02}",
                d.day(),
                d.month(),
                d.year(),
                d.hour(),
                d.minute()
            )
        })
        .unwrap_or_default()
}

/// What the times of a page are in, for its headings and notes: "heure de Paris" for
/// Europe/Paris, "heure de Cayenne" for America/Cayenne, "temps universel (UTC)" for UTC.
pub fn zone_label(tz: &TimeZone) -> String {
    match tz.iana_name() {
        None | Some("UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" | "Etc/Universal" | "Universal") => {
            "temps universel (UTC)".to_string()
        }
        Some(name) => {
            let city = name.rsplit('/').next().unwrap_or(name).replace('_', " ");
            format!("heure de {city}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    #[test]
    fn dates_in_french() {
        assert_eq!(date(0, &TimeZone::UTC), "01/01/1970");
        assert_eq!(date(1_800_000_000, &paris()), "15/01/2027");
        // 23:30 UTC on 31 December is already the next day in Paris.
        assert_eq!(date(1_798_759_800, &TimeZone::UTC), "31/12/2026");
        assert_eq!(date(1_798_759_800, &paris()), "01/01/2027");
    }

    #[test]
    fn times_follow_summer_and_winter_time() {
        // 2026-07-01 10:00 UTC: 12:00 in Paris (UTC+2, summer time).
        assert_eq!(date_time(1_782_900_000, &paris()), "01/07/2026 12:00");
        // 2026-11-24 10:05 UTC: 11:05 in Paris (UTC+1, winter time).
        assert_eq!(date_time(1_795_514_700, &paris()), "24/11/2026 11:05");
        assert_eq!(date_time(1_795_514_700, &TimeZone::UTC), "24/11/2026 10:05");
        // The night the clocks go back (2026-10-25): 00:30 and 01:30 UTC are 02:30 and 02:30.
        assert_eq!(date_time(1_792_888_200, &paris()), "25/10/2026 02:30");
        assert_eq!(date_time(1_792_891_800, &paris()), "25/10/2026 02:30");
    }

    #[test]
    fn zones_are_named_for_people() {
        assert_eq!(zone_label(&paris()), "heure de Paris");
        assert_eq!(zone_label(&TimeZone::UTC), "temps universel (UTC)");
        let cayenne = TimeZone::get("America/Cayenne").unwrap();
        assert_eq!(zone_label(&cayenne), "heure de Cayenne");
    }

    #[test]
    fn durations_in_french() {
        assert_eq!(duration(1), "1 seconde");
        assert_eq!(duration(30), "30 secondes");
        assert_eq!(duration(61), "2 minutes");
        assert_eq!(duration(60), "1 minute");
    }
}
