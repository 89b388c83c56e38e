//! The demo's one clock: a monotonic instant for request latencies. Waits use tokio's timers.

use std::time::Instant;

/// A monotonic instant (request latencies).
#[allow(clippy::disallowed_methods)] // the demo's one clock
pub fn instant() -> Instant {
    Instant::now()
}
