//! Quantiles of a Prometheus histogram from its cumulative `_bucket{le=...}` counts, as
//! PromQL's `histogram_quantile` computes them: find the bucket the rank falls in and
//! interpolate linearly within it.
//!
//! The agent feeds it the buckets' *increase* over one report interval, so the quantile is the
//! interval's, not the process lifetime's.

/// `q` (0..=1) of the histogram given as `(upper bound, cumulative count)` pairs, in any
/// order. `None` when it has no observations, no `+Inf` bucket, fewer than two buckets, or `q`
/// is out of range.
///
/// Like Prometheus: counts are forced monotonic (a reset mid-scrape can break that); a rank
/// in the first bucket interpolates from 0 (or returns its bound when that is ≤ 0); a rank in
/// the `+Inf` bucket returns the highest finite bound.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut sorted: Vec<(f64, f64)> = buckets.iter().copied().filter(|(le, c)| !le.is_nan() && c.is_finite()).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted.dedup_by(|b, a| {
        // Two buckets with one bound: keep one, with the larger count.
        if a.0 == b.0 {
            a.1 = a.1.max(b.1);
            true
        } else {
            false
        }
    });
    if sorted.len() < 2 || sorted.last().map(|b| b.0) != Some(f64::INFINITY) {
        return None;
    }
    let mut max = 0.0_f64;
    for bucket in &mut sorted {
        max = max.max(bucket.1);
        bucket.1 = max;
    }
    let total = max;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let index = sorted.iter().position(|(_, count)| *count >= rank).unwrap_or(sorted.len() - 1);
    if index == sorted.len() - 1 {
        return sorted.get(sorted.len() - 2).map(|b| b.0);
    }
    let (upper, count) = sorted[index];
    let (lower, below) = if index == 0 {
        if upper <= 0.0 {
            return Some(upper);
        }
        (0.0, 0.0)
    } else {
        sorted[index - 1]
    };
    let in_bucket = count - below;
    if in_bucket <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * ((rank - below) / in_bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn interpolates_within_the_bucket() {
        // 100 observations: 50 ≤ 0.1, 90 ≤ 0.5, 100 ≤ 1.
        let b = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0)];
        assert!(close(quantile(0.5, &b), 0.1));
        assert!(close(quantile(0.25, &b), 0.05));
        assert!(close(quantile(0.7, &b), 0.3));
        assert!(close(quantile(0.99, &b), 0.95));
        assert!(close(quantile(0.0, &b), 0.0));
    }

    #[test]
    fn the_inf_bucket_answers_the_highest_finite_bound() {
        let b = [(0.1, 1.0), (1.0, 2.0), (INF, 10.0)];
        assert!(close(quantile(0.99, &b), 1.0));
    }

    #[test]
    fn order_does_not_matter_and_non_monotonic_counts_are_fixed() {
        let b = [(INF, 10.0), (1.0, 10.0), (0.5, 4.0), (0.25, 6.0)];
        // Forced monotonic: 0.25→6, 0.5→6, 1→10.
        assert!(close(quantile(0.5, &b), 0.25 * 5.0 / 6.0));
        assert!(close(quantile(0.8, &b), 0.5 + 0.5 * (2.0 / 4.0)));
    }

    #[test]
    fn no_answer_without_data_or_inf_bucket() {
        assert_eq!(quantile(0.5, &[]), None);
        assert_eq!(quantile(0.5, &[(INF, 3.0)]), None);
        assert_eq!(quantile(0.5, &[(0.1, 1.0), (1.0, 2.0)]), None);
        assert_eq!(quantile(0.5, &[(0.1, 0.0), (INF, 0.0)]), None);
        assert_eq!(quantile(1.5, &[(0.1, 1.0), (INF, 1.0)]), None);
        assert_eq!(quantile(f64::NAN, &[(0.1, 1.0), (INF, 1.0)]), None);
    }

    #[test]
    fn a_first_bucket_at_or_below_zero_returns_its_bound() {
        assert!(close(quantile(0.5, &[(-1.0, 4.0), (INF, 4.0)]), -1.0));
    }
}
