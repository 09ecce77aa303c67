//! Which return URLs may be followed after a login or a handshake (docs/security.md#redirects).
//!
//! Browsers drop tabs and line breaks anywhere in a URL, trim leading control characters and
//! spaces, and read `\` as `/`: `/<TAB>/evil.example` becomes `//evil.example`, another site. So
//! a return URL with any control character, any whitespace or any backslash is refused outright
//! rather than cleaned, and a local path must start with exactly one `/`.

/// True when `s` has none of the characters a browser may drop, trim or reinterpret, nor the
/// invisible format characters (zero-width, bidirectional) that make a URL read as another.
pub fn has_no_ambiguous_chars(s: &str) -> bool {
    !s.chars().any(|c| {
        c.is_control()
            || c.is_whitespace()
            || c == '\\'
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
    })
}

/// True for a path on this same host: `/`, then anything but a second `/`, with no character
/// a browser could reinterpret.
pub fn is_local_path(s: &str) -> bool {
    let b = s.as_bytes();
    b.first() == Some(&b'/')
        && b.get(1) != Some(&b'/')
        && s.len() <= 2048
        && has_no_ambiguous_chars(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_exclude_every_way_off_site() {
        for ok in ["/", "/aia", "/a/b?x=1&y=%2F%2F", "/%09/evil.example", "/é"] {
            assert!(is_local_path(ok), "{ok:?}");
        }
        let mut bad: Vec<String> = [
            "",
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "evil.example",
            "https://evil.example",
            "/ /evil.example",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every control character and every kind of whitespace, anywhere.
        for c in (0u32..0x20).chain([0x7f, 0x85, 0xa0, 0x2028, 0x3000, 0xfeff, 0x200b, 0x202e]) {
            let c = char::from_u32(c).unwrap();
            bad.push(format!("/{c}/evil.example"));
            bad.push(format!("{c}//evil.example"));
            bad.push(format!("/aia{c}"));
        }
        for b in &bad {
            assert!(!is_local_path(b), "{b:?}");
        }
    }
}
