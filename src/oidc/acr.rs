//! Authentication context classes (`acr`, OpenID Connect Core section 2 and 3.1.2.1): the
//! levels the provider knows, their order, and what an `acr_values` request asks for
//! (docs/oidc-provider.md#acr). The level reached is always the portal session's own
//! (docs/security.md#assurance): a request can ask for more, never declare it.

use crate::session::{ACR_PASSWORD, ACR_SECOND_FACTOR};

/// The values the provider issues and understands, weakest first (published in discovery as
/// `acr_values_supported`).
pub const SUPPORTED: &[&str] = &[ACR_PASSWORD, ACR_SECOND_FACTOR];

/// The rank of a known value: 1 for a password, 2 with a second factor.
pub fn level(acr: &str) -> Option<u8> {
    SUPPORTED
        .iter()
        .position(|v| *v == acr)
        .map(|i| i as u8 + 1)
}

/// The weakest level an `acr_values` request accepts: the values are acceptable alternatives
/// and a stronger level satisfies a weaker one, so the weakest known value listed is what must
/// be reached. Unknown values are ignored (the parameter is a voluntary request); with no known
/// value at all, nothing is required.
pub fn minimum(acr_values: Option<&str>) -> Option<u8> {
    acr_values?.split(' ').filter_map(level).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weakest_known_value_is_what_must_be_reached() {
        assert_eq!(minimum(None), None);
        assert_eq!(minimum(Some("")), None);
        assert_eq!(minimum(Some("eidas2")), Some(2));
        assert_eq!(minimum(Some("eidas1")), Some(1));
        assert_eq!(minimum(Some("eidas2 eidas1")), Some(1), "either will do");
        assert_eq!(minimum(Some("eidas3 eidas2")), Some(2), "unknown ignored");
        assert_eq!(minimum(Some("eidas3")), None);
        // Only exact values count: no case folding, no prefix, no padding tricks.
        for odd in [
            "EIDAS2",
            "eidas2x",
            " eidas2x",
            "eidas",
            "eidas2\t",
            "urn:eidas2",
        ] {
            assert_eq!(minimum(Some(odd)), None, "{odd:?}");
        }
        assert_eq!(level(ACR_SECOND_FACTOR), Some(2));
    }
}
