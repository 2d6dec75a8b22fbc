//! What the gate sees of one face, and what a gate value does to its PSNR.
//!
//! The gate reads five statistics, all computable inside the ONNX graph from the network's
//! input `lq` and its change `d = out − lq` (network units, planar RGB; `L` is the 4-neighbour
//! Laplacian over the interior of each plane, `E(x)` the mean of `x²`):
//! - `ln E(L lq)`: the input's own fine detail. A nearly pristine face is rich in it; a blurred
//!   one is not.
//! - `ln E(d)`: how much the network changes the face.
//! - `ln E(L d)`: how much of that change is fine detail (sharpening, removing noise or JPEG
//!   blocks) rather than a smooth shift of tone.
//! - `ln E(L pool(lq))`, the detail of the input averaged over 2×2 blocks: with the first, it
//!   tells detail of the face (present at both scales) from pixel noise (gone at the coarse one).
//! - `mean(L lq · L d) / √(E(L lq) E(L d))`: whether the change follows the input's own edges
//!   (+, sharpening) or opposes them (−, smoothing).
//!
//! For the fit, each face also keeps the three sums that make its gated MSE a quadratic in α:
//! with `e = lq − hq`, `‖lq + α·d − hq‖² = ‖e‖² + 2α⟨e, d⟩ + α²‖d‖²`.

use crate::data::degrade::Severity;

/// How many statistics the gate reads.
pub const FEATURES: usize = 5;

/// The statistics' names, in [`features`]' order (for the model's metadata).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "ln E(L lq)",
    "ln E(d)",
    "ln E(L d)",
    "ln E(L pool(lq))",
    "corr(L lq, L d)",
];

/// Added to each energy (network units squared; one grey level is (1/127.5)² ≈ 6e-5), so that
/// an input or change of exactly zero has finite features.
pub const ENERGY_FLOOR: f32 = 1e-8;

/// The 4-neighbour Laplacian of each plane of `planar` (`[planes, size, size]`) over its
/// interior (`[planes, size − 2, size − 2]`): the graph's `Conv` without padding.
pub fn laplacian(planar: &[f32], size: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(planar.len() / (size * size) * (size - 2) * (size - 2));
    for p in planar.chunks_exact(size * size) {
        let at = |y: usize, x: usize| p[y * size + x];
        for y in 1..size - 1 {
            for x in 1..size - 1 {
                out.push(
                    at(y - 1, x) + at(y + 1, x) + at(y, x - 1) + at(y, x + 1) - 4.0 * at(y, x),
                );
            }
        }
    }
    out
}

/// The mean of each 2×2 block of each plane (`[planes, size / 2, size / 2]`): the graph's
/// `AveragePool` with kernel and stride 2.
pub fn pool2(planar: &[f32], size: usize) -> Vec<f32> {
    let half = size / 2;
    let mut out = Vec::with_capacity(planar.len() / 4);
    for p in planar.chunks_exact(size * size) {
        let at = |y: usize, x: usize| p[y * size + x];
        for y in 0..half {
            for x in 0..half {
                let (y, x) = (2 * y, 2 * x);
                out.push((at(y, x) + at(y, x + 1) + at(y + 1, x) + at(y + 1, x + 1)) / 4.0);
            }
        }
    }
    out
}

/// Mean of the squares of `v`.
pub fn mean_square(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64
}

/// The gate's statistics of one face: its input `lq` and the network's change `change`.
pub fn features(lq: &[f32], change: &[f32], size: usize) -> [f64; FEATURES] {
    let floored = |e: f64| e + ENERGY_FLOOR as f64;
    let (lap_lq, lap_change) = (laplacian(lq, size), laplacian(change, size));
    let (detail, change_detail) = (
        floored(mean_square(&lap_lq)),
        floored(mean_square(&lap_change)),
    );
    let coarse = floored(mean_square(&laplacian(&pool2(lq, size), size / 2)));
    let along = lap_lq
        .iter()
        .zip(&lap_change)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum::<f64>()
        / lap_lq.len() as f64;
    [
        detail.ln(),
        floored(mean_square(change)).ln(),
        change_detail.ln(),
        coarse.ln(),
        along / (detail * change_detail).sqrt(),
    ]
}

/// One face as the fit sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceStats {
    pub severity: Severity,
    pub features: [f64; FEATURES],
    /// `‖d‖²`: the change's energy.
    pub change: f64,
    /// `⟨lq − hq, d⟩`: negative where the change moves the input towards the truth.
    pub cross: f64,
    /// `‖lq − hq‖²`: the input's own error (the bicubic baseline's).
    pub input_error: f64,
}

