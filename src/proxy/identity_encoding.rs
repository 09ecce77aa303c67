//! The one encoding of identity header values (docs/gateway.md#identity-header-encoding).
//!
//! Directory text (names, structure names, e-mails) may hold any character, including the ones
//! that delimit a list of grants (`,`, `@`, `/`), so every value is percent-encoded as UTF-8
//! bytes, leaving only the RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~` as they are.
//! After encoding, `,`, `@`, `/` and `%` never occur inside a component, so an application can
//! split a roles header naively on `,`, then `@`, then `/`, and only then percent-decode each
//! piece (`decodeURIComponent`, `urllib.parse.unquote`, `rawurldecode`...). `+` is encoded too,
//! so decoders that read `+` as a space (form decoding) cannot misread a value either.

/// Appends `s`, percent-encoded, to `out`.
pub fn encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// One value (e-mail, name, identifier), percent-encoded.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(s, &mut out);
    out
}

/// A structure path, from the root to the structure: each name encoded, joined by `/`.
pub fn encode_path<S: AsRef<str>>(names: &[S]) -> String {
    let mut out = String::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_into(n.as_ref(), &mut out);
    }
    out
}

/// The roles header: `role@path` per grant, comma-separated, each part encoded.
pub fn encode_grants<'a, S: AsRef<str> + 'a>(
    grants: impl IntoIterator<Item = (&'a str, &'a [S])>,
) -> String {
    let mut out = String::new();
    for (i, (role, path)) in grants.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_into(role, &mut out);
        out.push('@');
        out.push_str(&encode_path(path));
    }
    out
}

/// Decodes one encoded value. `None` for what [`encode`] never produces: a byte outside the
/// unreserved set and `%`, a truncated or non-hexadecimal escape, or invalid UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes a structure path into its names, root first.
pub fn decode_path(s: &str) -> Option<Vec<String>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split('/').map(decode).collect()
}

/// Decodes a roles header into `(role, path)` pairs: what an application does with it.
pub fn decode_grants(s: &str) -> Option<Vec<(String, Vec<String>)>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',')
        .map(|entry| {
            let (role, path) = entry.split_once('@')?;
            Some((decode(role)?, decode_path(path)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_pass_and_everything_else_is_escaped() {
        assert_eq!(encode("mairie-exemple_2.0~"), "mairie-exemple_2.0~");
        assert_eq!(encode("a@b.fr"), "a%40b.fr");
        assert_eq!(encode("CCAS d'Exemple"), "CCAS%20d%27Exemple");
        assert_eq!(encode("Agnès"), "Agn%C3%A8s");
        assert_eq!(encode("a+b%c"), "a%2Bb%25c");
        assert_eq!(encode("\0\r\n"), "%00%0D%0A");
    }

    #[test]
    fn delimiters_in_names_cannot_forge_a_grant() {
        // A structure named to look like a second grant once the header is split naively.
        let evil = "x,administrateur@cig";
        let header = encode_grants([("utilisateur", &["mairie", evil][..])]);
        assert_eq!(header.split(',').count(), 1, "{header}");
        assert_eq!(header.matches('@').count(), 1, "{header}");
        assert_eq!(
            decode_grants(&header).unwrap(),
            vec![(
                "utilisateur".to_string(),
                vec!["mairie".to_string(), evil.to_string()]
            )]
        );
        let slash = encode_path(&["a/b", "c / d"]);
        assert_eq!(decode_path(&slash).unwrap(), vec!["a/b", "c / d"]);
    }

    #[test]
    fn round_trips_and_rejects_what_encode_never_produces() {
        for s in ["", "é", "%", "%%41", "a b", "\u{1F600}", "日本", "x\u{7f}"] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s));
        }
        for bad in ["%", "%4", "%G0", "a b", "a,b", "%FF", "é"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        let grants = encode_grants([("r1", &["a"][..]), ("r,2", &["b", "c@d"][..])]);
        assert_eq!(grants, "r1@a,r%2C2@b/c%40d");
        assert_eq!(decode_grants("").unwrap(), vec![]);
        assert_eq!(decode_grants("noat"), None);
    }
}
