//! Principal component analysis of per-face vectors (468 vertices × 3 = 1404 values): the mean,
//! the leading directions of the covariance and their variances. This is how linear 3DMMs are
//! learned (Blanz & Vetter 1999; BFM09 Paysan et al. 2009, Sec. 3): shape `S = S̄ + B·α` with
//! `B`'s columns the principal directions scaled by their standard deviations, so that the
//! coefficients of the training faces are ≈ N(0, 1), as D3DFR's regressor and prior assume.
//!
//! The covariance is formed once (D×D, blocks of rows so it is streamed few times) and its top
//! eigenpairs come from subspace iteration with a Rayleigh–Ritz step: only the first K of D are
//! needed, and the spectrum of face data falls fast.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::linalg::{orthonormalize_columns, symmetric_eigen};

/// Rows per block of the covariance product (a column-major block of this many faces).
const BLOCK_ROWS: usize = 64;
/// Partial covariance sums computed in parallel (fixed, so the sum order is too).
const SUM_GROUPS: usize = 8;
/// Extra directions iterated beyond the ones kept: speeds convergence of the last kept ones.
const OVERSAMPLE: usize = 24;
/// Subspace iterations; the convergence factor per step is λ_(p+1)/λ_k.
const ITERATIONS: usize = 80;

/// The fitted model of a set of vectors.
#[derive(Clone, Debug)]
pub struct Pca {
    /// Mean vector, length D.
    pub mean: Vec<f64>,
    /// Unit principal directions, most variance first, each of length D.
    pub directions: Vec<Vec<f64>>,
    /// Variance along each direction (sample variance, N − 1).
    pub variances: Vec<f64>,
    /// Total variance (trace of the covariance), for the explained-variance curve.
    pub total_variance: f64,
}

impl Pca {
    /// Fraction of the total variance the first `k` directions explain.
    pub fn explained(&self, k: usize) -> f64 {
        self.variances.iter().take(k).sum::<f64>() / self.total_variance.max(1e-300)
    }

    /// The basis as the 3DMM file stores it: `[D, k]` row-major, column `j` = direction `j` ×
    /// its standard deviation, so unit coefficients are one standard deviation.
    pub fn scaled_basis(&self, k: usize) -> Vec<f32> {
        let d = self.mean.len();
        let mut out = vec![0.0f32; d * k];
        for (j, (dir, var)) in self
            .directions
            .iter()
            .zip(&self.variances)
            .take(k)
            .enumerate()
        {
            let sd = var.max(0.0).sqrt();
            for (row, value) in dir.iter().enumerate() {
                out[row * k + j] = (value * sd) as f32;
            }
        }
        out
    }

    /// Least-squares coefficients (in standard deviations) of `x` on the first `k` directions:
    /// the directions are orthonormal, so this is a projection.
    pub fn project(&self, x: &[f32], k: usize) -> Vec<f64> {
        self.directions
            .iter()
            .zip(&self.variances)
            .take(k)
            .map(|(dir, var)| {
                let dot: f64 = dir
                    .iter()
                    .zip(x.iter().zip(&self.mean))
                    .map(|(d, (&x, m))| d * (x as f64 - m))
                    .sum();
                dot / var.max(1e-300).sqrt()
            })
            .collect()
    }

    /// `mean + Σ_j coefficient_j · sd_j · direction_j`.
    pub fn reconstruct(&self, coefficients: &[f64]) -> Vec<f64> {
        let mut out = self.mean.clone();
        for ((c, dir), var) in coefficients
            .iter()
            .zip(&self.directions)
            .zip(&self.variances)
        {
            let w = c * var.max(0.0).sqrt();
            out.iter_mut().zip(dir).for_each(|(o, d)| *o += w * d);
        }
        out
    }
}

