//! `[structures]`: how deep the structure tree may grow (docs/product.md#structures).

use super::Problems;
use crate::config::file::StructuresSection;

/// Returns the maximum depth.
pub(super) fn check(s: &StructuresSection, p: &mut Problems) -> u32 {
    if !(1..=32).contains(&s.max_depth) {
        p.add("structures.max_depth", "must be between 1 and 32");
    }
    s.max_depth.clamp(1, 32)
}
