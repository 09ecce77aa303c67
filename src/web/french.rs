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

#[cfg(test)]
mod tests {
    #[test]
    fn durations_in_french() {
        assert_eq!(super::duration(1), "1 seconde");
        assert_eq!(super::duration(30), "30 secondes");
        assert_eq!(super::duration(61), "2 minutes");
        assert_eq!(super::duration(60), "1 minute");
    }
}
