//! Small dense linear algebra for the metrics: the Moore–Penrose pseudo-inverse of a symmetric
//! matrix through its eigen-decomposition (cyclic Jacobi rotations, Golub & Van Loan §8.5), which
//! NIQE needs for its pooled 36×36 covariance (scikit-video calls `scipy.linalg.pinv`).

/// Eigenvalues and eigenvectors (columns of the row-major `n×n` result) of a symmetric matrix.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|r| (0..n).filter(move |c| *c != r).map(move |c| (r, c)))
            .map(|(r, c)| m[r * n + c].powi(2))
            .sum();
        let scale: f64 = m.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // Rotation angle that zeroes m[p][q] (Golub & Van Loan, Algorithm 8.5.1).
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| m[i * n + i]).collect(), v)
}

/// Pseudo-inverse of a symmetric `n×n` matrix: eigenvalues with magnitude at most
/// `n · ε · max|λ|` are treated as zero (scipy's default relative cutoff).
pub fn symmetric_pinv(a: &[f64], n: usize) -> Vec<f64> {
    let (lambda, v) = symmetric_eigen(a, n);
    let largest = lambda.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    let cutoff = n as f64 * f64::EPSILON * largest;
    let mut out = vec![0.0f64; n * n];
    for (k, l) in lambda.iter().enumerate() {
        if l.abs() <= cutoff {
            continue;
        }
        for r in 0..n {
            for c in 0..n {
                out[r * n + c] += v[r * n + k] * v[c * n + k] / l;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_a_regular_matrix() {
        // [[4, 1], [1, 3]]⁻¹ = [[3, -1], [-1, 4]] / 11
        let p = symmetric_pinv(&[4.0, 1.0, 1.0, 3.0], 2);
        let expect = [3.0 / 11.0, -1.0 / 11.0, -1.0 / 11.0, 4.0 / 11.0];
        for (a, b) in p.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn pseudo_inverts_a_singular_matrix() {
        // [[1, 1], [1, 1]] = 2·u·uᵀ with u = (1, 1)/√2; its pseudo-inverse is [[1, 1], [1, 1]]/4.
        let p = symmetric_pinv(&[1.0, 1.0, 1.0, 1.0], 2);
        for v in p {
            assert!((v - 0.25).abs() < 1e-12);
        }
    }

    #[test]
    fn eigenvectors_reconstruct_the_matrix() {
        let a = [2.0, -1.0, 0.5, -1.0, 3.0, 0.25, 0.5, 0.25, 1.0];
        let (l, v) = symmetric_eigen(&a, 3);
        for r in 0..3 {
            for c in 0..3 {
                let x: f64 = (0..3).map(|k| v[r * 3 + k] * l[k] * v[c * 3 + k]).sum();
                assert!((x - a[r * 3 + c]).abs() < 1e-10);
            }
        }
    }
}
