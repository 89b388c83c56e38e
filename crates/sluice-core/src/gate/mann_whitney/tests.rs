use super::*;
use proptest::prelude::*;

const ALTS: [Alternative; 3] = [Alternative::Greater, Alternative::Less, Alternative::TwoSided];

fn assert_rel(actual: f64, expected: f64, rel: f64, what: &str) {
    let tol = rel * expected.abs().max(f64::MIN_POSITIVE);
    assert!((actual - expected).abs() <= tol, "{what}: got {actual:e}, expected {expected:e} (rel tol {rel:e})");
}

// ---------------------------------------------------------------- erfc and the normal tail

// Reference values are kept verbatim at 20 significant digits.
#[allow(clippy::excessive_precision)]
#[test]
fn erfc_matches_high_precision_values() {
    // Reference values from mpmath 1.4 `erfc(x)` at 40 digits of working precision.
    let cases: [(f64, f64); 21] = [
        (-3.0, 1.9999779095030014146),
        (-1.0, 1.8427007929497148693),
        (-0.5, 1.5204998778130465377),
        (-0.1, 1.1124629160182848984),
        (0.0, 1.0),
        (1e-10, 0.99999999988716208329),
        (0.1, 0.8875370839817151016),
        (0.3, 0.67137324054087258381),
        (0.46875, 0.50738652678206200841),
        (0.5, 0.47950012218695346232),
        (1.0, 0.15729920705028513066),
        (1.5, 0.033894853524689272933),
        (2.0, 0.0046777349810472658379),
        (3.0, 2.2090496998585441373e-5),
        (4.0, 1.5417257900280018852e-8),
        (4.5, 1.9661604415428874763e-10),
        (5.0, 1.5374597944280348502e-12),
        (6.0, 2.1519736712498913117e-17),
        (10.0, 2.088487583762544757e-45),
        (20.0, 5.3958656116079009289e-176),
        (26.0, 5.6631924088561428465e-296),
    ];
    for (x, want) in cases {
        assert_rel(erfc(x), want, 1e-13, &format!("erfc({x})"));
    }
    assert_eq!(erfc(30.0), 0.0);
    assert_eq!(erfc(-30.0), 2.0);
    assert!(erfc(f64::NAN).is_nan());
}

#[allow(clippy::excessive_precision)]
#[test]
fn normal_sf_matches_high_precision_values() {
    // Reference values from mpmath 1.4 `ncdf(-z)` at 40 digits of working precision.
    let cases: [(f64, f64); 13] = [
        (-5.0, 0.99999971334842812081),
        (-2.0, 0.9772498680518207928),
        (-1.959963984540054, 0.97499999999999998912),
        (0.0, 0.5),
        (0.5, 0.30853753872598689636),
        (1.0, 0.15865525393145705141),
        (1.6448536269514722, 0.050000000000000053934),
        (3.0, 0.0013498980316300945267),
        (5.0, 2.8665157187919391167e-7),
        (8.0, 6.2209605742717841235e-16),
        (10.0, 7.619853024160526066e-24),
        (20.0, 2.7536241186062336951e-89),
        (37.0, 5.7255712225245768227e-300),
    ];
    for (z, want) in cases {
        // The z/√2 rounding costs up to ~z²·ε of relative accuracy far in the tail.
        assert_rel(normal_sf(z), want, 1e-12, &format!("normal_sf({z})"));
    }
}

// ---------------------------------------------------------------- brute force

/// Deterministic pseudo-random numbers (64-bit LCG, high bits), so the tests need no RNG crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    /// Distinct-looking continuous values (collisions are astronomically unlikely, and are
    /// detected by the caller anyway).
    fn continuous(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next() as f64 / 1024.0 - 1e6).collect()
    }
    /// Small integers, so ties are common.
    fn tied(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| (self.next() % 4) as f64).collect()
    }
}

fn u_of(x: &[f64], y: &[f64]) -> f64 {
    let mut u = 0.0;
    for &a in x {
        for &b in y {
            if a > b {
                u += 1.0;
            } else if a == b {
                u += 0.5;
            }
        }
    }
    u
}

