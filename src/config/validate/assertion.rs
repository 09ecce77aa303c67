//! `[assertion]`: the signed JWT sent to applications
//! (docs/decisions/0005-assertion-signing-key-and-rotation.md).

use super::Problems;
use crate::config::file::AssertionSection;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) struct Assertion {
    pub key_file: PathBuf,
    pub previous_key_files: Vec<PathBuf>,
    pub ttl: Duration,
    pub issuer: String,
}

/// The key file defaults to one in the data folder (generated at first start) and the issuer to
/// the portal's public URL, so that one machine needs no set-up.
pub(super) fn check(
    a: &AssertionSection,
    public_url: &str,
    data_dir: &Path,
    p: &mut Problems,
) -> Assertion {
    if !(1..=3600).contains(&a.ttl_seconds) {
        p.add("assertion.ttl_seconds", "must be between 1 and 3600");
    }
    Assertion {
        key_file: a
            .key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("assertion-key.pem")),
        previous_key_files: a.previous_key_files.clone(),
        ttl: Duration::from_secs(a.ttl_seconds),
        issuer: a.issuer.clone().unwrap_or_else(|| public_url.to_string()),
    }
}
