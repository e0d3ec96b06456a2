//! PURE: the statistics the canary-against-stable comparison rests on. A
//! two-proportion z-test (pooled, two-sided) for a rate such as the share
//! of failed requests; for a latency quantile the same test on the share
//! of requests slower than stable's quantile, read off the histogram's
//! buckets (a rank test over the buckets says whether the distributions
//! differ, not whether the 99th percentile moved; this asks that).

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
