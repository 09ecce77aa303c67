// Patched (Convergences): this module is an addition to pingora-http, see
// `RequestHeader::set_appended_headers`.

//! Header lines a proxy adds to every request it forwards, serialised once.
//!
//! A proxy that tells its upstream who the user is adds the same handful of headers to every
//! request of that user. Inserting them into a [`crate::RequestHeader`] one by one costs two
//! hash-map insertions per header (values and case-preserved names), then a walk of both maps
//! to write them out, on every request. [`AppendedHeaders`] holds such lines already in their
//! HTTP/1.x form (`Name: value\r\n`), checked when they are built, so that a block made once
//! per user can be shared between requests (a reference count, not a copy) and written as it
//! is.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use pingora_error::{ErrorType::InvalidHTTPHeader, Result};

/// Complete header lines (`Name: value\r\n`), well formed by construction: names are
/// [`HeaderName`]s and every value byte is one [`HeaderValue`] accepts (no CR, LF or NUL).
///
/// Two runs of lines, written one after the other: `shared`, a block built earlier and taken
/// as it is (see [`AppendedHeadersBuilder::extend`]), then `own`, the lines added to it.
#[derive(Clone, Debug, Default)]
pub struct AppendedHeaders {
    shared: Bytes,
    own: Bytes,
}

impl PartialEq for AppendedHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.shared.iter().chain(&self.own[..]).eq(other.shared.iter().chain(&other.own[..]))
    }
}

impl Eq for AppendedHeaders {}

/// Builds an [`AppendedHeaders`].
#[derive(Debug, Default)]
pub struct AppendedHeadersBuilder {
    shared: Bytes,
    wire: BytesMut,
}

/// The bytes `HeaderValue::from_bytes` accepts: HTAB, visible ASCII, space, obs-text.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

impl AppendedHeaders {
    /// `capacity`: room for the lines that will be added (not for a block given to
    /// [`AppendedHeadersBuilder::extend`] first, which is kept as it is).
    pub fn builder(capacity: usize) -> AppendedHeadersBuilder {
        AppendedHeadersBuilder {
            shared: Bytes::new(),
            wire: BytesMut::with_capacity(capacity),
        }
    }

    /// The lines as written on an HTTP/1.x connection, in two runs to write one after the
    /// other (either may be empty).
    pub fn chunks(&self) -> [&[u8]; 2] {
        [&self.shared, &self.own]
    }

    /// Writes the lines at the end of `buf`.
    pub fn write_to(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.shared);
        buf.put_slice(&self.own);
    }

    pub fn len(&self) -> usize {
        self.shared.len() + self.own.len()
    }

    /// `first`'s lines, then `then`'s. Blocks of one run each (as a builder makes them from
    /// lines alone) are shared as they are: two reference counts, no copy. Otherwise copied.
    pub fn pair(first: &AppendedHeaders, then: &AppendedHeaders) -> AppendedHeaders {
        if first.shared.is_empty() && then.shared.is_empty() {
            return AppendedHeaders {
                shared: first.own.clone(),
                own: then.own.clone(),
            };
        }
        let mut b = AppendedHeaders::builder(first.len() + then.len());
        first.write_to(&mut b.wire);
        then.write_to(&mut b.wire);
        b.finish()
    }

    /// The same lines in memory of their own: clones of the copy share no reference count
    /// with clones of `self` (a proxy thread can keep one that other threads never touch).
    pub fn deep_copy(&self) -> AppendedHeaders {
        let mut own = BytesMut::with_capacity(self.len());
        self.write_to(&mut own);
        AppendedHeaders {
            shared: Bytes::new(),
            own: own.freeze(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers, for a protocol that does not take them as text (HTTP/2) or for a reader.
    /// Every line was checked when it was added, so none is skipped in practice.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        lines(&self.shared).chain(lines(&self.own))
    }
}

/// The headers of one run of complete lines.
fn lines(wire: &Bytes) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < wire.len() {
            let rest = &wire[at..];
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let line = wire.slice(at..at + end);
            at += end + 2;
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let Ok(name) = HeaderName::from_bytes(&line[..colon]) else {
                continue;
            };
            let value = line.slice(colon + 1..);
            let start = value.iter().position(|&b| b != b' ').unwrap_or(value.len());
            if let Ok(value) = HeaderValue::from_maybe_shared(value.slice(start..)) {
                return Some((name, value));
            }
        }
        None
    })
}

