//! The small dense linear algebra the 3DMM build and the teacher fit need, in f64: a cyclic
//! Jacobi eigensolver for small symmetric matrices (Procrustes quaternions, Rayleigh–Ritz
//! blocks), Cholesky solves for normal equations, and the block covariance product of the PCA.
//! Written out here because the workspace has no linear algebra crate and these sizes (≤ 1404)
//! do not need one.

/// Eigen-decomposition of the symmetric `n`×`n` row-major matrix `a` (the metrics' cyclic
/// Jacobi solver, `eval::linalg`), sorted: eigenvalues in descending order and the matching unit
/// eigenvectors (`vectors[k]` belongs to `values[k]`).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (values, columns) = crate::eval::linalg::symmetric_eigen(a, n);
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
}
