//! Exit codes: documented in the README and stable. Scripts and CI rely on them.

/// Success.
pub const OK: u8 = 0;
/// Unexpected internal failure (a bug; please report it).
pub const INTERNAL: u8 = 1;
/// Bad usage or configuration: unknown flag, unreadable or invalid spec/scenario file.
pub const USAGE: u8 = 2;
/// Validation rejected the release: nothing was shipped.
pub const REJECTED: u8 = 3;
/// The rollout failed and was rolled back (or the demo story did not hold).
pub const ROLLED_BACK: u8 = 4;
/// The server could not be reached.
pub const UNREACHABLE: u8 = 5;
