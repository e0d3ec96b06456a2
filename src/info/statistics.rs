//! PURE: the statistics the canary-against-stable comparison rests on. A
//! two-proportion z-test (pooled, two-sided) for a rate such as the share
//! of failed requests; for a latency quantile the same test on the share
//! of requests slower than stable's quantile, read off the histogram's
//! buckets (a rank test over the buckets says whether the distributions
//! differ, not whether the 99th percentile moved; this asks that). For a
//! revision's pods, which are few (one canary pod beside four stable is
//! usual): Student's two-sample t-test with pooled variance on a value per
//! pod (CPU, memory), which holds for a single canary pod, as a
//! prediction interval does; and for restarts, counts over pod lifetimes,
//! the exact conditional test of two Poisson rates (the canary's share of
//! all restarts against its share of the pod-time, binomial).

use super::special_functions::{binomial_at_least, t_two_sided};

/// The outcome of a two-sided test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// The standardised difference, first sample minus second.
    pub z: f64,
    /// The chance of a difference at least this large were there none.
    pub p_value: f64,
}

/// P(Z > z) for a standard normal Z.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to a fractional error under 1.2e-7
/// everywhere (Numerical Recipes' `erfcc`, a Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Whether `x1` of `n1` differs from `x2` of `n2` (counts may be
/// fractional: rates times a window). `None` without observations on
/// either side; a pooled proportion of 0 or 1 (no difference possible) is
/// z = 0, p = 1.
pub fn two_proportions(x1: f64, n1: f64, x2: f64, n2: f64) -> Option<TestResult> {
    if n1.is_nan() || n2.is_nan() || n1 <= 0.0 || n2 <= 0.0 || x1 < 0.0 || x2 < 0.0 {
        return None;
    }
    let (p1, p2) = (x1 / n1, x2 / n2);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se.is_nan() || se <= 0.0 {
        return Some(TestResult {
            z: 0.0,
            p_value: 1.0,
        });
    }
    let z = (p1 - p2) / se;
    Some(TestResult {
        z,
        p_value: (2.0 * normal_upper_tail(z.abs())).min(1.0),
    })
}

/// Whether the values of `a` differ in mean from those of `b`, by
/// Student's t-test with pooled variance (two-sided; the pods of one
/// application under the same load vary alike). `None` with fewer than
/// three values in all or an empty side. All values equal on both sides
/// is no difference; equal within each side but not across is a sure one.
pub fn pooled_t(a: &[f64], b: &[f64]) -> Option<TestResult> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() || a.len() + b.len() < 3 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (m1, m2) = (mean(a), mean(b));
    let squares = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let df = n1 + n2 - 2.0;
    let pooled = (squares(a, m1) + squares(b, m2)) / df;
    let se = (pooled * (1.0 / n1 + 1.0 / n2)).sqrt();
    let difference = m1 - m2;
    if !se.is_finite() || se <= 0.0 {
        let sure = difference != 0.0 && difference.is_finite();
        return Some(TestResult {
            z: if sure {
                difference.signum() * f64::INFINITY
            } else {
                0.0
            },
            p_value: if sure { 0.0 } else { 1.0 },
        });
    }
    let t = difference / se;
    Some(TestResult {
        z: t,
        p_value: t_two_sided(t, df).clamp(0.0, 1.0),
    })
}

/// Whether `x1` events over `exposure1` happen at another rate than `x2`
/// over `exposure2` (restarts over pod-seconds): the exact conditional
/// test. Were the rates equal, the first side's count of all `x1 + x2`
/// would be binomial with p = its share of the exposure; two-sided by
/// doubling the smaller tail. `z` is the standardised difference of that
/// count from its expectation (for the direction). `None` without
/// exposure on either side.
pub fn poisson_rates(x1: u64, exposure1: f64, x2: u64, exposure2: f64) -> Option<TestResult> {
    if !(exposure1 > 0.0 && exposure2 > 0.0 && (exposure1 + exposure2).is_finite()) {
        return None;
    }
    let n = x1 + x2;
    if n == 0 {
        return Some(TestResult {
            z: 0.0,
            p_value: 1.0,
        });
    }
    let p = exposure1 / (exposure1 + exposure2);
    let expected = n as f64 * p;
    let spread = (expected * (1.0 - p)).sqrt();
    let z = if spread > 0.0 {
        (x1 as f64 - expected) / spread
    } else {
        0.0
    };
    let tail = if x1 as f64 >= expected {
        binomial_at_least(x1, n, p)
    } else {
        1.0 - binomial_at_least(x1 + 1, n, p)
    };
    Some(TestResult {
        z,
        p_value: (2.0 * tail).clamp(0.0, 1.0),
    })
}