/// PCA of `rows` (each of the same length D) keeping the first `k` directions (`k` ≤ D).
/// Deterministic (fixed seed). Needs at least two rows.
pub fn fit(rows: &[Vec<f32>], k: usize) -> anyhow::Result<Pca> {
    let n = rows.len();
    anyhow::ensure!(n >= 2, "PCA needs at least 2 faces, got {n}");
    let d = rows[0].len();
    anyhow::ensure!(
        rows.iter().all(|r| r.len() == d),
        "PCA rows must all have {d} values"
    );
    anyhow::ensure!(
        k <= d,
        "PCA cannot keep {k} directions of {d}-value vectors"
    );
    let mean: Vec<f64> = (0..d)
        .map(|i| rows.iter().map(|r| r[i] as f64).sum::<f64>() / n as f64)
        .collect();
    let cov = covariance(rows, &mean);
    let total_variance = (0..d).map(|i| cov[i * d + i]).sum();
    let (variances, directions) = top_eigenpairs(&cov, d, k);
    Ok(Pca {
        mean,
        directions,
        variances,
        total_variance,
    })
}

/// Sample covariance `Σ (x − μ)(x − μ)ᵀ / (N − 1)`, D×D row-major: blocks of rows are
/// transposed to column-major so each entry is one short dot product, and groups of blocks run
/// in parallel.
fn covariance(rows: &[Vec<f32>], mean: &[f64]) -> Vec<f64> {
    let d = mean.len();
    let blocks: Vec<&[Vec<f32>]> = rows.chunks(BLOCK_ROWS).collect();
    // A fixed number of groups, each summed in order, then the groups in order: the result does
    // not depend on the thread count or scheduling, so a rebuild gives the same file.
    let group_len = blocks.len().div_ceil(SUM_GROUPS).max(1);
    let partial: Vec<Vec<f64>> = blocks
        .par_chunks(group_len)
        .map(|group| {
            let mut acc = vec![0.0f64; d * d];
            for block in group {
                add_block(&mut acc, block, mean);
            }
            acc
        })
        .collect();
    let mut cov = vec![0.0f64; d * d];
    for p in &partial {
        cov.iter_mut().zip(p).for_each(|(x, y)| *x += y);
    }
    let norm = 1.0 / (rows.len() - 1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] * norm;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    cov
}

/// Adds `Σ (x − μ)(x − μ)ᵀ` of one block of rows to the upper triangle of `acc` (D×D).
fn add_block(acc: &mut [f64], block: &[Vec<f32>], mean: &[f64]) {
    let d = mean.len();
    let b = block.len();
    let mut cols = vec![0.0f64; d * b];
    for (r, row) in block.iter().enumerate() {
        for i in 0..d {
            cols[i * b + r] = row[i] as f64 - mean[i];
        }
    }
    for i in 0..d {
        let ci = &cols[i * b..(i + 1) * b];
        for j in i..d {
            let cj = &cols[j * b..(j + 1) * b];
            acc[i * d + j] += ci.iter().zip(cj).map(|(a, c)| a * c).sum::<f64>();
        }
    }
}

