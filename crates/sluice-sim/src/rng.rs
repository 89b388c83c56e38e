//! Seeded randomness as a pure function of what it is for: a draw is keyed by (seed, stream,
//! a, b) — e.g. (seed, sample noise, target, report tick) — so it does not depend on the order
//! in which the engine happens to ask for things. splitmix64 mixing, no state.

/// What a draw is for; each stream gives independent numbers for the same keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    ApplyDelay = 1,
    RollbackDelay = 2,
    Propagation = 3,
    Errors = 4,
    LatencyP50 = 5,
    LatencyP99 = 6,
    Metric = 7,
    GeneratorNode = 8,
    PlanSeed = 9,
}

/// splitmix64's finalizer: a bijective 64-bit mix.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit draw for these keys.
pub(crate) fn draw(seed: u64, stream: Stream, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ ((stream as u64) << 56)) ^ a) ^ b.rotate_left(17))
}

/// A uniform draw in [0, 1).
pub(crate) fn unit(seed: u64, stream: Stream, a: u64, b: u64) -> f64 {
    (draw(seed, stream, a, b) >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform draw in [lo, hi] milliseconds.
pub(crate) fn between(seed: u64, stream: Stream, a: u64, b: u64, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    lo + draw(seed, stream, a, b) % (hi - lo).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_keyed_and_spread() {
        assert_eq!(draw(1, Stream::Errors, 2, 3), draw(1, Stream::Errors, 2, 3));
        assert_ne!(draw(1, Stream::Errors, 2, 3), draw(1, Stream::Errors, 3, 2));
        assert_ne!(draw(1, Stream::Errors, 2, 3), draw(1, Stream::Metric, 2, 3));
        let mean = (0..10_000).map(|i| unit(7, Stream::Errors, i, 0)).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        for i in 0..1000 {
            let v = between(3, Stream::ApplyDelay, i, 0, 1000, 3000);
            assert!((1000..=3000).contains(&v));
        }
    }
}
