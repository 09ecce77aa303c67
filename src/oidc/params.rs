//! Parameters of a query string or form body as OAuth reads them: each at most once (RFC 6749
//! section 3.1), so that two `redirect_uri` or two `client_id` cannot be read differently by
//! two parts of the provider.

use std::collections::HashMap;

/// Longest query or body accepted.
pub const MAX_LEN: usize = 16 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum ParamsError {
    TooLong,
    /// A parameter given twice (its name).
    Repeated(String),
}

/// Decoded parameters; empty values count as absent (RFC 6749 section 3.1).
pub fn parse(raw: &[u8]) -> Result<HashMap<String, String>, ParamsError> {
    if raw.len() > MAX_LEN {
        return Err(ParamsError::TooLong);
    }
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if v.is_empty() {
            continue;
        }
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(ParamsError::Repeated(k.into_owned()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let p = parse(b"a=1&b=&c=%20x").unwrap();
        assert_eq!(p.get("a").map(String::as_str), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c").map(String::as_str), Some(" x"));
        assert_eq!(
            parse(b"redirect_uri=a&redirect_uri=b"),
            Err(ParamsError::Repeated("redirect_uri".into()))
        );
        assert_eq!(parse(&vec![b'a'; MAX_LEN + 1]), Err(ParamsError::TooLong));
    }
}
