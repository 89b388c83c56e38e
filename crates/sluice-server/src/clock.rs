//! The server's only wall-clock read: every `now` the engine, the store and the views see comes
//! from [`now`], so the rest of the crate stays free of clock calls.

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::time::Millis;

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)]
pub fn now() -> Millis {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}
