//! Release ids are `sha256:<64 hex>`: tables show the first 12 hex digits, JSON the full id.

use sluice_core::release::ReleaseId;

/// Hex digits kept in the short form.
pub const SHORT_HEX: usize = 12;

/// `sha256:3fa9c2e1b0d4…` → `3fa9c2e1b0d4`; ids of another form (the simulator's) are kept
/// whole up to 20 characters.
pub fn short(id: &ReleaseId) -> String {
    match id.0.strip_prefix("sha256:") {
        Some(hex) => hex.chars().take(SHORT_HEX).collect(),
        None => id.0.chars().take(20).collect(),
    }
}

/// [`short`], or `-` for none.
pub fn short_or_dash(id: Option<&ReleaseId>) -> String {
    id.map_or_else(|| "-".to_string(), short)
}
