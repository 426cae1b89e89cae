//! The Universal Scalability Law (Gunther), fitted to a stepped run:
//!
//! ```text
//! X(N) = λN / (1 + σ(N − 1) + κN(N − 1))
//! ```
//!
//! N users (concurrency), X throughput; λ is one user's throughput, σ the
//! contention (a serial share: queueing for one thing), κ the coherency
//! cost (crosstalk that grows with N², which makes throughput fall past a
//! peak). Fitted by least squares on X (Levenberg–Marquardt, σ, κ ≥ 0),
//! started from the linear fit of N/X, which is a quadratic in N. Pure.

use serde::{Deserialize, Serialize};

/// The knee: where one more user adds less than this share of what one
/// user alone achieves (λ).
pub const MARGINAL_FRACTION: f64 = 0.5;

/// A fitted curve and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// Throughput of one user alone, requests/s.
    pub lambda: f64,
    /// Contention.
    pub sigma: f64,
    /// Coherency.
    pub kappa: f64,
    /// Of the fit on throughput (1 is perfect).
    pub r_squared: f64,
    /// Steps fitted.
    pub points: usize,
    /// N where throughput peaks, √((1 − σ)/κ); none when κ = 0 (it then
    /// only levels off, at λ/σ).
    pub peak_users: Option<f64>,
    /// X at the peak (or λ/σ, the ceiling, when κ = 0 and σ > 0).
    pub peak_rps: Option<f64>,
    /// [`MARGINAL_FRACTION`], as used below.
    pub marginal_fraction: f64,
    /// The N from which one more user adds less than `marginal_fraction`
    /// × λ; none when it never does (linear scaling).
    pub diminishing_from_users: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UslError {
    #[error("a fit needs at least 3 distinct user counts with throughput (had {0})")]
    TooFewPoints(usize),
}

impl UslFit {
    /// X(N).
    pub fn throughput(&self, n: f64) -> f64 {
        model(&[self.lambda, self.sigma, self.kappa], n)
    }

    /// dX/dN = λ(1 − σ − κN²) / D(N)².
    pub fn marginal(&self, n: f64) -> f64 {
        let d = 1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0);
        self.lambda * (1.0 - self.sigma - self.kappa * n * n) / (d * d)
    }
}

fn model(p: &[f64; 3], n: f64) -> f64 {
    let [lambda, sigma, kappa] = *p;
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// Fits (users, throughput) points.
pub fn fit(points: &[(f64, f64)]) -> Result<UslFit, UslError> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(n, x)| n.is_finite() && x.is_finite() && *n >= 1.0 && *x > 0.0)
        .collect();
    let mut distinct: Vec<f64> = pts.iter().map(|p| p.0).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(UslError::TooFewPoints(distinct.len()));
    }
    let start = linear_start(&pts);
    // The full model, and each coefficient held at 0: the best that stays
    // in σ, κ ≥ 0 (the full fit can stick on a bound).
    let best = [[true, true, true], [true, true, false], [true, false, true]]
        .into_iter()
        .map(|free| {
            let mut p = start;
            for (i, f) in free.iter().enumerate() {
                if !f {
                    p[i] = 0.0;
                }
            }
            refine(&pts, p, free)
        })
        .min_by(|a, b| sse(&pts, a).total_cmp(&sse(&pts, b)))
        .unwrap_or(start);
    Ok(describe(&pts, best))
}

/// N/X = a + b(N − 1) + cN(N − 1) with λ = 1/a, σ = b/a, κ = c/a: linear
/// least squares, clamped into the feasible region.
fn linear_start(pts: &[(f64, f64)]) -> [f64; 3] {
    let mut ata = [[0.0; 3]; 3];
    let mut aty = [0.0; 3];
    for &(n, x) in pts {
        let row = [1.0, n - 1.0, n * (n - 1.0)];
        for i in 0..3 {
            for j in 0..3 {
                ata[i][j] += row[i] * row[j];
            }
            aty[i] += row[i] * n / x;
        }
    }
    let best_per_user = pts.iter().map(|(n, x)| x / n).fold(0.0, f64::max);
    match solve3(ata, aty) {
        Some([a, b, c]) if a > 0.0 => [1.0 / a, (b / a).max(0.0), (c / a).max(0.0)],
        _ => [best_per_user, 0.0, 0.0],
    }
}

