//! The wait before the report that follows an apply or rollback. A long-poll answer wakes a
//! whole wave at once, and without a wait the wave's agents would post their reports in the
//! same instant (10,000 of them at fleet scale). Each waits a random delay of at most a
//! quarter of the report interval, and never more than [`MAX`]: the engine counts silence in
//! report intervals (`silent_after` defaults to three and must be longer than one), so the
//! report confirming an apply still arrives well within one interval of the apply's end.

use std::time::Duration;

use crate::backoff;

/// A report after an apply waits at most `interval / INTERVAL_SHARE`…
pub(crate) const INTERVAL_SHARE: u32 = 4;
/// …and never more than this.
pub(crate) const MAX: Duration = Duration::from_secs(2);

/// The longest wait before a report after an apply, at report interval `interval`.
pub(crate) fn bound(interval: Duration) -> Duration {
    (interval / INTERVAL_SHARE).min(MAX)
}

/// Draws the waits; each agent has its own seed (clock, pid and target id).
#[derive(Debug)]
pub(crate) struct ReportJitter {
    rng: u64,
}

impl ReportJitter {
    pub(crate) fn new(seed: u64) -> ReportJitter {
        ReportJitter { rng: seed }
    }

    /// The wait before the next report after an apply, at report interval `interval`.
    pub(crate) fn next(&mut self, interval: Duration) -> Duration {
        backoff::jitter(&mut self.rng, bound(interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_a_fraction_of_the_interval_and_capped() {
        assert_eq!(bound(Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(bound(Duration::from_secs(5)), Duration::from_millis(1250));
        assert_eq!(bound(Duration::from_secs(60)), MAX);
        assert_eq!(bound(Duration::from_secs(3600)), MAX);
        for interval in [1, 5, 60, 3600].map(Duration::from_secs) {
            let mut jitter = ReportJitter::new(interval.as_secs());
            for _ in 0..1000 {
                let wait = jitter.next(interval);
                assert!(wait <= bound(interval) && wait < interval, "{wait:?} at {interval:?}");
            }
        }
    }

    #[test]
    fn agents_spread_over_the_bound() {
        // One draw each for 1,000 agents with neighbouring seeds: spread, not one instant.
        let interval = Duration::from_secs(5);
        let waits: Vec<Duration> = (0..1000u64).map(|seed| ReportJitter::new(seed).next(interval)).collect();
        let b = bound(interval);
        assert!(waits.iter().filter(|w| **w < b / 4).count() > 100, "low waits");
        assert!(waits.iter().filter(|w| **w > b * 3 / 4).count() > 100, "high waits");
    }
}