/// The upper bound of the first bucket by which `q` of the observations
/// of cumulative `buckets` (upper bound, count at or under it; `+Inf`
/// last) are in; `None` without observations or when only `+Inf` holds
/// them.
pub fn quantile_bucket(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = total(buckets)?;
    sorted(buckets)
        .into_iter()
        .find(|(_, c)| *c >= q * total)
        .map(|(le, _)| le)
        .filter(|le| le.is_finite())
}

/// (observations above `bound`, all observations) of cumulative `buckets`.
pub fn above(bound: f64, buckets: &[(f64, f64)]) -> Option<(f64, f64)> {
    let total = total(buckets)?;
    let at_or_under = sorted(buckets)
        .into_iter()
        .filter(|(le, _)| *le <= bound)
        .map(|(_, c)| c)
        .fold(0.0, f64::max);
    Some(((total - at_or_under).max(0.0), total))
}

fn sorted(buckets: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut b = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    b
}

/// All observations: the `+Inf` bucket's count.
fn total(buckets: &[(f64, f64)]) -> Option<f64> {
    buckets
        .iter()
        .find(|(le, _)| le.is_infinite())
        .map(|(_, c)| *c)
        .filter(|c| *c > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_tail_at_the_usual_critical_values() {
        // Tables: Φ(1.959964) = 0.975, Φ(2.326348) = 0.99, Φ(0) = 0.5.
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_upper_tail(2.326_348) - 0.01).abs() < 1e-6);
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper_tail(-1.959_964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn two_proportions_worked_by_hand() {
        // 45 of 100 against 30 of 100: pooled 75/200 = 0.375,
        // se = √(0.375 · 0.625 · (1/100 + 1/100)) = √0.0046875 = 0.068465,
        // z = 0.15 / 0.068465 = 2.19089; Φ(2.19089) = 0.985772 (between
        // the table's 0.98574 at 2.19 and 0.98610 at 2.20), so the
        // two-sided p = 2 · 0.014228 = 0.028456.
        let t = two_proportions(45.0, 100.0, 30.0, 100.0).expect("a test");
        assert!((t.z - 2.190_89).abs() < 1e-4, "{t:?}");
        assert!((t.p_value - 0.028_456).abs() < 1e-4, "{t:?}");
        // 3% of 1,000 failing against 0.2% of 1,000: pooled 32/2000 =
        // 0.016, se = √(0.016 · 0.984 · 0.002) = 0.0056114, z = 0.028 /
        // 0.0056114 = 4.98984: far past 98% (2.326).
        let t = two_proportions(30.0, 1000.0, 2.0, 1000.0).expect("a test");
        assert!((t.z - 4.989_84).abs() < 1e-3, "{t:?}");
        assert!(t.p_value < 1e-5, "{t:?}");
        // The same 3% against 0.2% over 100 requests each is not enough:
        // se = √(0.016 · 0.984 · 0.02) = 0.017745, z = 1.578.
        let t = two_proportions(3.0, 100.0, 0.2, 100.0).expect("a test");
        assert!((t.z - 1.578).abs() < 1e-3 && t.p_value > 0.02, "{t:?}");
        // Nothing failing on either side: no difference to find.
        assert_eq!(
            two_proportions(0.0, 500.0, 0.0, 500.0),
            Some(TestResult {
                z: 0.0,
                p_value: 1.0
            })
        );
        assert_eq!(two_proportions(1.0, 0.0, 1.0, 10.0), None);
    }

    #[test]
    fn students_t_worked_by_hand() {
        // 1, 2, 3 against 4, 5, 6: means 2 and 5, pooled variance
        // (2 + 2) / 4 = 1, se = √(1/3 + 1/3) = 0.81650, t = −3.67423 on
        // 4 degrees of freedom, p = 0.021312 (as scipy's ttest_ind gives).
        let t = pooled_t(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).expect("a test");
        assert!((t.z + 3.674_23).abs() < 1e-4, "{t:?}");
        assert!((t.p_value - 0.021_312).abs() < 1e-5, "{t:?}");
        // One canary pod at 410 against four stable pods at 118, 120, 122,
        // 120: variance (4 + 0 + 4 + 0) / 3, se = 1.633 · √(1 + 1/4) =
        // 1.8257, t = 158.8: sure however few the pods.
        let t = pooled_t(&[410.0], &[118.0, 120.0, 122.0, 120.0]).expect("a test");
        assert!((t.z - 158.84).abs() < 0.01 && t.p_value < 1e-6, "{t:?}");
        // One pod at 125 among that spread is no sure difference: t =
        // 5 / 1.8257 = 2.739 on 3 degrees of freedom, p ≈ 0.071.
        let t = pooled_t(&[125.0], &[118.0, 120.0, 122.0, 120.0]).expect("a test");
        assert!(t.p_value > 0.05 && t.p_value < 0.1, "{t:?}");
        // One pod each: no variance to judge by.
        assert_eq!(pooled_t(&[1.0], &[2.0]), None);
        assert_eq!(pooled_t(&[], &[2.0, 3.0, 4.0]), None);
        assert_eq!(pooled_t(&[5.0], &[5.0, 5.0]).map(|t| t.p_value), Some(1.0));
        assert_eq!(pooled_t(&[6.0], &[5.0, 5.0]).map(|t| t.p_value), Some(0.0));
    }

    #[test]
    fn poisson_rates_worked_by_hand() {
        // 3 restarts on a canary pod against none on four stable pods of
        // the same age: p = 1/5, P(X ≥ 3 | n = 3) = 0.2³ = 0.008, two-sided
        // 0.016: sure at 98%. Two restarts: 0.04 · 2 = 0.08, not sure.
        let t = poisson_rates(3, 1.0, 0, 4.0).expect("a test");
        assert!((t.p_value - 0.016).abs() < 1e-9 && t.z > 0.0, "{t:?}");
        let t = poisson_rates(2, 1.0, 0, 4.0).expect("a test");
        assert!((t.p_value - 0.08).abs() < 1e-9, "{t:?}");
        // Fewer than expected: 0 of 6 where 3 were expected (p = 1/2):
        // P(X ≤ 0) = 1/64, two-sided 1/32.
        let t = poisson_rates(0, 1.0, 6, 1.0).expect("a test");
        assert!((t.p_value - 1.0 / 32.0).abs() < 1e-9 && t.z < 0.0, "{t:?}");
        // A young canary's one restart against none in stable's days.
        let t = poisson_rates(1, 600.0, 0, 4.0 * 259_200.0).expect("a test");
        assert!(t.p_value < 0.002, "{t:?}");
        assert_eq!(poisson_rates(0, 1.0, 0, 1.0).map(|t| t.p_value), Some(1.0));
        assert_eq!(poisson_rates(1, 0.0, 0, 1.0), None);
    }

    #[test]
    fn quantiles_and_what_lies_above_them_from_buckets() {
        // Cumulative: 50 ≤ 25 ms, 90 ≤ 50, 99 ≤ 100, 100 in all.
        let b = [
            (25.0, 50.0),
            (50.0, 90.0),
            (100.0, 99.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(quantile_bucket(0.5, &b), Some(25.0));
        assert_eq!(quantile_bucket(0.9, &b), Some(50.0));
        assert_eq!(quantile_bucket(0.99, &b), Some(100.0));
        assert_eq!(quantile_bucket(0.999, &b), None, "only +Inf holds it");
        assert_eq!(above(50.0, &b), Some((10.0, 100.0)));
        assert_eq!(above(100.0, &b), Some((1.0, 100.0)));
        assert_eq!(above(5.0, &b), Some((100.0, 100.0)));
        assert_eq!(quantile_bucket(0.5, &[(f64::INFINITY, 0.0)]), None);
    }
}
