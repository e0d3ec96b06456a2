//! PURE: the special functions the small-sample tests of
//! `info::statistics` need: ln Γ and the regularized incomplete beta
//! function, from which Student's t distribution and the binomial's tails
//! follow. Numerical Recipes (2nd ed., §6.1 and §6.4): Lanczos's series
//! and Lentz's continued fraction, good to about 1e-10 here.

/// ln Γ(x) for x > 0 (Lanczos, NR's `gammln`).
pub fn ln_gamma(x: f64) -> f64 {
    const COF: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut series = 1.000_000_000_190_015;
    for c in COF {
        y += 1.0;
        series += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * series / x).ln()
}

/// I_x(a, b), the regularized incomplete beta function, for a, b > 0
/// (NR's `betai`): 0 at x ≤ 0, 1 at x ≥ 1.
pub fn regularized_beta(x: f64, a: f64, b: f64) -> f64 {
    if x.is_nan() || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast on this side of the mean.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of I_x(a, b), by Lentz's method (NR's `betacf`).
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-14;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// P(|T| ≥ |t|) for Student's T with `df` degrees of freedom.
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    regularized_beta(df / (df + t * t), df / 2.0, 0.5)
}

/// P(X ≥ k) for X ~ Binomial(n, p): I_p(k, n − k + 1).
pub fn binomial_at_least(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    regularized_beta(p, k as f64, (n - k + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, within: f64) -> bool {
        (a - b).abs() < within
    }

    #[test]
    fn ln_gamma_at_known_values() {
        // Γ(1) = Γ(2) = 1, Γ(5) = 24, Γ(1/2) = √π.
        assert!(close(ln_gamma(1.0), 0.0, 1e-10));
        assert!(close(ln_gamma(2.0), 0.0, 1e-10));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-10));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-10
        ));
    }

    #[test]
    fn the_incomplete_beta_at_closed_forms() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b.
        assert!(close(regularized_beta(0.3, 1.0, 1.0), 0.3, 1e-12));
        assert!(close(regularized_beta(0.5, 3.0, 1.0), 0.125, 1e-12));
        assert!(close(
            regularized_beta(0.2, 1.0, 4.0),
            1.0 - 0.8f64.powi(4),
            1e-12
        ));
        assert_eq!(regularized_beta(0.0, 2.0, 3.0), 0.0);
        assert_eq!(regularized_beta(1.0, 2.0, 3.0), 1.0);
    }

    #[test]
    fn students_t_at_the_tables_critical_values() {
        // Two-sided critical values from the t table: 12.706 (df 1, 5%),
        // 2.776 (df 4, 5%), 4.541 (df 3, 2%), 2.861 (df 19, 1%).
        assert!(close(t_two_sided(12.706, 1.0), 0.05, 1e-4));
        assert!(close(t_two_sided(2.776, 4.0), 0.05, 1e-4));
        assert!(close(t_two_sided(-4.541, 3.0), 0.02, 1e-4));
        assert!(close(t_two_sided(2.861, 19.0), 0.01, 1e-4));
        assert!(close(t_two_sided(0.0, 7.0), 1.0, 1e-12));
        // Many degrees of freedom: the normal's 1.96 → 5%.
        assert!(close(t_two_sided(1.959_964, 1e6), 0.05, 1e-4));
    }

    #[test]
    fn binomial_tails_by_hand() {
        // n = 2, p = 0.2: P(X ≥ 2) = 0.04, P(X ≥ 1) = 1 − 0.64 = 0.36.
        assert!(close(binomial_at_least(2, 2, 0.2), 0.04, 1e-12));
        assert!(close(binomial_at_least(1, 2, 0.2), 0.36, 1e-12));
        // n = 10, p = 0.5: P(X ≥ 8) = (45 + 10 + 1) / 1024.
        assert!(close(binomial_at_least(8, 10, 0.5), 56.0 / 1024.0, 1e-12));
        assert_eq!(binomial_at_least(0, 3, 0.1), 1.0);
        assert_eq!(binomial_at_least(4, 3, 0.1), 0.0);
    }
}
