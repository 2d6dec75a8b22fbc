//! Helpers shared by the export tests (generator and shape regressor): a scratch folder,
//! seeded images in [-1, 1], and the relative error between ONNX Runtime and burn.

use std::path::PathBuf;

use rand::SeedableRng;
use sgpn_train::model::init::normal_vec;

/// `name` in cargo's per-test scratch space, folder `sgpn_export` (created if needed).
pub fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sgpn_export");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `n` planar RGB images of side `size`, N(0, 0.25) clamped to [-1, 1], from `seed`.
pub fn images(n: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    normal_vec(&mut rng, n * 3 * size * size)
        .into_iter()
        .map(|v| (v * 0.5).clamp(-1.0, 1.0))
        .collect()
}

/// Largest absolute difference divided by the largest |want|.
pub fn max_rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    got.iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()))
        / scale
}
