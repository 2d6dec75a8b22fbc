//! `sgpn-train regressor-check`: what a fitted shape regressor has learned, term by term of
//! `L_mesh`, against the average teacher face (the prediction of a regressor that learned
//! nothing; a fresh fit starts there). A term no better than the average face's has not been
//! learned: the first fits matched the average face's shape error exactly while their colour and
//! pose errors fell (docs/shape-prior.md, "Balancing L_mesh").
//!
//! It scores degraded training pairs (the teacher exists only for training crops) under a seed
//! of their own, with the regressor's BatchNorms on their running statistics, as exported.

use std::path::PathBuf;

use burn::prelude::*;
use clap::Args;

use super::prepared::PreparedFaces;
use super::shape::{MeshTargets, ShapeTeacher};
use super::source::PairSource;
use super::trainer::scalar;
use super::training_device;
use crate::model::regressor::{REGRESSOR_SIZE, ShapeRegressor};

#[derive(Args, Debug)]
pub struct RegressorCheckArgs {
    /// Prepared cache with its teacher.
    #[arg(long)]
    pub data: PathBuf,
    /// The 3DMM the teacher and the regressor were fitted with.
    #[arg(long)]
    pub morphable: PathBuf,
    /// A regressor checkpoint folder (`sgpn-train fit-regressor`'s `<out>/checkpoint`).
    #[arg(long)]
    pub regressor: PathBuf,
    /// Number of degraded pairs scored (in batches of 8).
    #[arg(long, default_value_t = 64)]
    pub pairs: usize,
    /// Face size the LQ faces are made at (the generator's size).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Seed of the degradations (distinct from the fit's 0, so the LQ faces are new).
    #[arg(long, default_value_t = 99)]
    pub seed: u64,
}

const BATCH: usize = 8;
const TERMS: [&str; 3] = ["shape (dm)", "colours (0..1)", "screen (px at 224)"];
/// Screen positions are in widths of the regressor's view; the table shows its pixels.
const SCREEN_PX: f32 = REGRESSOR_SIZE as f32;

/// One term of `L_mesh`: the mean per-vertex distance to the teacher of the regressor's and of
/// the average face's reconstructions, over `pairs` pairs, in the units of `TERMS`.
#[derive(Clone, Copy, Debug)]
pub struct TermError {
    pub regressor: f32,
    pub average_face: f32,
    pub pairs: usize,
}

/// Scores `args.regressor` term by term (shape, colours, screen in pixels) against the average
/// teacher face.
pub fn score_terms(args: &RegressorCheckArgs) -> anyhow::Result<[TermError; 3]> {
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    let device = training_device();
    let teacher = ShapeTeacher::open(&args.data, &args.morphable, args.size, &device)?;
    let regressor = ShapeRegressor::load(&args.regressor, &device)?.freeze();
    let mean = teacher.mean_coefficients();
    let k = mean.len();
    let mut source = PreparedFaces::open(&args.data, args.size, args.seed)?;
    let (mut fitted, mut average) = ([0f64; 3], [0f64; 3]);
    let mut scored = 0;
    for step in 0..args.pairs.div_ceil(BATCH) as u64 {
        let n = BATCH.min(args.pairs - scored);
        let batch = source.batch(step, n)?;
        batch.validate()?;
        let lq = batch.lq_tensor(&device);
        let target = teacher.targets(&batch.origins)?;
        let branch = &teacher.branch;
        let predicted = branch.regress(&regressor, lq)?.detach();
        let averaged = Tensor::<2>::from_data(TensorData::new(mean.repeat(n), [n, k]), &device);
        for (sums, coeffs) in [(&mut fitted, predicted), (&mut average, averaged)] {
            let mesh: MeshTargets = branch.coefficient_targets(coeffs)?;
            for (sum, term) in sums.iter_mut().zip(mesh.term_distances(&target)) {
                *sum += f64::from(scalar(&term)) * n as f64;
            }
        }
        scored += n;
    }
    Ok(std::array::from_fn(|i| {
        let unit = if i == 2 { SCREEN_PX } else { 1.0 };
        TermError {
            regressor: (fitted[i] / scored as f64) as f32 * unit,
            average_face: (average[i] / scored as f64) as f32 * unit,
            pairs: scored,
        }
    }))
}

pub fn regressor_check(args: RegressorCheckArgs) -> anyhow::Result<()> {
    let terms = score_terms(&args)?;
    println!(
        "{} on {} degraded training pairs (seed {}): mean per-vertex distance to the teacher",
        args.regressor.display(),
        terms[0].pairs,
        args.seed
    );
    println!("| term | regressor | average face | ratio |\n|---|---|---|---|");
    for (name, t) in TERMS.iter().zip(terms) {
        println!(
            "| {name} | {:.4} | {:.4} | {:.3} |",
            t.regressor,
            t.average_face,
            t.regressor / t.average_face
        );
    }
    Ok(())
}
