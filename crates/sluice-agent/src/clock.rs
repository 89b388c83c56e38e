//! The agent's one clock read. Everything else takes a [`Clock`], so tests and the simulator
//! can pass their own.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::time::Millis;

/// Where the agent gets the time for history entries and apply durations.
pub trait Clock: Debug + Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The single allowed clock read of this crate (clippy.toml bans `SystemTime::now`
    // elsewhere): callers take a `Clock` so time stays injectable.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Millis {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Millis(1_577_836_800_000));
    }
}
