//! The small dense linear algebra of the training crate, in f64: a cyclic Jacobi eigensolver for
//! small symmetric matrices (Procrustes quaternions, Rayleigh–Ritz blocks of the 3DMM's PCA), the
//! pseudo-inverse NIQE needs for its pooled 36×36 covariance (scikit-video calls
//! `scipy.linalg.pinv`), Cholesky solves for the teacher fit's normal equations, and the block
//! orthonormalisation of the PCA. Written out here because the workspace has no linear algebra
//! crate and these sizes (≤ 1404) do not need one.

/// Eigenvalues and eigenvectors (columns of the row-major `n×n` result) of a symmetric matrix,
/// in the order the cyclic Jacobi rotations (Golub & Van Loan, Algorithm 8.5.1) leave them.
fn jacobi_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
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
    let (lambda, v) = jacobi_eigen(a, n);
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

/// Eigen-decomposition of the symmetric `n`×`n` row-major matrix `a`, sorted: eigenvalues in
/// descending order and the matching unit eigenvectors (`vectors[k]` belongs to `values[k]`).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (values, columns) = jacobi_eigen(a, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    let vectors = order
        .iter()
        .map(|&i| (0..n).map(|k| columns[k * n + i]).collect())
        .collect();
    (order.iter().map(|&i| values[i]).collect(), vectors)
}

/// Adds one residual row of a least-squares problem to its normal equations: the upper
/// triangle of `jtj += rowᵀ·row` and `jtr −= rowᵀ·residual` (the Gauss–Newton right-hand side).
pub fn add_normal_row(jtj: &mut [f64], jtr: &mut [f64], row: &[f64], residual: f64) {
    let n = row.len();
    for a in 0..n {
        let ra = row[a];
        if ra == 0.0 {
            continue;
        }
        jtr[a] -= ra * residual;
        for (out, rb) in jtj[a * n + a..(a + 1) * n].iter_mut().zip(&row[a..]) {
            *out += ra * rb;
        }
    }
}

/// Mirrors the upper triangle of the `n`×`n` row-major matrix into the lower one.
pub fn mirror_upper(m: &mut [f64], n: usize) {
    for a in 0..n {
        for b in 0..a {
            m[a * n + b] = m[b * n + a];
        }
    }
}

/// Solves `a·x = b` for a symmetric positive definite `n`×`n` matrix `a` (row-major) by
/// Cholesky; `None` when `a` is not positive definite (a pivot ≤ 0 or non-finite).
pub fn cholesky_solve(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !(sum > 0.0 && sum.is_finite()) {
                    return None;
                }
                l[i * n + i] = sum.sqrt();
            } else {
                l[i * n + j] = sum / l[j * n + j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i * n + i];
    }
    Some(x)
}

/// Least squares with a ridge: minimises `|A·x − b|² + Σ ridge_k·x_k²` from the accumulated
/// normal equations `ata` (n×n) and `atb`; the ridge also keeps the system positive definite.
/// `None` when it still is not (e.g. non-finite entries).
pub fn ridge_solve(ata: &[f64], atb: &[f64], ridge: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut m = ata.to_vec();
    for k in 0..n {
        m[k * n + k] += ridge[k];
    }
    cholesky_solve(&m, atb, n)
}

/// Orthonormalises the columns of the `d`×`p` column-major matrix `q` in place (modified
/// Gram–Schmidt, twice for stability); a column that vanishes is replaced by a unit vector.
pub fn orthonormalize_columns(q: &mut [f64], d: usize, p: usize) {
    for _pass in 0..2 {
        for j in 0..p {
            let (done, rest) = q.split_at_mut(j * d);
            let col = &mut rest[..d];
            for i in 0..j {
                let prev = &done[i * d..(i + 1) * d];
                let dot: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
                col.iter_mut().zip(prev).for_each(|(c, a)| *c -= dot * a);
            }
            let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
            if norm > 1e-300 {
                col.iter_mut().for_each(|c| *c /= norm);
            } else {
                col.iter_mut().for_each(|c| *c = 0.0);
                col[j % d] = 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_a_known_spectrum() {
        // A = Q·diag(5, 2, -1)·Qᵀ with a rotation Q.
        let (c, s) = (0.6f64, 0.8f64);
        let q = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let d = [5.0, 2.0, -1.0];
        let a: Vec<f64> = (0..9)
            .map(|k| (0..3).map(|m| q[k / 3][m] * d[m] * q[k % 3][m]).sum())
            .collect();
        let (values, vectors) = symmetric_eigen(&a, 3);
        for (v, e) in values.iter().zip(d) {
            assert!((v - e).abs() < 1e-12, "{values:?}");
        }
        // First eigenvector is ±(c, s, 0).
        let dot = vectors[0][0] * c + vectors[0][1] * s;
        assert!((dot.abs() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn cholesky_solves_and_refuses_indefinite() {
        let a = [4.0, 1.0, 1.0, 3.0];
        let x = cholesky_solve(&a, &[1.0, 2.0], 2).unwrap();
        assert!((4.0 * x[0] + x[1] - 1.0).abs() < 1e-12);
        assert!((x[0] + 3.0 * x[1] - 2.0).abs() < 1e-12);
        assert!(cholesky_solve(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 2).is_none());
    }

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
        let (l, v) = jacobi_eigen(&a, 3);
        for r in 0..3 {
            for c in 0..3 {
                let x: f64 = (0..3).map(|k| v[r * 3 + k] * l[k] * v[c * 3 + k]).sum();
                assert!((x - a[r * 3 + c]).abs() < 1e-10);
            }
        }
    }
}
