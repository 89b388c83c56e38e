//! The kit's one wall-clock read (milliseconds since the Unix epoch, the server's time base).

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::time::Millis;

#[allow(clippy::disallowed_methods)]
pub fn now() -> Millis {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
