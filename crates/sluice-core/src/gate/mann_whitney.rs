//! The Mann-Whitney U test (Wilcoxon rank-sum test), as used by canary-vs-baseline gates.
//!
//! `x` is the canary sample and `y` the baseline. The statistic reported is the U of `x`: the
//! number of pairs `(xi, yj)` with `xi > yj`, plus one half for every pair with `xi == yj`.
//!
//! Two ways of computing the p-value, chosen automatically:
//!
//! * [`Method::Exact`] when the pooled sample has **no ties** and `n_x * n_y <=`
//!   [`EXACT_MAX_PAIRS`] (2500, so e.g. 50 × 50 or 10 × 250). The null distribution of U is
//!   counted exactly in integers (the coefficients of the Gaussian binomial
//!   `[n_x + n_y choose n_x]_q`) in `O(min(n_x, n_y) * n_x * n_y)` steps: at most 125 000
//!   additions on a 2501-entry table. The largest count that can arise under this bound is
//!   `C(100, 50) < 2^97`, far inside `i128`; every step is checked anyway, and an overflow would
//!   fall back to the normal approximation rather than panic.
//! * [`Method::Normal`] otherwise: the normal approximation with the tie-corrected variance
//!   `σ² = n_x n_y / 12 · ((n + 1) − Σ(t³ − t) / (n (n − 1)))` and a continuity correction of 0.5
//!   toward the mean — the same numbers as
//!   `scipy.stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=True)`. When every
//!   value is tied (σ = 0) the samples carry no evidence either way: p = 1 and `z` is `None`.
//!
//! Two-sided p-values are `min(1, 2 · min(p_greater, p_less))`, as scipy computes them.
//!
//! Unlike scipy's `method="auto"` (exact only up to 8 × 8), the exact distribution is used up
//! to the bound above, so between those sizes the p-values equal scipy's `method="exact"`.
//!
//! Pure arithmetic: no I/O, no clock, no randomness, no panics.

use std::cmp::Ordering;

/// Largest `n_x * n_y` for which the exact null distribution is computed (when there are no
/// ties). Above it, or with any tie in the pooled sample, the normal approximation is used.
pub const EXACT_MAX_PAIRS: usize = 2500;

/// Which direction of difference the test looks for, stated for sample `x` (the canary)
/// relative to `y` (the baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    /// `x` tends to be larger than `y`: small p when U is large.
    Greater,
    /// `x` tends to be smaller than `y`: small p when U is small.
    Less,
    /// Either direction.
    TwoSided,
}

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The exact permutation distribution of U (no ties, `n_x * n_y <= EXACT_MAX_PAIRS`).
    Exact,
    /// The normal approximation with tie and continuity corrections.
    Normal,
}

/// The outcome of [`mann_whitney`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MannWhitney {
    /// U statistic of `x`: number of pairs `(xi, yj)` with `xi > yj`, plus 0.5 per tie.
    /// `U_x + U_y = n_x * n_y`.
    pub u: f64,
    /// The p-value for the requested [`Alternative`], in `[0, 1]`.
    pub p_value: f64,
    /// For [`Method::Normal`]: the continuity-corrected z-score of `U_x` from which the p-value
    /// was computed, `d = U_x − n_x n_y / 2`:
    /// `Greater`: `(d − 0.5) / σ` (p = 1 − Φ(z)); `Less`: `(d + 0.5) / σ` (p = Φ(z));
    /// `TwoSided`: `sign(d) · max(|d| − 0.5, 0) / σ` (p = min(1, 2 (1 − Φ(|z|)))).
    /// `None` for [`Method::Exact`], and when σ = 0 (every value tied).
    pub z: Option<f64>,
    /// How `p_value` was computed.
    pub method: Method,
    /// Size of `x`.
    pub n_x: usize,
    /// Size of `y`.
    pub n_y: usize,
}

/// Runs the Mann-Whitney U test of `x` (canary) against `y` (baseline).
///
/// Returns `None` when either sample is empty or any value is NaN or infinite. `-0.0` and
/// `0.0` count as a tie.
pub fn mann_whitney(x: &[f64], y: &[f64], alt: Alternative) -> Option<MannWhitney> {
    if x.is_empty() || y.is_empty() || !x.iter().chain(y).all(|v| v.is_finite()) {
        return None;
    }
    let (n_x, n_y) = (x.len(), y.len());

    // U_x by counting, for each xi, the y's below it and equal to it.
    let mut ys = y.to_vec();
    ys.sort_by(cmp_finite);
    let (mut below, mut equal) = (0u128, 0u128);
    for &xi in x {
        let lo = ys.partition_point(|&v| v < xi);
        let hi = ys.partition_point(|&v| v <= xi);
        below += lo as u128;
        equal += (hi - lo) as u128;
    }
    // Multiples of 0.5 below 2^52 are exact in f64.
    let u = below as f64 + equal as f64 / 2.0;

    let mut pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    pooled.sort_by(cmp_finite);
    let ties = TieSummary::of_sorted(&pooled);

    let pairs = n_x.checked_mul(n_y);
    if !ties.any && pairs.is_some_and(|p| p <= EXACT_MAX_PAIRS) {
        // No ties, so `equal == 0` and U is the integer `below`.
        if let Some((greater, less)) = usize::try_from(below).ok().and_then(|u_int| exact_tails(n_x, n_y, u_int)) {
            return Some(MannWhitney {
                u,
                p_value: combine(alt, greater, less),
                z: None,
                method: Method::Exact,
                n_x,
                n_y,
            });
        }
    }

    let (p_value, z) = normal_p(n_x, n_y, u, &ties, alt);
    Some(MannWhitney { u, p_value, z, method: Method::Normal, n_x, n_y })
}

