//! Two-sample statistics: the advantage of the best threshold on one feature, its confidence
//! interval, and the bound above which the two worlds count as told apart.
//!
//! An attacker who classifies a medium by comparing one feature with a threshold, choosing the
//! threshold and the direction that work best on these samples, reaches the balanced accuracy
//! `1/2 + D/2`, where `D = max_t |F_A(t) − F_B(t)|` is the two-sample Kolmogorov–Smirnov
//! statistic of the two empirical distributions. So the advantage reported is `D / 2`.
//!
//! - **Confidence interval** (95 %): by the Dvoretzky–Kiefer–Wolfowitz inequality with
//!   Massart's constant, each empirical distribution lies within `ε = sqrt(ln(2/α') / 2n)` of
//!   the true one with probability `1 − α'`; with `α' = 0.025` for each world, the true
//!   advantage lies within `(ε_A + ε_B) / 2` of the measured one with probability ≥ 95 %.
//! - **Bound**: the Kolmogorov–Smirnov test's critical value `c(α) · sqrt((n + m) / nm)`,
//!   `c(α) = sqrt(−ln(α/2) / 2)`, halved. With the same distribution in both worlds the
//!   measured advantage exceeds it with probability at most about `α`; the caller divides its
//!   false-alarm budget over all comparisons (Bonferroni), so one run fails by chance with
//!   probability at most that budget. Ties (the features are often counts) make the test only
//!   more conservative.

/// What one comparison of one feature found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Comparison {
    /// Best-threshold balanced accuracy minus 1/2.
    pub(crate) advantage: f64,
    /// 95 % confidence interval of the true advantage.
    pub(crate) low: f64,
    /// Upper end of the interval.
    pub(crate) high: f64,
    /// The bound above which the worlds count as told apart.
    pub(crate) bound: f64,
}

impl Comparison {
    /// Whether the measured advantage exceeds the bound.
    pub(crate) fn distinguishes(&self) -> bool {
        self.advantage > self.bound
    }
}

/// Compares samples `a` and `b` of one feature; `alpha` is this comparison's share of the
/// false-alarm budget. Both samples must be non-empty.
pub(crate) fn compare(a: &[f64], b: &[f64], alpha: f64) -> Comparison {
    let d = ks_statistic(a, b);
    let advantage = d / 2.0;
    let (n, m) = (a.len() as f64, b.len() as f64);
    let dkw = |k: f64| ((2.0f64 / 0.025).ln() / (2.0 * k)).sqrt();
    let half_width = (dkw(n) + dkw(m)) / 2.0;
    let c = (-(alpha / 2.0).ln() / 2.0).sqrt();
    Comparison {
        advantage,
        low: (advantage - half_width).max(0.0),
        high: (advantage + half_width).min(0.5),
        bound: c * ((n + m) / (n * m)).sqrt() / 2.0,
    }
}

/// `max_t |F_a(t) − F_b(t)|` over the pooled sample points.
pub(crate) fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        // Step over every point equal to the smaller value in both samples, so that ties
        // count as one threshold.
        let t = if a[i] <= b[j] { a[i] } else { b[j] };
        while i < a.len() && a[i] <= t {
            i += 1;
        }
        while j < b.len() && b[j] <= t {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    d
}

/// Mean and sample standard deviation.
pub(crate) fn mean_sd(x: &[f64]) -> (f64, f64) {
    if x.is_empty() {
        return (0.0, 0.0);
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 {
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_statistic_known_answers() {
        assert!((ks_statistic(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0])).abs() < 1e-12);
        assert!((ks_statistic(&[1.0, 2.0], &[3.0, 4.0]) - 1.0).abs() < 1e-12);
        // F_a(1) = 1/2, F_b(1) = 0 → 1/2; at 2 both reach... F_a(2) = 1, F_b(2) = 1/2.
        assert!((ks_statistic(&[1.0, 2.0], &[2.0, 3.0]) - 0.5).abs() < 1e-12);
        // Ties across the samples count once.
        assert!((ks_statistic(&[5.0; 4], &[5.0; 7])).abs() < 1e-12);
    }

    #[test]
    fn separated_samples_are_told_apart_and_equal_ones_are_not() {
        let a: Vec<f64> = (0..32).map(f64::from).collect();
        let b: Vec<f64> = (100..132).map(f64::from).collect();
        let far = compare(&a, &b, 1e-4);
        assert!((far.advantage - 0.5).abs() < 1e-12);
        assert!(far.distinguishes());
        let same = compare(&a, &a, 1e-4);
        assert!(same.advantage.abs() < 1e-12 && !same.distinguishes());
        assert!(same.low <= same.advantage && same.advantage <= same.high);
        // The bound shrinks with the sample: 4× the samples, half the bound.
        let big: Vec<f64> = (0..128).map(f64::from).collect();
        let ratio = compare(&a, &a, 1e-4).bound / compare(&big, &big, 1e-4).bound;
        assert!((ratio - 2.0).abs() < 1e-9);
    }
}
