//! `sgpn-train fit-regressor`: the shape regressor fitted to the teacher before joint training
//! (paper Sec. 3.3: the shape module starts from a pretrained D3DFR; ours starts from the
//! teacher fits of `sgpn-train teacher-fit`). It reads the same degraded LQ faces the generator
//! trains on and minimises the mesh loss `L_mesh` against the teacher's reconstruction of the
//! HQ face (docs/shape-prior.md), so it learns to see the shape through the degradation.
//!
//! The folder it writes (`<out>/checkpoint`: the regressor, its Adam state, `fit.json` with the
//! step, the loss history and the 3DMM's SHA-256) resumes exactly and is what
//! `sgpn-train train --variant full --regressor` and `sgpn-train export-regressor` read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use clap::Args;
use serde::{Deserialize, Serialize};

use super::prepared::PreparedFaces;
use super::run::progress_bar;
use super::shape::{DEFAULT_SHAPE_WEIGHT, ShapeTeacher, plain_sum_shape_weight};
use super::source::PairSource;
use super::trainer::scalar;
use super::training_device;
use crate::model::regressor::{RegressorConfig, ShapeRegressor};

#[derive(Args, Debug)]
pub struct FitRegressorArgs {
    /// Prepared cache with its teacher (`sgpn-train prepare`, then `sgpn-train teacher-fit`).
    #[arg(long)]
    pub data: PathBuf,
    /// The 3DMM the teacher was fitted with.
    #[arg(long)]
    pub morphable: PathBuf,
    /// Run folder (checkpoint/, fit.csv).
    #[arg(long)]
    pub out: PathBuf,
    /// Regressor preset: tiny, small256, paper512.
    #[arg(long, default_value = "small256")]
    pub preset: String,
    /// Face size the LQ faces are made at (the generator's size).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    #[arg(long, default_value_t = 20_000)]
    pub steps: u64,
    #[arg(long)]
    pub max_minutes: Option<f64>,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Adam learning rate (default 1e-3: Deep3DFaceRecon's 1e-4 is for a pretrained
    /// ResNet-50, ours starts from scratch). On `--resume` it replaces the saved one.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight of `L_mesh`'s shape term (default 10; 1 is the paper's plain sum, under which
    /// the regressor learns no face shape: docs/shape-prior.md). On `--resume` it replaces
    /// the saved one.
    #[arg(long)]
    pub shape_weight: Option<f32>,
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: u64,
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub quiet: bool,
}

/// `fit.json`: what resumes a fit besides the weights and the optimizer state.
#[derive(Serialize, Deserialize)]
struct FitState {
    step: u64,
    batch: usize,
    lr: f64,
    seed: u64,
    size: usize,
    morphable_sha256: String,
    /// `L_mesh`'s shape weight (fits from before the option used 1).
    #[serde(default = "plain_sum_shape_weight")]
    shape_weight: f32,
    /// Mean `L_mesh` of every step.
    history: Vec<f32>,
}

const STATE_FILE: &str = "fit.json";
const DEFAULT_LR: f64 = 1e-3;
const OPTIM_FILE: &str = "regressor_optim.bpk";

fn adam() -> ModuleOptimizer {
    AdamConfig::new().init()
}

pub fn fit_regressor(args: FitRegressorArgs) -> anyhow::Result<()> {
    let device = training_device();
    let teacher = ShapeTeacher::open(&args.data, &args.morphable, args.size, &device)?;
    let ckpt = args.out.join("checkpoint");
    let (mut regressor, mut optim, mut state) = if args.resume {
        let bytes = std::fs::read(ckpt.join(STATE_FILE))
            .with_context(|| format!("--resume: no regressor fit in {}", ckpt.display()))?;
        let state: FitState = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing {}", ckpt.join(STATE_FILE).display()))?;
        anyhow::ensure!(
            state.morphable_sha256 == teacher.morphable_sha256(),
            "{} was fitted with another 3DMM (SHA-256 {}) than {} ({})",
            ckpt.display(),
            state.morphable_sha256,
            args.morphable.display(),
            teacher.morphable_sha256()
        );
        let mut state = state;
        if let Some(lr) = args.lr {
            state.lr = lr;
        }
        if let Some(w) = args.shape_weight {
            state.shape_weight = w;
        }
        let regressor = ShapeRegressor::load(&ckpt, &device)?;
        let p = ckpt.join(OPTIM_FILE);
        let optim = adam()
            .load(&p)
            .map_err(|e| anyhow::anyhow!("checkpoint file {}: {e}", p.display()))?;
        (regressor, optim, state)
    } else {
        anyhow::ensure!(
            !ckpt.join(STATE_FILE).exists(),
            "{} already holds a regressor fit: pass --resume or choose another --out",
            ckpt.display()
        );
        let cfg = RegressorConfig::preset(&args.preset)?;
        let mut regressor = ShapeRegressor::new(
            &cfg,
            teacher.branch.morphable.coefficient_count(),
            args.seed,
            &device,
        )?;
        // Start at the average teacher face, so the first renders are faces, not noise.
        regressor.set_output_bias(&teacher.mean_coefficients())?;
        let state = FitState {
            step: 0,
            batch: args.batch,
            lr: args.lr.unwrap_or(DEFAULT_LR),
            seed: args.seed,
            size: args.size,
            morphable_sha256: teacher.morphable_sha256().to_owned(),
            shape_weight: args.shape_weight.unwrap_or(DEFAULT_SHAPE_WEIGHT),
            history: Vec::new(),
        };
        (regressor, adam(), state)
    };
    let mut source = PreparedFaces::open(&args.data, state.size, state.seed)?;
    let bar = progress_bar(args.steps, state.step, !args.quiet);
    let start = Instant::now();
    let first = state.step;
    let budget = args.max_minutes.map(|m| Duration::from_secs_f64(m * 60.0));
    while state.step < args.steps && budget.is_none_or(|b| start.elapsed() < b) {
        let batch = source.batch(state.step, state.batch)?;
        batch.validate()?;
        let lq = batch.lq_tensor(&device);
        let target = teacher.targets(&batch.origins)?;
        let coeffs = teacher.branch.regress(&regressor, lq)?;
        let seen = teacher.branch.coefficient_targets(coeffs)?;
        let loss = seen.distance(&target, state.shape_weight);
        let value = scalar(&loss);
        anyhow::ensure!(
            value.is_finite(),
            "regressor fit: the mesh loss became {value} at step {}",
            state.step
        );
        let mut grads = loss.backward();
        let grads = GradientsParams::from_module(&mut grads, &regressor);
        regressor = optim.step(state.lr, regressor, grads);
        state.history.push(value);
        state.step += 1;
        bar.set_position(state.step);
        bar.set_message(format!("L_mesh {value:.4}"));
        if args.checkpoint_every > 0 && state.step.is_multiple_of(args.checkpoint_every) {
            save(&ckpt, &args.out, &regressor, &optim, &state)?;
        }
    }
    save(&ckpt, &args.out, &regressor, &optim, &state)?;
    bar.finish();
    let done = state.step - first;
    let tail = &state.history[state.history.len().saturating_sub(50)..];
    println!(
        "{done} steps in {:.1} s ({:.2} s/step), now at step {}; mean L_mesh of the last {} steps {:.4}; checkpoint in {}",
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() / done.max(1) as f64,
        state.step,
        tail.len(),
        tail.iter().sum::<f32>() / tail.len().max(1) as f32,
        ckpt.display()
    );
    Ok(())
}

/// Weights, optimizer, `fit.json` (last: a folder with it is complete) and `fit.csv`.
fn save(
    ckpt: &Path,
    out: &Path,
    regressor: &ShapeRegressor,
    optim: &ModuleOptimizer,
    state: &FitState,
) -> anyhow::Result<()> {
    let state_path = ckpt.join(STATE_FILE);
    if state_path.exists() {
        std::fs::remove_file(&state_path)
            .with_context(|| format!("removing {}", state_path.display()))?;
    }
    regressor.save(ckpt)?;
    let p = ckpt.join(OPTIM_FILE);
    optim
        .save(&p)
        .map_err(|e| anyhow::anyhow!("checkpoint file {}: {e}", p.display()))?;
    std::fs::write(&state_path, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", state_path.display()))?;
    let csv: String = std::iter::once("step,l_mesh\n".to_owned())
        .chain(
            state
                .history
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{i},{l}\n")),
        )
        .collect();
    let p = out.join("fit.csv");
    std::fs::write(&p, csv).with_context(|| format!("writing {}", p.display()))
}