/// U of the first group for every way of splitting `pooled` into groups of sizes `n_x` and
/// `pooled.len() - n_x` (all `C(n, n_x)` of them, each equally likely under H0).
fn all_splits_u(pooled: &[f64], n_x: usize) -> Vec<f64> {
    let n = pooled.len();
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize != n_x {
            continue;
        }
        let (mut gx, mut gy) = (Vec::new(), Vec::new());
        for (i, &v) in pooled.iter().enumerate() {
            if mask & (1 << i) != 0 { gx.push(v) } else { gy.push(v) }
        }
        out.push(u_of(&gx, &gy));
    }
    out
}

fn binomial(n: u64, k: u64) -> u128 {
    (1..=k).fold(1u128, |acc, i| acc * u128::from(n + 1 - i) / u128::from(i))
}

#[test]
fn null_counts_match_enumeration() {
    for m in 1..=7 {
        for n in 1..=7 {
            let pooled: Vec<f64> = (0..m + n).map(|i| i as f64).collect();
            let mut want = vec![0u128; m * n + 1];
            for u in all_splits_u(&pooled, m) {
                want[u as usize] += 1;
            }
            let got = u_null_counts(m, n).unwrap();
            assert_eq!(got, want, "m={m} n={n}");
            assert_eq!(got.iter().sum::<u128>(), binomial((m + n) as u64, m as u64));
        }
    }
}

#[test]
fn null_counts_at_the_exact_bound_are_symmetric_and_sum_to_the_binomial() {
    for (m, n) in [(50, 50), (25, 100), (1, 2500), (2, 1250), (10, 250)] {
        let c = u_null_counts(m, n).unwrap();
        assert_eq!(c.len(), m * n + 1);
        assert_eq!(c.iter().sum::<u128>(), binomial((m + n) as u64, m as u64));
        assert!(c.iter().eq(c.iter().rev()), "not symmetric for {m}x{n}");
        assert_eq!(c, u_null_counts(n, m).unwrap());
    }
}

/// Permutation p-values `(greater, less, two-sided)` of `x` vs `y` by full enumeration.
fn brute_p(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let u_obs = u_of(x, y);
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let splits = all_splits_u(&pooled, x.len());
    let total = splits.len() as f64;
    let ge = splits.iter().filter(|&&u| u >= u_obs).count() as f64 / total;
    let le = splits.iter().filter(|&&u| u <= u_obs).count() as f64 / total;
    (ge, le, (2.0 * ge.min(le)).min(1.0))
}