/// Total order on finite values, with `-0.0 == 0.0`.
fn cmp_finite(a: &f64, b: &f64) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

/// The p-value for `alt` from the two one-sided p-values.
fn combine(alt: Alternative, greater: f64, less: f64) -> f64 {
    let p = match alt {
        Alternative::Greater => greater,
        Alternative::Less => less,
        Alternative::TwoSided => 2.0 * greater.min(less),
    };
    p.clamp(0.0, 1.0)
}

/// Ties in a sorted pooled sample.
#[derive(Debug)]
struct TieSummary {
    /// Whether any value occurs more than once.
    any: bool,
    /// `Σ (t³ − t)` over groups of `t` equal values, in f64.
    sum_t3_minus_t: f64,
    /// Whether every value is equal (a single group).
    all: bool,
}

impl TieSummary {
    fn of_sorted(sorted: &[f64]) -> Self {
        let mut any = false;
        let mut sum = 0.0;
        let mut groups = 0usize;
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == sorted[i] {
                j += 1;
            }
            let t = (j - i) as f64;
            if j - i > 1 {
                any = true;
                sum += (t - 1.0) * t * (t + 1.0);
            }
            groups += 1;
            i = j;
        }
        TieSummary { any, sum_t3_minus_t: sum, all: groups == 1 }
    }
}

/// One-sided p-values `(P(U ≥ u), P(U ≤ u))` under the exact null distribution, or `None`
/// if the counts would overflow (they cannot within [`EXACT_MAX_PAIRS`]).
fn exact_tails(n_x: usize, n_y: usize, u: usize) -> Option<(f64, f64)> {
    let counts = u_null_counts(n_x, n_y)?;
    let upper = counts.get(u..)?.iter().try_fold(0u128, |s, &c| s.checked_add(c))?;
    let lower = counts.get(..=u)?.iter().try_fold(0u128, |s, &c| s.checked_add(c))?;
    let total = counts.iter().try_fold(0u128, |s, &c| s.checked_add(c))?;
    if total == 0 {
        return None;
    }
    // Each integer is rounded once to f64 and divided once: relative error ≤ ~3 ulp.
    let total = total as f64;
    Some((upper as f64 / total, lower as f64 / total))
}

/// Number of the `C(m + n, m)` equally likely arrangements of two untied samples of sizes
/// `m` and `n` that give U = k, for k in `0..=m*n`.
///
/// These are the coefficients of the Gaussian binomial
/// `[m + n choose m]_q = Π_{k=1..m} (1 − q^(n+k)) / (1 − q^k)`. The product is built one
/// factor at a time; after each full factor the polynomial is `[n + k choose k]_q`, whose
/// coefficients are non-negative and at most `C(m + n, m)`, so intermediate values (which may
/// dip negative after the multiplication, by no more than that bound) fit easily in `i128`.
/// Cost `O(min(m, n) · m · n)`.
fn u_null_counts(m: usize, n: usize) -> Option<Vec<u128>> {
    let (m, n) = (m.min(n), m.max(n));
    let len = m.checked_mul(n)?.checked_add(1)?;
    let mut a = vec![0i128; len];
    *a.first_mut()? = 1;
    for k in 1..=m {
        // Multiply by (1 − q^(n+k)), in place, from the top down.
        let s = n + k;
        for j in (s..len).rev() {
            a[j] = a[j].checked_sub(a[j - s])?;
        }
        // Divide by (1 − q^k): a running sum with stride k, from the bottom up.
        for j in k..len {
            a[j] = a[j].checked_add(a[j - k])?;
        }
    }
    a.into_iter().map(|c| u128::try_from(c).ok()).collect()
}