fn sse(pts: &[(f64, f64)], p: &[f64; 3]) -> f64 {
    pts.iter().map(|&(n, x)| (x - model(p, n)).powi(2)).sum()
}

/// ∂X/∂(λ, σ, κ) at N.
fn gradient(p: &[f64; 3], n: f64) -> [f64; 3] {
    let [lambda, sigma, kappa] = *p;
    let d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0);
    let common = -lambda * n / (d * d);
    [n / d, common * (n - 1.0), common * n * (n - 1.0)]
}

/// Levenberg–Marquardt on the free coefficients, σ and κ kept ≥ 0.
fn refine(pts: &[(f64, f64)], mut p: [f64; 3], free: [bool; 3]) -> [f64; 3] {
    let mut mu = 1e-3;
    let mut err = sse(pts, &p);
    for _ in 0..500 {
        let mut jtj = [[0.0; 3]; 3];
        let mut jtr = [0.0; 3];
        for &(n, x) in pts {
            let mut g = gradient(&p, n);
            for (gi, f) in g.iter_mut().zip(free) {
                if !f {
                    *gi = 0.0;
                }
            }
            let r = x - model(&p, n);
            for i in 0..3 {
                for j in 0..3 {
                    jtj[i][j] += g[i] * g[j];
                }
                jtr[i] += g[i] * r;
            }
        }
        let mut improved = false;
        while mu < 1e12 {
            let mut a = jtj;
            for (i, row) in a.iter_mut().enumerate() {
                row[i] += mu * jtj[i][i].max(1e-300) + if free[i] { 0.0 } else { 1.0 };
            }
            let Some(step) = solve3(a, jtr) else { break };
            let trial = [
                (p[0] + step[0]).max(1e-12),
                (p[1] + step[1]).max(0.0),
                (p[2] + step[2]).max(0.0),
            ];
            let trial_err = sse(pts, &trial);
            if trial_err < err {
                let gain = (err - trial_err) / err.max(1e-300);
                p = trial;
                err = trial_err;
                mu = (mu / 3.0).max(1e-15);
                improved = gain > 1e-15;
                break;
            }
            mu *= 4.0;
        }
        if !improved {
            break;
        }
    }
    p
}