impl FaceStats {
    /// The statistics of one face from its input, the network's ungated output and the truth
    /// (network planar, `[3, size, size]` each).
    pub fn new(severity: Severity, lq: &[f32], out: &[f32], hq: &[f32], size: usize) -> Self {
        let change: Vec<f32> = out.iter().zip(lq).map(|(o, l)| o - l).collect();
        let (mut cross, mut input_error) = (0.0f64, 0.0f64);
        for ((&l, &h), &d) in lq.iter().zip(hq).zip(&change) {
            let e = (l - h) as f64;
            cross += e * d as f64;
            input_error += e * e;
        }
        Self {
            severity,
            features: features(lq, &change, size),
            change: change.iter().map(|&d| (d as f64).powi(2)).sum(),
            cross,
            input_error,
        }
    }

    /// PSNR of `lq + α·d` minus the input's own PSNR, in dB (the paired difference `eval`
    /// reports, before rounding to 8 bits).
    pub fn gain_db(&self, alpha: f64) -> f64 {
        let gated = self.input_error + 2.0 * alpha * self.cross + alpha * alpha * self.change;
        10.0 * (self.input_error / gated.max(f64::MIN_POSITIVE)).log10()
    }

    /// The gate value in `[0, max]` that gives this face its best PSNR: the vertex of its
    /// quadratic, clamped.
    pub fn best_alpha(&self, max: f64) -> f64 {
        if self.change <= 0.0 {
            return 0.0;
        }
        (-self.cross / self.change).clamp(0.0, max)
    }

    /// Whether the face can be scored at all: an input identical to the truth has no PSNR.
    pub fn is_scorable(&self) -> bool {
        self.input_error > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_features_of_flat_checkered_and_smoothed_faces() {
        let size = 8;
        let flat = vec![0.3; 3 * size * size];
        assert!(laplacian(&flat, size).iter().all(|&v| v == 0.0));
        // A ±0.5 checkerboard: every interior Laplacian is ∓4, and 2×2 blocks average it away.
        let board: Vec<f32> = (0..3 * size * size)
            .map(|i| {
                if (i / size + i % size) % 2 == 0 {
                    0.5
                } else {
                    -0.5
                }
            })
            .collect();
        assert_eq!(laplacian(&board, size).len(), 3 * 36);
        assert!((mean_square(&laplacian(&board, size)) - 16.0).abs() < 1e-9);
        assert!(pool2(&board, size).iter().all(|&v| v == 0.0));
        // A change that halves the checkerboard opposes its edges; one that doubles it follows.
        let halve: Vec<f32> = board.iter().map(|v| -0.5 * v).collect();
        let double: Vec<f32> = board.clone();
        let f = features(&board, &halve, size);
        assert!((f[0] - (16.0f64 + 1e-8).ln()).abs() < 1e-6);
        assert!(
            (f[3] - 1e-8f64.ln()).abs() < 1e-6,
            "no coarse detail: {f:?}"
        );
        assert!((f[4] + 1.0).abs() < 1e-6, "smoothing: {f:?}");
        assert!((features(&board, &double, size)[4] - 1.0).abs() < 1e-6);
        assert!(
            features(&flat, &vec![0.0; flat.len()], size)
                .iter()
                .all(|v| v.is_finite())
        );
    }

    #[test]
    fn the_gain_is_the_psnr_difference_and_the_best_alpha_its_maximum() {
        let size = 4;
        let hq: Vec<f32> = (0..3 * 16).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
        let lq: Vec<f32> = hq.iter().map(|h| h + 0.1).collect();
        // The network removes 60 % of the error and adds a small error of its own.
        let out: Vec<f32> = lq
            .iter()
            .enumerate()
            .map(|(i, l)| l - 0.06 + if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        let s = FaceStats::new(Severity::Mild, &lq, &out, &hq, size);
        let mse = |a: &[f32]| -> f64 {
            a.iter()
                .zip(&hq)
                .map(|(x, h)| ((x - h) as f64).powi(2))
                .sum::<f64>()
        };
        let want = 10.0 * (mse(&lq) / mse(&out)).log10();
        // The change is taken in f32, as the graph takes it.
        assert!(
            (s.gain_db(1.0) - want).abs() < 1e-6,
            "{} vs {want}",
            s.gain_db(1.0)
        );
        assert_eq!(s.gain_db(0.0), 0.0);
        let best = s.best_alpha(4.0);
        assert!(
            best > 1.0,
            "the change is too timid: its best scale exceeds 1 ({best})"
        );
        for a in [0.0, 0.5, 1.0, best - 0.1, best + 0.1, 3.0] {
            assert!(s.gain_db(a) <= s.gain_db(best) + 1e-12);
        }
        assert_eq!(s.best_alpha(1.0), 1.0, "clamped to the largest gate");
    }
}
