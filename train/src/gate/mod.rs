//! The change gate (`sgpn-train fit-gate`): the generator's output becomes
//! `lq + α·(out − lq)`, with one α ∈ [0, max] per face computed from statistics of the input and
//! of the network's change ([`stats`]), fitted on degraded *training* faces with the network
//! frozen ([`fit`]) and folded into the ONNX graph ([`graph`]).
//!
//! Why: a generator trained with the input skip (`Config::residual`) on every severity changes
//! each face by about a grey level. On a blurred face that change is mostly correction; on a
//! nearly pristine one (a sharp face downscaled into the crop, a good broadcast frame) it is all
//! error, and it costs such faces 0.7–1.7 dB against their own input (`models/`'s cards). The
//! network cannot tell the two apart from its loss alone, because a nearly pristine face's error
//! is tiny in any summed loss. The gate can: it is fitted to the mean of per-face PSNR gains, the
//! number the evaluation reports, in which every face counts alike.
//!
//! The gate is not from the paper; it leaves the network (SGPN's Sec. 3) as trained and only
//! scales its change.

pub mod cli;
pub mod fit;
pub mod graph;
pub mod stats;

use std::path::PathBuf;

use anyhow::{Context, Result};
use sgpn_face::shape::ShapePrior;
use sgpn_models::generator::Generator;

use crate::data::degrade::{TrainingDegradation, make_training_pair, pair_seed};
use crate::data::pixels::quantize;
use crate::eval::run::{read_crop, restore_face};
use stats::FaceStats;

/// Rounds network-unit values to the 8-bit grid, as a face cropped from an 8-bit frame is.
fn quantized_network(v: &[f32]) -> Vec<f32> {
    v.iter()
        .map(|&x| f32::from(quantize((x + 1.0) * 127.5)) / 127.5 - 1.0)
        .collect()
}

/// Degrades each prepared training crop as training does (`--degradation strata`: the stratum
/// and the size it is degraded at drawn from the pair's seed, `pair_seed(seed, 0, i)`), rounds
/// the LQ to 8 bits, restores it with the ungated `generator` (and `shape` for a `full` one) and
/// keeps the face's [`FaceStats`]. Faces whose LQ equals their HQ have no PSNR and are skipped.
pub fn measure_faces(
    generator: &mut Generator,
    mut shape: Option<&mut ShapePrior>,
    crops: &[PathBuf],
    seed: u64,
    mut progress: impl FnMut(usize),
) -> Result<Vec<FaceStats>> {
    let size = generator.info.size;
    let mut faces = Vec::with_capacity(crops.len());
    for (i, crop) in crops.iter().enumerate() {
        let pair_seed = pair_seed(seed, 0, i as u64);
        let (cfg, at) = TrainingDegradation::Strata.plan_for_pair(size as u32, pair_seed);
        let hq = read_crop(crop)?;
        let pair = make_training_pair(&hq, &cfg, at, pair_seed)
            .with_context(|| format!("degrading {}", crop.display()))?;
        let lq = quantized_network(&pair.lq);
        let (out, _) = restore_face(generator, shape.as_deref_mut(), &lq)
            .with_context(|| format!("restoring {}", crop.display()))?;
        let face = FaceStats::new(
            TrainingDegradation::stratum_of_pair(pair_seed),
            &lq,
            &out,
            &pair.hq,
            size,
        );
        if face.is_scorable() {
            faces.push(face);
        }
        progress(i + 1);
    }
    Ok(faces)
}