/// Gaussian elimination with partial pivoting; `None` when singular.
#[allow(clippy::needless_range_loop)] // indices as in the maths
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..3 {
            let f = a[row][col] / a[col][col];
            for k in col..3 {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let rest: f64 = (row + 1..3).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The fit's coefficients and what follows from them.
fn describe(pts: &[(f64, f64)], p: [f64; 3]) -> UslFit {
    let [lambda, sigma, kappa] = p;
    let mean = pts.iter().map(|q| q.1).sum::<f64>() / pts.len() as f64;
    let total: f64 = pts.iter().map(|q| (q.1 - mean).powi(2)).sum();
    let r_squared = if total > 0.0 {
        1.0 - sse(pts, &p) / total
    } else {
        1.0
    };
    let peak_users = (kappa > 0.0 && sigma < 1.0).then(|| ((1.0 - sigma) / kappa).sqrt());
    let mut out = UslFit {
        lambda,
        sigma,
        kappa,
        r_squared,
        points: pts.len(),
        peak_users,
        peak_rps: None,
        marginal_fraction: MARGINAL_FRACTION,
        diminishing_from_users: None,
    };
    out.peak_rps = match peak_users {
        Some(n) => Some(out.throughput(n)),
        None if sigma > 0.0 => Some(lambda / sigma),
        None => None,
    };
    out.diminishing_from_users = diminishing_from(&out);
    out
}

/// The smallest N ≥ 1 with dX/dN < fraction × λ (dX/dN only falls with
/// N): bisection, after doubling to bracket it.
fn diminishing_from(u: &UslFit) -> Option<f64> {
    let target = u.marginal_fraction * u.lambda;
    let below = |n: f64| u.marginal(n) < target;
    if below(1.0) {
        return Some(1.0);
    }
    let mut hi = 2.0;
    while !below(hi) {
        hi *= 2.0;
        if hi > 1e9 {
            return None;
        }
    }
    let mut lo = hi / 2.0;
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if below(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(lambda: f64, sigma: f64, kappa: f64, ns: &[f64]) -> Vec<(f64, f64)> {
        ns.iter()
            .map(|&n| (n, model(&[lambda, sigma, kappa], n)))
            .collect()
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn a_synthetic_curve_gives_back_its_coefficients() {
        let pts = curve(100.0, 0.05, 0.001, &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        let u = fit(&pts).expect("fit");
        assert!(rel(u.lambda, 100.0) < 1e-6, "{u:?}");
        assert!(rel(u.sigma, 0.05) < 1e-5, "{u:?}");
        assert!(rel(u.kappa, 0.001) < 1e-5, "{u:?}");
        assert!(u.r_squared > 0.999_999);
        // √(0.95 / 0.001) = 30.82; X there = 100 × 30.82 / (1 + 0.05 × 29.82 + 0.001 × 30.82 × 29.82).
        let n = (0.95f64 / 0.001).sqrt();
        assert!(rel(u.peak_users.expect("a peak"), n) < 1e-5);
        let x = 100.0 * n / (1.0 + 0.05 * (n - 1.0) + 0.001 * n * (n - 1.0));
        assert!(rel(u.peak_rps.expect("peak rps"), x) < 1e-5);
    }

    /// κ = 0 (Amdahl): no peak, a ceiling at λ/σ = 1,000; one more user
    /// adds λ(1 − σ)/(1 + σ(N − 1))², under λ/2 from
    /// N = 1 + (√(2 × 0.9) − 1)/0.1 = 4.416.
    #[test]
    fn contention_alone_levels_off_and_the_knee_is_where_a_user_adds_under_half() {
        let pts = curve(100.0, 0.1, 0.0, &[1.0, 2.0, 4.0, 8.0, 16.0]);
        let u = fit(&pts).expect("fit");
        assert!(u.kappa < 1e-9, "{u:?}");
        assert_eq!(u.peak_users, None);
        assert!(rel(u.peak_rps.expect("ceiling"), 1000.0) < 1e-4);
        let n = 1.0 + ((2.0f64 * 0.9).sqrt() - 1.0) / 0.1;
        assert!(
            rel(u.diminishing_from_users.expect("a knee"), n) < 1e-4,
            "{u:?}"
        );
    }

    #[test]
    fn noisy_measurements_still_fit_near_the_truth() {
        let noise = [1.02, 0.98, 1.01, 0.99, 1.015, 0.985];
        let pts: Vec<_> = curve(200.0, 0.03, 0.0005, &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
            .into_iter()
            .zip(noise)
            .map(|((n, x), e)| (n, x * e))
            .collect();
        let u = fit(&pts).expect("fit");
        assert!(rel(u.lambda, 200.0) < 0.1, "{u:?}");
        assert!(u.r_squared > 0.99, "{u:?}");
        assert!(
            u.peak_users.is_some_and(|n| (20.0..80.0).contains(&n)),
            "{u:?}"
        );
    }

    #[test]
    fn linear_scaling_has_no_knee_and_falling_throughput_has_an_early_one() {
        let u = fit(&curve(50.0, 0.0, 0.0, &[1.0, 2.0, 4.0])).expect("fit");
        assert!(u.sigma < 1e-9 && u.kappa < 1e-9, "{u:?}");
        assert_eq!(u.diminishing_from_users, None);
        let falling = [(1.0, 100.0), (2.0, 90.0), (4.0, 60.0)];
        let u = fit(&falling).expect("fit");
        assert_eq!(u.diminishing_from_users, Some(1.0), "{u:?}");
        assert!(u.sigma >= 0.0 && u.kappa >= 0.0);
    }

    #[test]
    fn two_step_sizes_are_too_few() {
        assert_eq!(
            fit(&[(1.0, 10.0), (2.0, 19.0), (2.0, 18.0)]),
            Err(UslError::TooFewPoints(2))
        );
        assert_eq!(
            fit(&[(1.0, 0.0), (2.0, 0.0), (4.0, 0.0)]),
            Err(UslError::TooFewPoints(0))
        );
    }
}