/// The `k` largest eigenvalues and unit eigenvectors of the symmetric PSD `cov` (D×D) by
/// subspace iteration (Golub & Van Loan §8.2.4) with a final Rayleigh–Ritz step.
fn top_eigenpairs(cov: &[f64], d: usize, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    if k == 0 {
        return (Vec::new(), Vec::new());
    }
    let p = (k + OVERSAMPLE).min(d);
    let mut rng = ChaCha8Rng::seed_from_u64(0x3d33);
    // Column-major D×p.
    let mut q: Vec<f64> = (0..d * p).map(|_| rng.random::<f64>() - 0.5).collect();
    orthonormalize_columns(&mut q, d, p);
    let multiply = |q: &[f64]| -> Vec<f64> {
        let mut z = vec![0.0; d * p];
        z.par_chunks_mut(d).enumerate().for_each(|(j, col)| {
            let qj = &q[j * d..(j + 1) * d];
            for (i, out) in col.iter_mut().enumerate() {
                *out = cov[i * d..(i + 1) * d]
                    .iter()
                    .zip(qj)
                    .map(|(a, b)| a * b)
                    .sum();
            }
        });
        z
    };
    for _ in 0..ITERATIONS {
        q = multiply(&q);
        orthonormalize_columns(&mut q, d, p);
    }
    // Rayleigh–Ritz: H = Qᵀ·C·Q, then rotate Q by H's eigenvectors.
    let cq = multiply(&q);
    let mut h = vec![0.0; p * p];
    for a in 0..p {
        for b in 0..p {
            h[a * p + b] = q[a * d..(a + 1) * d]
                .iter()
                .zip(&cq[b * d..(b + 1) * d])
                .map(|(x, y)| x * y)
                .sum();
        }
    }
    for a in 0..p {
        for b in a + 1..p {
            let m = 0.5 * (h[a * p + b] + h[b * p + a]);
            h[a * p + b] = m;
            h[b * p + a] = m;
        }
    }
    let (values, vectors) = symmetric_eigen(&h, p);
    let directions = vectors
        .iter()
        .take(k)
        .map(|w| {
            let mut dir = vec![0.0; d];
            for (j, wj) in w.iter().enumerate() {
                dir.iter_mut()
                    .zip(&q[j * d..(j + 1) * d])
                    .for_each(|(o, qv)| *o += wj * qv);
            }
            // Sign convention: the largest-magnitude entry is positive, so builds repeat.
            let big = dir
                .iter()
                .copied()
                .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
            if big < 0.0 {
                dir.iter_mut().for_each(|v| *v = -*v);
            }
            dir
        })
        .collect();
    (
        values.into_iter().take(k).map(|v| v.max(0.0)).collect(),
        directions,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic faces from a known mean and three known orthogonal directions with standard
    /// deviations 3, 2 and 1, plus small isotropic noise: the PCA must find those directions
    /// (up to sign), their variances, and reconstruct held-out samples to the noise level.
    #[test]
    fn recovers_known_directions_variances_and_reconstructs() {
        let d = 30;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut dirs = vec![vec![0.0f64; d]; 3];
        for (j, dir) in dirs.iter_mut().enumerate() {
            for (i, v) in dir.iter_mut().enumerate() {
                *v = ((i + 1) as f64 * (j + 1) as f64 * 0.37).sin();
            }
        }
        let mut flat: Vec<f64> = dirs.concat();
        orthonormalize_columns(&mut flat, d, 3);
        let dirs: Vec<Vec<f64>> = flat.chunks(d).map(|c| c.to_vec()).collect();
        let sds = [3.0, 2.0, 1.0];
        let mean: Vec<f64> = (0..d).map(|i| i as f64 * 0.1).collect();
        let gauss = |rng: &mut ChaCha8Rng| {
            // Box–Muller.
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let sample = |rng: &mut ChaCha8Rng| -> (Vec<f32>, [f64; 3]) {
            let c = [gauss(rng), gauss(rng), gauss(rng)];
            let x = (0..d)
                .map(|i| {
                    let s: f64 = (0..3).map(|j| c[j] * sds[j] * dirs[j][i]).sum();
                    (mean[i] + s + 0.01 * gauss(rng)) as f32
                })
                .collect();
            (x, c)
        };
        let rows: Vec<Vec<f32>> = (0..4000).map(|_| sample(&mut rng).0).collect();
        let pca = fit(&rows, 3).unwrap();
        for j in 0..3 {
            let dot: f64 = pca.directions[j]
                .iter()
                .zip(&dirs[j])
                .map(|(a, b)| a * b)
                .sum();
            assert!(dot.abs() > 0.999, "direction {j}: |cos| = {}", dot.abs());
            let sd = pca.variances[j].sqrt();
            assert!((sd - sds[j]).abs() < 0.1 * sds[j], "sd {j}: {sd}");
        }
        assert!(pca.explained(3) > 0.999);
        let (x, _) = sample(&mut rng);
        let max_error = |k: usize| {
            pca.reconstruct(&pca.project(&x, k))
                .iter()
                .zip(&x)
                .map(|(r, &x)| (r - x as f64).abs())
                .fold(0.0, f64::max)
        };
        let err = max_error(3);
        assert!(err < 0.06, "reconstruction error {err}");
        // Fewer directions must reconstruct worse: the test can fail.
        assert!(max_error(1) > err);
        // Scaled basis column = direction × sd.
        let basis = pca.scaled_basis(3);
        assert!((basis[0] as f64 - pca.directions[0][0] * pca.variances[0].sqrt()).abs() < 1e-5);
    }
}