/// Normal-approximation p-value and z for U = `u`, exactly as scipy's
/// `mannwhitneyu(method="asymptotic", use_continuity=True)`.
fn normal_p(n_x: usize, n_y: usize, u: f64, ties: &TieSummary, alt: Alternative) -> (f64, Option<f64>) {
    let (n1, n2) = (n_x as f64, n_y as f64);
    let n = n1 + n2;
    let mu = n1 * n2 / 2.0;
    let tie_term = if n > 1.0 { ties.sum_t3_minus_t / (n * (n - 1.0)) } else { 0.0 };
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term);
    if ties.all || var.is_nan() || var <= 0.0 {
        return (1.0, None);
    }
    let sigma = var.sqrt();
    let d = u - mu; // exact: both are multiples of 0.5
    // Continuity correction of 0.5 toward the mean, for each one-sided test.
    let z_greater = (d - 0.5) / sigma;
    let z_less = (d + 0.5) / sigma;
    let greater = normal_sf(z_greater);
    let less = normal_sf(-z_less); // Φ(z_less), evaluated as the symmetric upper tail
    let z = match alt {
        Alternative::Greater => z_greater,
        Alternative::Less => z_less,
        Alternative::TwoSided => d.signum() * (d.abs() - 0.5).max(0.0) / sigma,
    };
    (combine(alt, greater, less), Some(z))
}

/// Upper tail of the standard normal, `1 − Φ(z) = erfc(z / √2) / 2`.
fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z * std::f64::consts::FRAC_1_SQRT_2)
}

/// Complementary error function, after W. J. Cody, "Rational Chebyshev approximations for the
/// error function", Math. Comp. 23 (1969) 631–638, as coded in his SPECFUN routine `CALERF`
/// (ACM TOMS 715). Relative error about 1e-16 in f64, including far into the upper tail
/// (it underflows to 0 only for x ≥ 26.543).
// The coefficients are kept verbatim from CALERF (18 digits), so they can be checked against
// the source by eye; the compiler rounds them to the nearest f64.
#[allow(clippy::excessive_precision)]
fn erfc(x: f64) -> f64 {
    const A: [f64; 5] = [
        3.16112374387056560e00,
        1.13864154151050156e02,
        3.77485237685302021e02,
        3.20937758913846947e03,
        1.85777706184603153e-1,
    ];
    const B: [f64; 4] =
        [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03];
    const C: [f64; 9] = [
        5.64188496988670089e-1,
        8.88314979438837594e00,
        6.61191906371416295e01,
        2.98635138197400131e02,
        8.81952221241769090e02,
        1.71204761263407058e03,
        2.05107837782607147e03,
        1.23033935479799725e03,
        2.15311535474403846e-8,
    ];
    const D: [f64; 8] = [
        1.57449261107098347e01,
        1.17693950891312499e02,
        5.37181101862009858e02,
        1.62138957456669019e03,
        3.29079923573345963e03,
        4.36261909014324716e03,
        3.43936767414372164e03,
        1.23033935480374942e03,
    ];
    const P: [f64; 6] = [
        3.05326634961232344e-1,
        3.60344899949804439e-1,
        1.25781726111229246e-1,
        1.60837851487422766e-2,
        6.58749161529837803e-4,
        1.63153871373020978e-2,
    ];
    const Q: [f64; 5] = [
        2.56852019228982242e00,
        1.87295284992346047e00,
        5.27905102951428412e-1,
        6.05183413124413191e-2,
        2.33520497626869185e-3,
    ];
    const THRESH: f64 = 0.46875;
    const XSMALL: f64 = 1.11e-16;
    const XBIG: f64 = 26.543;
    const SQRPI: f64 = 5.6418958354775628695e-1; // 1/√π

    if x.is_nan() {
        return f64::NAN;
    }
    let y = x.abs();
    if y <= THRESH {
        // erfc = 1 − erf, with erf(x) = x · R(x²).
        let ysq = if y > XSMALL { y * y } else { 0.0 };
        let mut num = A[4] * ysq;
        let mut den = ysq;
        for i in 0..3 {
            num = (num + A[i]) * ysq;
            den = (den + B[i]) * ysq;
        }
        return 1.0 - x * (num + A[3]) / (den + B[3]);
    }
    let scaled = if y <= 4.0 {
        let mut num = C[8] * y;
        let mut den = y;
        for i in 0..7 {
            num = (num + C[i]) * y;
            den = (den + D[i]) * y;
        }
        (num + C[7]) / (den + D[7])
    } else if y >= XBIG {
        0.0
    } else {
        let ysq = 1.0 / (y * y);
        let mut num = P[5] * ysq;
        let mut den = ysq;
        for i in 0..4 {
            num = (num + P[i]) * ysq;
            den = (den + Q[i]) * ysq;
        }
        (SQRPI - ysq * (num + P[4]) / (den + Q[4])) / y
    };
    // exp(−y²) without the rounding error of forming y² directly: split y = ysq + rest.
    let ysq = (y * 16.0).trunc() / 16.0;
    let del = (y - ysq) * (y + ysq);
    let upper = (-ysq * ysq).exp() * (-del).exp() * scaled;
    if x < 0.0 { 2.0 - upper } else { upper }
}

#[cfg(test)]
mod tests;
