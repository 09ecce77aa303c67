//! The access token a UserInfo request presents (RFC 6750 section 2): in the
//! `Authorization: Bearer` header (section 2.1), or as `access_token` in a form-encoded POST
//! body (section 2.2; the OpenID Foundation's Basic OP plan tests it, and some clients that
//! cannot set headers use it). Never in the query (section 2.3): an address ends up in logs and
//! histories. One place only: a token in both is refused (section 3.1, `invalid_request`), so
//! that no part of the provider reads one and another part the other.

use super::params;

/// Why no access token could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BearerError {
    /// No token at all (or an `Authorization` header of another scheme).
    Missing,
    /// A form body that does not parse (too long, a repeated parameter).
    Malformed,
    /// A token in the header and another in the body.
    Several,
}

/// The token of a request with `authorization` (the header, if any) and, for a POST, its
/// `content_type` and `body`; a GET passes an empty body.
pub fn presented(
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<String, BearerError> {
    let in_header = authorization.and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        let token = rest.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    let in_body = if is_form(content_type) {
        params::parse(body)
            .map_err(|_| BearerError::Malformed)?
            .remove("access_token")
    } else {
        None
    };
    match (in_header, in_body) {
        (Some(_), Some(_)) => Err(BearerError::Several),
        (Some(t), None) => Ok(t.to_string()),
        (None, Some(t)) => Ok(t),
        (None, None) => Err(BearerError::Missing),
    }
}

/// True for `application/x-www-form-urlencoded`, with or without parameters (a charset).
fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn header_or_form_body_one_at_a_time() {
        assert_eq!(presented(Some("Bearer abc"), None, b""), Ok("abc".into()));
        assert_eq!(presented(Some("bearer  abc "), None, b""), Ok("abc".into()));
        assert_eq!(presented(None, FORM, b"access_token=abc"), Ok("abc".into()));
        assert_eq!(
            presented(
                None,
                Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
                b"access_token=a%2Bb"
            ),
            Ok("a+b".into())
        );
        assert_eq!(
            presented(Some("Bearer abc"), FORM, b"access_token=abc"),
            Err(BearerError::Several)
        );
        assert_eq!(
            presented(Some("Bearer abc"), FORM, b"other=1"),
            Ok("abc".into())
        );
    }

    #[test]
    fn anything_else_is_no_token() {
        assert_eq!(presented(None, None, b""), Err(BearerError::Missing));
        assert_eq!(
            presented(Some("Basic abc"), None, b""),
            Err(BearerError::Missing)
        );
        assert_eq!(
            presented(Some("Bearer "), None, b""),
            Err(BearerError::Missing)
        );
        assert_eq!(
            presented(None, Some("application/json"), b"access_token=abc"),
            Err(BearerError::Missing),
            "only a form body carries a token"
        );
        assert_eq!(
            presented(None, Some("multipart/form-data"), b"access_token=abc"),
            Err(BearerError::Missing)
        );
        assert_eq!(
            presented(None, FORM, b"access_token=a&access_token=b"),
            Err(BearerError::Malformed)
        );
    }
}
