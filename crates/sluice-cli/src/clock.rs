//! The CLI's one read of the wall clock: how long a bake still has to run is the server's
//! `bake_ends_at` minus now. Everything else takes `now` as an argument.

use sluice_core::time::Millis;

/// Milliseconds since the Unix epoch (the server's epoch), 0 if the clock is before it.
#[allow(clippy::disallowed_methods)] // the CLI shows wall-clock remaining times; the core never does
pub fn now() -> Millis {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}