#[test]
fn exact_method_equals_full_permutation_enumeration() {
    let mut rng = Lcg(0x5eed_cafe);
    let mut checked = 0;
    for n_x in 1..=7 {
        for n_y in 1..=7 {
            for _ in 0..6 {
                let (x, y) = (rng.continuous(n_x), rng.continuous(n_y));
                let mut pooled: Vec<f64> = x.iter().chain(&y).copied().collect();
                pooled.sort_by(f64::total_cmp);
                pooled.dedup();
                if pooled.len() != n_x + n_y {
                    continue;
                }
                let (ge, le, two) = brute_p(&x, &y);
                for (alt, want) in ALTS.into_iter().zip([ge, le, two]) {
                    let r = mann_whitney(&x, &y, alt).unwrap();
                    assert_eq!(r.method, Method::Exact);
                    assert_eq!(r.z, None);
                    assert_eq!(r.u, u_of(&x, &y));
                    assert_eq!((r.n_x, r.n_y), (n_x, n_y));
                    assert!(
                        (r.p_value - want).abs() <= 1e-12,
                        "{alt:?} x={x:?} y={y:?}: {} vs brute {want}",
                        r.p_value
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 250, "only {checked} untied samples checked");
}

#[test]
fn ties_use_the_normal_method_with_the_brute_force_u() {
    let mut rng = Lcg(42);
    for n_x in 1..=7 {
        for n_y in 1..=7 {
            for _ in 0..4 {
                let (x, y) = (rng.tied(n_x), rng.tied(n_y));
                let pooled: Vec<f64> = x.iter().chain(&y).copied().collect();
                let tied = (0..pooled.len()).any(|i| pooled[i + 1..].iter().any(|&v| v == pooled[i]));
                for alt in ALTS {
                    let r = mann_whitney(&x, &y, alt).unwrap();
                    assert_eq!(r.u, u_of(&x, &y));
                    let want = if tied { Method::Normal } else { Method::Exact };
                    assert_eq!(r.method, want, "x={x:?} y={y:?}");
                    assert!((0.0..=1.0).contains(&r.p_value));
                }
            }
        }
    }
}

#[test]
fn normal_method_approximates_the_permutation_distribution_with_ties() {
    // Not a precision test: with 7 + 7 tied observations the asymptotic p-value should still
    // be in the neighbourhood (here within 0.05) of the permutation p-value.
    let x = [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 5.0];
    let y = [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
    let (ge, le, two) = brute_p(&x, &y);
    for (alt, want) in ALTS.into_iter().zip([ge, le, two]) {
        let r = mann_whitney(&x, &y, alt).unwrap();
        assert_eq!(r.method, Method::Normal);
        assert!((r.p_value - want).abs() < 0.05, "{alt:?}: {} vs {want}", r.p_value);
    }
}

// ---------------------------------------------------------------- scipy reference values

/// `((i*a + b) % m) / div + off` for i in 0..n — reproduced bit for bit in Python.
fn gen_seq(n: u64, a: u64, b: u64, m: u64, div: f64, off: f64) -> Vec<f64> {
    (0..n).map(|i| ((i * a + b) % m) as f64 / div + off).collect()
}

/// `(2*(((i*a + b) % m) + shift) + parity) / div`: the two samples use opposite parities, so
/// the pooled sample is tie-free.
fn gen_par(n: u64, a: u64, b: u64, m: u64, shift: u64, parity: u64, div: f64) -> Vec<f64> {
    (0..n).map(|i| (2 * ((i * a + b) % m + shift) + parity) as f64 / div).collect()
}

/// `(x, y, method, u, [p_greater, p_less, p_two_sided])`.
type RefCase = (Vec<f64>, Vec<f64>, Method, f64, [f64; 3]);

fn scipy_cases() -> Vec<RefCase> {
    // Computed with scipy 1.17.1: `mannwhitneyu(x, y, alternative=alt, method=m)` with
    // m = "exact" for the Exact cases and m = "asymptotic" (use_continuity=True, the default)
    // for the Normal ones. (The Exact values also agree to 1e-14 with an independent exact
    // rational computation in Python.)
    vec![
        (
            vec![1.5, 2.25, 3.0, 7.5, 9.0],
            vec![0.5, 1.0, 4.0, 5.0, 6.0, 8.0],
            Method::Exact,
            17.0,
            [0.396_103_896_103_896_07, 0.668_831_168_831_168_9, 0.792_207_792_207_792_1],
        ),
        (
            gen_par(20, 7919, 3, 1009, 20, 0, 10.0),
            gen_par(30, 104_729, 13, 1013, 0, 1, 10.0),
            Method::Exact,
            318.0,
            [0.365_664_818_651_591_56, 0.641_695_231_876_824_6, 0.731_329_637_303_183_1],
        ),
        (
            gen_par(50, 7919, 5, 1009, 150, 0, 8.0),
            gen_par(50, 104_729, 17, 1013, 0, 1, 8.0),
            Method::Exact,
            1580.0,
            [0.011_329_752_423_900_748, 0.988_877_447_479_113, 0.022_659_504_847_801_496],
        ),
        (
            vec![0.25, 0.5, 0.75],
            gen_seq(400, 7919, 2, 100_003, 1000.0, 0.3),
            Method::Exact,
            3.0,
            [0.999_999_630_566_929_2, 6.465_078_738_655_749e-7, 1.293_015_747_731_149_7e-6],
        ),
        (
            vec![1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0],
            vec![2.0, 3.0, 3.0, 4.0, 6.0, 6.0],
            Method::Normal,
            15.0,
            [0.827_826_447_883_464_5, 0.211_817_084_789_483_08, 0.423_634_169_578_966_16],
        ),
        (
            gen_seq(40, 7, 3, 13, 1.0, 0.0),
            gen_seq(45, 5, 1, 11, 1.0, 0.0),
            Method::Normal,
            1039.5,
            [0.109_739_813_664_988_14, 0.891_909_471_434_17, 0.219_479_627_329_976_28],
        ),
        (
            gen_seq(60, 7919, 3, 10007, 100.0, 5.0),
            gen_seq(70, 104_729, 13, 10009, 100.0, 0.0),
            Method::Normal,
            2381.0,
            [0.095_102_050_574_029_98, 0.905_685_500_193_061_9, 0.190_204_101_148_059_97],
        ),
        (
            gen_seq(200, 7919, 3, 10007, 100.0, 40.0),
            gen_seq(200, 104_729, 13, 10009, 100.0, 0.0),
            Method::Normal,
            32949.0,
            [2.044_682_363_899_379_2e-29, 1.0, 4.089_364_727_798_758_4e-29],
        ),
        (
            gen_seq(30, 3, 1, 7, 2.0, 0.0),
            gen_seq(35, 4, 2, 9, 2.0, 0.0),
            Method::Normal,
            416.0,
            [0.926_699_763_694_592_6, 0.075_162_069_515_955_11, 0.150_324_139_031_910_22],
        ),
    ]
}

#[test]
fn matches_scipy_reference_values() {
    for (x, y, method, u, ps) in scipy_cases() {
        for (alt, want) in ALTS.into_iter().zip(ps) {
            let r = mann_whitney(&x, &y, alt).unwrap();
            let what = format!("{}x{} {alt:?}", x.len(), y.len());
            assert_eq!(r.method, method, "{what}");
            assert_eq!(r.u, u, "{what}");
            assert_rel(r.p_value, want, 1e-12, &what);
            assert_eq!(r.z.is_some(), method == Method::Normal, "{what}");
        }
    }
}

#[test]
fn normal_z_is_the_continuity_corrected_score() {
    // 40x45 tie case: U = 1039.5, mu = 900, sigma from the tie-corrected variance.
    let x = gen_seq(40, 7, 3, 13, 1.0, 0.0);
    let y = gen_seq(45, 5, 1, 11, 1.0, 0.0);
    let g = mann_whitney(&x, &y, Alternative::Greater).unwrap();
    let l = mann_whitney(&x, &y, Alternative::Less).unwrap();
    let t = mann_whitney(&x, &y, Alternative::TwoSided).unwrap();
    let (zg, zl, zt) = (g.z.unwrap(), l.z.unwrap(), t.z.unwrap());
    let sigma = 139.0 / zg;
    assert_rel(140.0 / sigma, zl, 1e-14, "z less");
    assert_eq!(zt, zg);
    assert_rel(normal_sf(zg), g.p_value, 1e-15, "p from z");
}

// ---------------------------------------------------------------- edges and the bound

#[test]
fn rejects_empty_and_non_finite_input() {
    for alt in ALTS {
        assert_eq!(mann_whitney(&[], &[1.0], alt), None);
        assert_eq!(mann_whitney(&[1.0], &[], alt), None);
        assert_eq!(mann_whitney(&[1.0, f64::NAN], &[1.0], alt), None);
        assert_eq!(mann_whitney(&[1.0], &[f64::INFINITY], alt), None);
        assert_eq!(mann_whitney(&[f64::NEG_INFINITY], &[2.0], alt), None);
    }
}

#[test]
fn all_values_tied_gives_p_one() {
    for alt in ALTS {
        let r = mann_whitney(&[3.0; 5], &[3.0; 9], alt).unwrap();
        assert_eq!(r.method, Method::Normal);
        assert_eq!(r.p_value, 1.0);
        assert_eq!(r.z, None);
        assert_eq!(r.u, 22.5);
    }
    // -0.0 and 0.0 are the same value.
    let r = mann_whitney(&[0.0], &[-0.0], Alternative::Greater).unwrap();
    assert_eq!((r.u, r.p_value, r.method), (0.5, 1.0, Method::Normal));
}

#[test]
fn one_against_one() {
    let r = mann_whitney(&[2.0], &[1.0], Alternative::Greater).unwrap();
    assert_eq!((r.u, r.p_value, r.method), (1.0, 0.5, Method::Exact));
    let r = mann_whitney(&[2.0], &[1.0], Alternative::Less).unwrap();
    assert_eq!(r.p_value, 1.0);
    let r = mann_whitney(&[2.0], &[1.0], Alternative::TwoSided).unwrap();
    assert_eq!(r.p_value, 1.0);
}

#[test]
fn exact_up_to_the_pair_bound_then_normal() {
    let sample = |n: usize, parity: usize| -> Vec<f64> { (0..n).map(|i| (2 * i + parity) as f64).collect() };
    for (n_x, n_y, method) in [
        (50, 50, Method::Exact),
        (10, 250, Method::Exact),
        (1, 2500, Method::Exact),
        (51, 50, Method::Normal),
        (1, 2501, Method::Normal),
        (2, 1251, Method::Normal),
    ] {
        let r = mann_whitney(&sample(n_x, 0), &sample(n_y, 1), Alternative::TwoSided).unwrap();
        assert_eq!(r.method, method, "{n_x}x{n_y}");
        assert!((0.0..=1.0).contains(&r.p_value));
    }
    assert_eq!(EXACT_MAX_PAIRS, 2500);
    // Complete separation at 50x50: p = 1 / C(100, 50).
    let above: Vec<f64> = sample(50, 1).iter().map(|v| v + 1000.0).collect();
    let r = mann_whitney(&above, &sample(50, 0), Alternative::Greater).unwrap();
    assert_eq!((r.u, r.method), (2500.0, Method::Exact));
    assert_rel(r.p_value, 1.0 / binomial(100, 50) as f64, 1e-14, "1/C(100,50)");
}

#[test]
fn enums_serialise_in_snake_case() {
    assert_eq!(serde_json::to_string(&Alternative::TwoSided).unwrap(), "\"two_sided\"");
    assert_eq!(serde_json::to_string(&Alternative::Greater).unwrap(), "\"greater\"");
    assert_eq!(serde_json::to_string(&Method::Normal).unwrap(), "\"normal\"");
    let back: Alternative = serde_json::from_str("\"less\"").unwrap();
    assert_eq!(back, Alternative::Less);
}

// ---------------------------------------------------------------- properties

fn sample() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        // Few distinct values: ties, usually the Normal method.
        prop::collection::vec((-6i32..6).prop_map(f64::from), 1..40),
        // Continuous values: usually no ties, Exact up to the bound, Normal past it.
        prop::collection::vec(-1e6f64..1e6, 1..70),
    ]
}

proptest! {
    #[test]
    fn p_in_unit_interval_swap_symmetry_and_u_complement(x in sample(), y in sample()) {
        for alt in ALTS {
            let r = mann_whitney(&x, &y, alt).unwrap();
            prop_assert!((0.0..=1.0).contains(&r.p_value), "{alt:?}: p = {}", r.p_value);
            prop_assert_eq!((r.n_x, r.n_y), (x.len(), y.len()));
            prop_assert_eq!(r.u, u_of(&x, &y));
            prop_assert_eq!(r.z.is_some(), r.method == Method::Normal
                && x.iter().chain(&y).any(|&v| v != x[0]));
        }
        let xy = |alt| mann_whitney(&x, &y, alt).unwrap();
        let yx = |alt| mann_whitney(&y, &x, alt).unwrap();
        let (g, l, t) = (xy(Alternative::Greater), xy(Alternative::Less), xy(Alternative::TwoSided));
        let (g2, l2, t2) = (yx(Alternative::Greater), yx(Alternative::Less), yx(Alternative::TwoSided));
        prop_assert!((g.p_value - l2.p_value).abs() <= 1e-12);
        prop_assert!((l.p_value - g2.p_value).abs() <= 1e-12);
        prop_assert!((t.p_value - t2.p_value).abs() <= 1e-12);
        prop_assert_eq!(g.method, g2.method);
        prop_assert_eq!(g.u + g2.u, (x.len() * y.len()) as f64);
        // A one-sided p is never below half the two-sided one, and the two one-sided
        // p-values cover everything: p_greater + p_less >= 1.
        prop_assert!(g.p_value.min(l.p_value) * 2.0 >= t.p_value - 1e-15);
        prop_assert!(g.p_value + l.p_value >= 1.0 - 1e-12);
    }
}
