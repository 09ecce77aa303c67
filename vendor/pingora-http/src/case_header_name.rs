// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

use crate::*;
use bytes::Bytes;
use http::header;

#[derive(Debug, Clone)]
pub struct CaseHeaderName(CaseBytes);

/// Patched (Convergences): the bytes of a name as written, or, for a name given as a
/// `HeaderName` whose case is its own, that name (a reference count or static, not a copy).
#[derive(Debug, Clone)]
enum CaseBytes {
    Bytes(Bytes),
    Name(HeaderName),
}

impl CaseHeaderName {
    pub fn new(name: String) -> Self {
        CaseHeaderName(CaseBytes::Bytes(name.into()))
    }
}

impl CaseHeaderName {
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            CaseBytes::Bytes(b) => b,
            CaseBytes::Name(n) => n.as_str().as_bytes(),
        }
    }

    pub fn from_slice(buf: &[u8]) -> Self {
        CaseHeaderName(CaseBytes::Bytes(Bytes::copy_from_slice(buf)))
    }
}

/// A trait that converts into case-sensitive header names.
pub trait IntoCaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName;

    /// Patched (Convergences): the case-sensitive name, and the `http` header name when the
    /// value already is one, so that inserting a `HeaderName` neither copies it nor parses it
    /// again. Other types parse their bytes, as before.
    #[doc(hidden)]
    fn into_names(self) -> (CaseHeaderName, Option<HeaderName>)
    where
        Self: Sized,
    {
        (self.into_case_header_name(), None)
    }
}

impl IntoCaseHeaderName for CaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        self
    }
}

impl IntoCaseHeaderName for String {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(CaseBytes::Bytes(self.into()))
    }
}

impl IntoCaseHeaderName for &'static str {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(CaseBytes::Bytes(self.into()))
    }
}

impl IntoCaseHeaderName for HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        titled_header_name(&self)
    }

    fn into_names(self) -> (CaseHeaderName, Option<HeaderName>) {
        (titled_header_name(&self), Some(self))
    }
}

impl IntoCaseHeaderName for &HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        titled_header_name(self)
    }

    fn into_names(self) -> (CaseHeaderName, Option<HeaderName>) {
        (titled_header_name(self), Some(self.clone()))
    }
}

impl IntoCaseHeaderName for Bytes {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(CaseBytes::Bytes(self))
    }
}

fn titled_header_name(header_name: &HeaderName) -> CaseHeaderName {
    // Patched (Convergences): a name without a titled form keeps its own bytes (a reference
    // count, or static for a name made with `HeaderName::from_static`) rather than a copy.
    CaseHeaderName(titled_header_name_str(header_name).map_or_else(
        || CaseBytes::Name(header_name.clone()),
        |s| CaseBytes::Bytes(Bytes::from_static(s.as_bytes())),
    ))
}

pub(crate) fn titled_header_name_str(header_name: &HeaderName) -> Option<&'static str> {
    Some(match *header_name {
        header::ACCEPT_RANGES => "Accept-Ranges",
        header::AGE => "Age",
        header::CACHE_CONTROL => "Cache-Control",
        header::CONNECTION => "Connection",
        header::CONTENT_TYPE => "Content-Type",
        header::CONTENT_ENCODING => "Content-Encoding",
        header::CONTENT_LENGTH => "Content-Length",
        header::DATE => "Date",
        header::TRANSFER_ENCODING => "Transfer-Encoding",
        header::HOST => "Host",
        header::SERVER => "Server",
        header::SET_COOKIE => "Set-Cookie",
        // TODO: add more const header here to map to their titled case
        // TODO: automatically upper case the first letter?
        _ => {
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_case_header_name() {
        assert_eq!("FoO".into_case_header_name().as_slice(), b"FoO");
        assert_eq!("FoO".to_string().into_case_header_name().as_slice(), b"FoO");
        assert_eq!(header::SERVER.into_case_header_name().as_slice(), b"Server");
    }

    #[test]
    fn header_names_keep_their_own_bytes_and_are_not_parsed_again() {
        let custom = HeaderName::from_static("x-convergences-user");
        let (case, name) = (&custom).into_names();
        assert_eq!(case.as_slice(), b"x-convergences-user");
        assert_eq!(name, Some(custom.clone()));
        let (case, name) = header::SERVER.into_names();
        assert_eq!((case.as_slice(), name), (&b"Server"[..], Some(header::SERVER)));
        let (case, name) = "X-Other".into_names();
        assert_eq!((case.as_slice(), name), (&b"X-Other"[..], None));
    }
}
