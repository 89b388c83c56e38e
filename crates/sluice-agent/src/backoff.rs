//! Retry delays against the server: exponential backoff with full jitter (a uniformly random
//! delay between 0 and `min(cap, base · 2^attempt)`), so a fleet that lost its server does not
//! come back in lockstep, and a server that was down a minute is rejoined within `cap`.

use std::time::Duration;

/// The agent's defaults: start at 250 ms, never wait more than 5 s.
pub const BASE: Duration = Duration::from_millis(250);
pub const CAP: Duration = Duration::from_secs(5);

/// The delays of one run of failures; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// `seed` feeds the jitter (any value; the agent uses the clock and its pid).
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Backoff {
        Backoff { base, cap: cap.max(base), attempt: 0, rng: seed }
    }

    /// The agent's backoff: [`BASE`], [`CAP`].
    pub fn agent(seed: u64) -> Backoff {
        Backoff::new(BASE, CAP, seed)
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The ceiling of the next delay: `min(cap, base · 2^attempt)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next retry; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        jitter(&mut self.rng, ceiling)
    }

    /// The delay before the next retry, never less than half its ceiling ("equal jitter"):
    /// for retries that must not run in a tight loop even when the draw is low. Counts one
    /// more failure.
    pub fn next_delay_at_least_half(&mut self) -> Duration {
        let ceiling = self.ceiling();
        let half = ceiling / 2;
        let mut upper = Backoff { base: ceiling - half, cap: ceiling - half, attempt: 0, rng: self.rng };
        let jitter = upper.next_delay();
        self.rng = upper.rng;
        self.attempt = self.attempt.saturating_add(1);
        half.saturating_add(jitter)
    }

    /// After a success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniformly random delay between 0 and `bound` (nanosecond steps), drawn from `rng` (any
/// seed; advanced by the draw). The jitter of backoffs and of reports after an apply.
pub fn jitter(rng: &mut u64, bound: Duration) -> Duration {
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    let pick = match nanos.checked_add(1) {
        Some(n) => splitmix64(rng) % n,
        None => splitmix64(rng),
    };
    Duration::from_nanos(pick)
}

/// A seed from `bytes` (FNV-1a): the same bytes, the same seed.
pub fn seed_of(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3))
}

/// splitmix64: small, fast, and good enough for jitter.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_ceiling_up_to_the_cap() {
        for seed in 0..50 {
            let mut b = Backoff::agent(seed);
            let ceilings: Vec<u64> = (0..10)
                .map(|_| {
                    let ceiling = b.ceiling();
                    let delay = b.next_delay();
                    assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
                    u64::try_from(ceiling.as_millis()).unwrap()
                })
                .collect();
            assert_eq!(ceilings, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000]);
        }
    }

    #[test]
    fn jitter_spreads_and_reset_starts_over() {
        let mut b = Backoff::agent(7);
        for _ in 0..20 {
            b.next_delay();
        }
        let delays: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= CAP));
        assert!(delays.iter().any(|d| *d < Duration::from_secs(1)), "full jitter reaches low delays");
        assert!(delays.iter().any(|d| *d > Duration::from_secs(4)), "and high ones");
        assert_eq!(b.attempts(), 220);
        b.reset();
        assert_eq!(b.ceiling(), BASE);
        assert!(b.next_delay() <= BASE);
    }

    #[test]
    fn equal_jitter_stays_between_half_the_ceiling_and_the_ceiling() {
        for seed in 0..50 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), seed);
            for _ in 0..10 {
                let ceiling = b.ceiling();
                let delay = b.next_delay_at_least_half();
                assert!(delay >= ceiling / 2 && delay <= ceiling, "{delay:?} outside {ceiling:?}/2..={ceiling:?}");
            }
            assert_eq!(b.attempts(), 10);
            assert_eq!(b.ceiling(), Duration::from_secs(30));
        }
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(u64::MAX / 4), Duration::MAX, 1);
        for _ in 0..100 {
            let _ = b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::MAX);
    }
}
