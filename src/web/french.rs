//! French wording shared by several pages.

/// "3 secondes", "2 minutes": how long to wait, rounded up.
pub fn duration(seconds: i64) -> String {
    if seconds < 60 {
        format!("{seconds} seconde{}", if seconds > 1 { "s" } else { "" })
    } else {
        let minutes = (seconds + 59) / 60;
        format!("{minutes} minute{}", if minutes > 1 { "s" } else { "" })
    }
}

/// "05/03/2027": a day as French pages write it (UTC).
pub fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|d| format!("{:02}/{:02}/{}", d.day(), d.month() as u8, d.year()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_in_french() {
        assert_eq!(super::date(0), "01/01/1970");
        assert_eq!(super::date(1_800_000_000), "15/01/2027");
    }

    #[test]
    fn durations_in_french() {
        assert_eq!(super::duration(1), "1 seconde");
        assert_eq!(super::duration(30), "30 secondes");
        assert_eq!(super::duration(61), "2 minutes");
        assert_eq!(super::duration(60), "1 minute");
    }
}
