//! The browser and system named by a `User-Agent` header, in French, for the pages that list a
//! user's sessions and sign-ins (docs/security.md#sessions-and-sign-ins). The classification is
//! woothee's (a maintained dataset of the common browsers and systems); this module only turns
//! it into short labels. The header is whatever the client sent: the labels are bounded, free of
//! control characters, and the parser runs on a bounded prefix.

/// What is shown of a user agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// "Firefox 128", "Chrome 120", "Navigateur inconnu".
    pub browser: String,
    /// "Windows 10", "macOS", "Android 14", "Système inconnu".
    pub system: String,
}

impl Agent {
    /// "Firefox 128 sur Windows 10".
    pub fn label(&self) -> String {
        format!("{} sur {}", self.browser, self.system)
    }
}

/// The longest header read; real ones are well below (the session keeps 256 characters).
const MAX_INPUT: usize = 512;
/// The longest label part shown.
const MAX_PART: usize = 40;

pub const UNKNOWN_BROWSER: &str = "Navigateur inconnu";
pub const UNKNOWN_SYSTEM: &str = "Système inconnu";

fn known(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN).then_some(s)
}

/// Keeps printable characters only, at most `MAX_PART` of them.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_PART)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The major version: "128.0.1" → "128".
fn major(version: &str) -> Option<&str> {
    let m = version.split('.').next()?.trim();
    (!m.is_empty() && m.len() <= 6 && m.bytes().all(|b| b.is_ascii_digit())).then_some(m)
}

fn system_of(os: &str, os_version: &str) -> String {
    match os {
        "Mac OSX" => "macOS".to_string(),
        "iPhone" | "iPad" | "iPod" => format!("iOS ({os})"),
        "Android" => match major(os_version) {
            Some(v) => format!("Android {v}"),
            None => "Android".to_string(),
        },
        other => other.to_string(),
    }
}

pub fn describe(header: &str) -> Agent {
    let mut end = header.len().min(MAX_INPUT);
    while !header.is_char_boundary(end) {
        end -= 1;
    }
    let input = &header[..end];
    let parsed = woothee::parser::Parser::new().parse(input);
    let Some(r) = parsed else {
        return Agent {
            browser: UNKNOWN_BROWSER.into(),
            system: UNKNOWN_SYSTEM.into(),
        };
    };
    let browser = if r.category == "crawler" {
        "Robot".to_string()
    } else {
        match (known(r.name), known(r.version).and_then(major)) {
            (Some(name), Some(v)) => format!("{name} {v}"),
            (Some(name), None) => name.to_string(),
            (None, _) => UNKNOWN_BROWSER.to_string(),
        }
    };
    let system = match known(r.os) {
        Some(os) => system_of(os, &r.os_version),
        None => UNKNOWN_SYSTEM.to_string(),
    };
    let (browser, system) = (clean(&browser), clean(&system));
    Agent {
        browser: if browser.is_empty() {
            UNKNOWN_BROWSER.into()
        } else {
            browser
        },
        system: if system.is_empty() {
            UNKNOWN_SYSTEM.into()
        } else {
            system
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ua: &str) -> (String, String) {
        let a = describe(ua);
        (a.browser, a.system)
    }

    #[test]
    fn common_browsers() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox 128",
                "Windows 10",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome 120",
                "Windows 10",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                "Edge 120",
                "Windows 10",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                "Safari 17",
                "macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                "Safari 17",
                "iOS (iPhone)",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                "Chrome 120",
                "Android 14",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox 121",
                "Linux",
            ),
        ];
        for (ua, browser, system) in cases {
            assert_eq!(d(ua), (browser.to_string(), system.to_string()), "{ua}");
        }
    }

    #[test]
    fn unknown_and_hostile_input() {
        assert_eq!(
            d(""),
            (UNKNOWN_BROWSER.to_string(), UNKNOWN_SYSTEM.to_string())
        );
        assert_eq!(
            d("curl/8.5.0").1,
            UNKNOWN_SYSTEM.to_string(),
            "a tool names no system"
        );
        assert_eq!(
            describe("Googlebot/2.1 (+http://www.google.com/bot.html)").browser,
            "Robot"
        );
        for ua in [
            "\u{0}\u{1}\u{7f}",
            "Firefox/\u{202e}999999999999999999999",
            &"é".repeat(2000),
            "Mozilla/5.0 (Windows NT",
        ] {
            let a = describe(ua);
            assert!(a.browser.chars().count() <= MAX_PART && !a.browser.is_empty());
            assert!(a.system.chars().count() <= MAX_PART && !a.system.is_empty());
            assert!(!a.label().chars().any(|c| c.is_control()));
        }
    }
}
