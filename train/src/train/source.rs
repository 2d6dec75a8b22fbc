//! Where training pairs come from: the [`PairSource`] trait the loop is written against, and
//! [`SyntheticSource`], a procedural source for tests and benchmarks (no files needed).

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One batch of (HQ, LQ) pairs, planar NCHW RGB in [-1, 1] (the network convention).
#[derive(Clone, Debug, PartialEq)]
pub struct PairBatch {
    pub n: usize,
    pub size: usize,
    pub hq: Vec<f32>,
    pub lq: Vec<f32>,
    /// Where each pair came from, for per-face targets such as the shape teacher; empty for
    /// sources without files (the synthetic one).
    pub origins: Vec<PairOrigin>,
}

/// The prepared crop a pair was made from and whether the pair was flipped horizontally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairOrigin {
    /// Index into the source's sorted crop list (`prepare::prepared_crops`).
    pub crop: usize,
    pub flipped: bool,
}

impl PairBatch {
    /// Checks the buffer lengths against `n · 3 · size²`.
    pub fn validate(&self) -> anyhow::Result<()> {
        let expected = self.n * 3 * self.size * self.size;
        anyhow::ensure!(
            self.hq.len() == expected && self.lq.len() == expected,
            "pair batch of {} × 3 × {}²: expected {expected} values per image set, found hq {} / lq {}",
            self.n,
            self.size,
            self.hq.len(),
            self.lq.len()
        );
        Ok(())
    }

    /// The HQ images as an [n, 3, size, size] tensor on `device`.
    pub fn hq_tensor(&self, device: &Device) -> Tensor<4> {
        self.tensor(&self.hq, device)
    }

    /// The LQ images as an [n, 3, size, size] tensor on `device`.
    pub fn lq_tensor(&self, device: &Device) -> Tensor<4> {
        self.tensor(&self.lq, device)
    }

    fn tensor(&self, data: &[f32], device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(data.to_vec(), [self.n, 3, self.size, self.size]),
            device,
        )
    }
}

/// A source of training pairs. `batch(step, n)` must return the same pairs for the same step,
/// whatever happened before: that is what lets `--resume` continue a run exactly, without the
/// source having to save any state of its own.
pub trait PairSource {
    /// Side of the images it produces.
    fn size(&self) -> usize;
    fn batch(&mut self, step: u64, n: usize) -> anyhow::Result<PairBatch>;
}

/// Smooth random colour fields with a few bright discs as "HQ"; "LQ" is the HQ averaged over
/// 4×4 blocks plus Gaussian noise. Deterministic per (seed, step).
pub struct SyntheticSource {
    pub size: usize,
    pub seed: u64,
}

impl SyntheticSource {
    fn image(&self, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
        let s = self.size;
        let mut hq = vec![0f32; 3 * s * s];
        let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(-0.8..0.8));
        let grad: [f32; 3] = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
        let discs: Vec<(f32, f32, f32, [f32; 3])> = (0..3)
            .map(|_| {
                (
                    rng.random_range(0.0..s as f32),
                    rng.random_range(0.0..s as f32),
                    rng.random_range(s as f32 / 10.0..s as f32 / 4.0),
                    std::array::from_fn(|_| rng.random_range(-1.0..1.0)),
                )
            })
            .collect();
        for c in 0..3 {
            for y in 0..s {
                for x in 0..s {
                    let mut v = base[c] + grad[c] * (x as f32 / s as f32 - 0.5);
                    for (cx, cy, r, col) in &discs {
                        let d2 = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
                        if d2 < r * r {
                            v = col[c];
                        }
                    }
                    hq[(c * s + y) * s + x] = v.clamp(-1.0, 1.0);
                }
            }
        }
        let b = 4.min(s);
        let mut lq = vec![0f32; 3 * s * s];
        for c in 0..3 {
            for by in (0..s).step_by(b) {
                for bx in (0..s).step_by(b) {
                    let mut acc = 0.0;
                    for y in by..by + b {
                        for x in bx..bx + b {
                            acc += hq[(c * s + y) * s + x];
                        }
                    }
                    let mean = acc / (b * b) as f32;
                    for y in by..by + b {
                        for x in bx..bx + b {
                            let noise = rng.random_range(-0.05..0.05);
                            lq[(c * s + y) * s + x] = (mean + noise).clamp(-1.0, 1.0);
                        }
                    }
                }
            }
        }
        (hq, lq)
    }
}

impl PairSource for SyntheticSource {
    fn size(&self) -> usize {
        self.size
    }

    fn batch(&mut self, step: u64, n: usize) -> anyhow::Result<PairBatch> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(step);
        let mut batch = PairBatch {
            n,
            size: self.size,
            hq: Vec::with_capacity(n * 3 * self.size * self.size),
            lq: Vec::with_capacity(n * 3 * self.size * self.size),
            origins: Vec::new(),
        };
        for _ in 0..n {
            let (hq, lq) = self.image(&mut rng);
            batch.hq.extend(hq);
            batch.lq.extend(lq);
        }
        Ok(batch)
    }
}