impl AppendedHeadersBuilder {
    /// Adds `name: value`. The name is written as [`crate::RequestHeader`] writes an inserted
    /// one (standard names in their titled form); a value with a byte no header value may
    /// hold (CR, LF, NUL, DEL, another control) is refused and nothing is added.
    pub fn push(&mut self, name: &HeaderName, value: &[u8]) -> Result<()> {
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err(pingora_error::Error::explain(
                InvalidHTTPHeader,
                format!("invalid value for appended header {name}"),
            ));
        }
        let title = crate::case_header_name::titled_header_name_str(name);
        self.wire
            .put_slice(title.unwrap_or(name.as_str()).as_bytes());
        self.wire.put_slice(b": ");
        self.wire.put_slice(value);
        self.wire.put_slice(b"\r\n");
        Ok(())
    }

    /// Adds `name: value` from the parts of a value, written one after the other (no string
    /// is built for it), with the same check as [`Self::push`].
    pub fn push_parts(&mut self, name: &HeaderName, parts: &[&[u8]]) -> Result<()> {
        let mark = self.wire.len();
        let title = crate::case_header_name::titled_header_name_str(name);
        self.wire
            .put_slice(title.unwrap_or(name.as_str()).as_bytes());
        self.wire.put_slice(b": ");
        let value_at = self.wire.len();
        for p in parts {
            self.wire.put_slice(p);
        }
        if !self.wire[value_at..].iter().all(|&b| is_value_byte(b)) {
            self.wire.truncate(mark);
            return Err(pingora_error::Error::explain(
                InvalidHTTPHeader,
                format!("invalid value for appended header {name}"),
            ));
        }
        self.wire.put_slice(b"\r\n");
        Ok(())
    }

    /// Adds the lines of a block built earlier (no check needed). Given first, to a builder
    /// that holds nothing yet, the block is kept as it is (a reference count); otherwise its
    /// lines are copied.
    pub fn extend(&mut self, other: &AppendedHeaders) {
        if self.shared.is_empty() && self.wire.is_empty() && other.shared.is_empty() {
            self.shared = other.own.clone();
        } else {
            other.write_to(&mut self.wire);
        }
    }

    pub fn finish(self) -> AppendedHeaders {
        AppendedHeaders {
            shared: self.shared,
            own: self.wire.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deep_copy_has_the_same_lines_in_its_own_memory() {
        let user = HeaderName::from_static("x-user");
        let mut b = AppendedHeaders::builder(64);
        b.push(&user, b"alice").unwrap();
        let first = b.finish();
        let mut b = AppendedHeaders::builder(64);
        b.extend(&first);
        b.push(&user, b"bob").unwrap();
        let both = b.finish();
        let copy = both.deep_copy();
        assert_eq!(copy, both);
        assert_eq!(copy.chunks()[0], b"");
        assert_ne!(copy.chunks()[1].as_ptr(), both.chunks()[1].as_ptr());
    }

    #[test]
    fn a_pair_writes_both_blocks_in_order_and_shares_single_runs() {
        let user = HeaderName::from_static("x-user");
        let host = HeaderName::from_static("x-host");
        let mut b = AppendedHeaders::builder(64);
        b.push(&user, b"alice").unwrap();
        let identity = b.finish();
        let mut b = AppendedHeaders::builder(64);
        b.push(&host, b"bip").unwrap();
        let forwarding = b.finish();
        let both = AppendedHeaders::pair(&identity, &forwarding);
        assert_eq!(both.chunks(), [&b"x-user: alice\r\n"[..], &b"x-host: bip\r\n"[..]]);
        assert_eq!(both.chunks()[0].as_ptr(), identity.chunks()[1].as_ptr());
        assert_eq!(both.chunks()[1].as_ptr(), forwarding.chunks()[1].as_ptr());
        // A block of two runs is copied, in the same order.
        let three = AppendedHeaders::pair(&both, &forwarding);
        let mut wire = Vec::new();
        three.write_to(&mut wire);
        assert_eq!(wire, b"x-user: alice\r\nx-host: bip\r\nx-host: bip\r\n");
        assert_eq!(AppendedHeaders::pair(&AppendedHeaders::default(), &forwarding), forwarding);
    }

    #[test]
    fn lines_are_written_as_inserted_headers_are() {
        let user = HeaderName::from_static("x-user");
        let two = HeaderName::from_static("x-two");
        let mut inserted = crate::RequestHeader::build("GET", b"/", None).unwrap();
        inserted.insert_header(user.clone(), "a%40b.fr").unwrap();
        inserted.insert_header(http::header::HOST, "h").unwrap();
        inserted.insert_header(two.clone(), "1.2").unwrap();
        let mut b = AppendedHeaders::builder(64);
        b.push(&user, b"a%40b.fr").unwrap();
        b.push(&http::header::HOST, b"h").unwrap();
        b.push_parts(&two, &[b"1", b".", b"2"]).unwrap();
        let mut appended = crate::RequestHeader::build("GET", b"/", None).unwrap();
        appended.set_appended_headers(b.finish());
        let (mut want, mut got) = (Vec::new(), Vec::new());
        inserted.header_to_h1_wire(&mut want);
        appended.header_to_h1_wire(&mut got);
        assert_eq!(got, want);
        assert_eq!(got, b"x-user: a%40b.fr\r\nHost: h\r\nx-two: 1.2\r\n");

        // HTTP/2 and other readers get them as headers; a clone keeps them once.
        let parts = appended.as_owned_parts();
        assert_eq!(parts.headers.len(), 3);
        assert_eq!(parts.headers["x-two"], "1.2");
        let cloned = appended.clone();
        assert_eq!(cloned.headers.len(), 0);
        assert_eq!(cloned.appended_headers().iter().count(), 3);
        let into: http::request::Parts = cloned.into();
        assert_eq!(into.headers["host"], "h");
    }

    fn wire(h: &AppendedHeaders) -> Vec<u8> {
        let mut v = Vec::new();
        h.write_to(&mut v);
        v
    }

    #[test]
    fn a_block_given_first_is_shared_and_the_order_is_kept() {
        let mut b = AppendedHeaders::builder(64);
        b.push(&HeaderName::from_static("x-user"), b"u").unwrap();
        let identity = b.finish();
        let mut b = AppendedHeaders::builder(64);
        b.extend(&identity);
        b.push(&HeaderName::from_static("x-after"), b"1").unwrap();
        let first = b.finish();
        let [shared, own] = first.chunks();
        assert_eq!(shared.as_ptr(), identity.chunks()[1].as_ptr(), "not copied");
        assert_eq!(own, b"x-after: 1\r\n");
        let mut b = AppendedHeaders::builder(64);
        b.push(&HeaderName::from_static("x-before"), b"0").unwrap();
        b.extend(&first);
        let copied = b.finish();
        assert_eq!(wire(&copied), b"x-before: 0\r\nx-user: u\r\nx-after: 1\r\n");
        assert_eq!(copied.len(), wire(&copied).len());
        assert_eq!(copied.iter().count(), 3);
        let mut b = AppendedHeaders::builder(0);
        b.push(&HeaderName::from_static("x-before"), b"0").unwrap();
        b.push(&HeaderName::from_static("x-user"), b"u").unwrap();
        b.push(&HeaderName::from_static("x-after"), b"1").unwrap();
        assert_eq!(b.finish(), copied, "equal whatever the runs");
    }

    #[test]
    fn values_that_could_end_a_line_are_refused_and_add_nothing() {
        let name = HeaderName::from_static("x-user");
        for bad in [&b"a\r\nx-admin: 1"[..], b"a\nb", b"a\rb", b"a\0b", b"a\x7fb", b"a\x01"] {
            let mut b = AppendedHeaders::builder(64);
            b.push(&HeaderName::from_static("x-ok"), b"1").unwrap();
            assert!(b.push(&name, bad).is_err(), "{bad:?}");
            let (first, rest) = bad.split_at(1);
            assert!(b.push_parts(&name, &[first, rest]).is_err(), "{bad:?}");
            assert_eq!(wire(&b.finish()), b"x-ok: 1\r\n");
        }
        let mut b = AppendedHeaders::builder(8);
        b.push(&name, b"tab\tand obs-text \xe9").unwrap();
        assert_eq!(b.finish().iter().count(), 1);
    }
}
