//! `sgpn-train train`: start or resume a training run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use burn::module::Module;
use burn::prelude::Device;
use clap::Args;

use super::prepared::PreparedFaces;
use super::run::{RunOptions, checkpoint_dir, run};
use super::shape::ShapeTeacher;
use super::source::{PairSource, SyntheticSource};
use super::trainer::{ShapeSettings, ShapeState, TrainConfig, Trainer, optimizers};
use super::warm_start::full_from_no3d;
use super::{checkpoint, training_device};
use crate::data::degrade::TrainingDegradation;
use crate::export::import::read_generator;
use crate::model::regressor::ShapeRegressor;
use crate::model::{Config, Variant};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run folder (checkpoint/, losses.csv, losses.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Model preset: tiny, small256, paper512.
    #[arg(long, default_value = "small256")]
    pub preset: String,
    /// full or no3d. The full variant needs `--morphable`, `--regressor` and prepared `--data`
    /// with its teacher (`sgpn-train teacher-fit`).
    #[arg(long, default_value = "no3d")]
    pub variant: String,
    /// Full variant: the 3DMM (the teacher's).
    #[arg(long)]
    pub morphable: Option<PathBuf>,
    /// Full variant: the regressor fitted to the teacher (`sgpn-train fit-regressor`'s
    /// `<out>/checkpoint`); its copy stays frozen for the landmark loss.
    #[arg(long)]
    pub regressor: Option<PathBuf>,
    /// Full variant: start from this no3d checkpoint (see `train::warm_start`): shared weights,
    /// discriminator, step and data order carry over.
    #[arg(long, conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// With `--init-from`: steps over which the 3D branch fades in (its features weighted
    /// 0 → 1), so the copied network starts as the variant-A network it came from; the
    /// generator average starts when the fade-in ends. 0 switches the prior on at once.
    #[arg(long, default_value_t = 100, requires = "init_from")]
    pub fade_in_steps: u64,
    /// Start a new run (step 0, fresh optimizers and discriminator) whose generator and
    /// generator average are the generator of this ONNX file, written by `sgpn-train export`:
    /// fine-tuning a shipped generator, whose checkpoint is not kept (`export::import`). A colour
    /// calibration or change gate in the file is left behind, to be refitted after the export.
    /// The file must be of `--preset` and `--variant`; a full one needs `--morphable`,
    /// `--regressor` and `--data` and trains with its 3D prior on from the start.
    #[arg(long, conflicts_with_all = ["resume", "init_from"])]
    pub init_from_onnx: Option<PathBuf>,
    /// λ_lm of the landmark loss (paper: 100).
    #[arg(long, default_value_t = 100.0)]
    pub lm_weight: f64,
    /// λ_mesh of the mesh loss (paper: 100).
    #[arg(long, default_value_t = 100.0)]
    pub mesh_weight: f64,
    /// Weight of `L_mesh`'s shape term inside λ_mesh (1: the paper's plain sum; see
    /// `sgpn-train fit-regressor --shape-weight`).
    #[arg(long, default_value_t = super::shape::DEFAULT_SHAPE_WEIGHT)]
    pub mesh_shape_weight: f32,
    /// Adam learning rate of the jointly trained regressor.
    #[arg(long, default_value_t = 1e-4)]
    pub regressor_lr: f64,
    /// Train until this many steps in total.
    #[arg(long, default_value_t = 400_000)]
    pub steps: u64,
    /// Stop cleanly with a checkpoint after this many minutes.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    /// Continue from `<out>/checkpoint` (configs come from the checkpoint).
    #[arg(long)]
    pub resume: bool,
    /// Prepared cache folder (`sgpn-train prepare` output: crops/ + results.jsonl).
    #[arg(long, required_unless_present = "synthetic")]
    pub data: Option<PathBuf>,
    /// Use the procedural test source instead of prepared faces.
    #[arg(long, conflicts_with = "data")]
    pub synthetic: bool,
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Adam's learning rate (paper: 0.002, the default of a new run). On `--resume` it replaces
    /// the checkpoint's: a lower rate for the last steps settles the generator.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight of the adversarial loss (paper: 1). On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub adv_weight: Option<f64>,
    /// Adam's β1 for both networks (StyleGAN2: 0; GFPGAN and Real-ESRGAN: 0.9). On `--resume`
    /// it replaces the checkpoint's, keeping the optimizers' moments.
    #[arg(long)]
    pub beta1: Option<f32>,
    /// R1 weight γ (StyleGAN2: 10). On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub r1_gamma: Option<f64>,
    /// The training pairs' degradation: `strata` (40 % mild, 30 % moderate, 30 % heavy from
    /// `data::degrade::Severity`, half of them degraded at twice the crop size; what the shipped
    /// default trained on, `TrainingDegradation::Strata`) or `paper` (the paper's Eq. 16 ranges
    /// alone). Default for a new run: strata. On `--resume`
    /// it replaces the checkpoint's.
    #[arg(long)]
    pub degradation: Option<String>,
    /// Divide each face's L1 by its input's own L1 (`losses::input_relative_l1`), so that mildly
    /// degraded faces weigh as much as heavy ones. On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub relative_l1: Option<bool>,
    /// Weight of the identity loss (`1 − cos` of dlib's face descriptors of the restored and the
    /// HQ face, `identity::identity_loss`; needs `./scripts/setup-train.sh`); 0, the default of
    /// a new run, trains without it. On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub identity_weight: Option<f64>,
    /// Half-life of the generator's exponential moving average, in training images (StyleGAN2:
    /// 10,000, the default); 0 disables it. On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub ema_half_life_images: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let device = training_device();
    let ckpt = checkpoint_dir(&args.out);
    let degradation = args
        .degradation
        .as_deref()
        .map(TrainingDegradation::parse)
        .transpose()?;
    let mut trainer = if args.resume {
        anyhow::ensure!(
            checkpoint::exists(&ckpt),
            "--resume: no checkpoint in {} (expected {})",
            ckpt.display(),
            ckpt.join(checkpoint::STATE_FILE).display()
        );
        let mut trainer = Trainer::load(&ckpt, &device)?;
        if trainer.model().variant.has_render() {
            let data = args.data.as_deref().ok_or_else(|| {
                anyhow::anyhow!("a full-variant run needs --data (the teacher lives there)")
            })?;
            trainer.load_shape(&ckpt, data)?;
        }
        apply_overrides(&mut trainer, &args);
        trainer
    } else if let Some(init) = &args.init_from {
        anyhow::ensure!(
            !checkpoint::exists(&ckpt),
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            ckpt.display()
        );
        full_from_no3d_run(&args, init, &device)?
    } else {
        anyhow::ensure!(
            !checkpoint::exists(&ckpt),
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            ckpt.display()
        );
        let model = Config::preset(&args.preset, Variant::parse(&args.variant)?)?;
        let train = TrainConfig {
            batch: args.batch,
            lr: args.lr.unwrap_or(TrainConfig::default().lr),
            seed: args.seed,
            degradation: TrainingDegradation::Strata,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(model, train, &device)?;
        if let Some(onnx) = &args.init_from_onnx {
            start_from_onnx(&mut trainer, &args, onnx, &device)?;
        }
        apply_overrides(&mut trainer, &args);
        trainer
    };
    if let Some(d) = degradation {
        trainer.train.degradation = d;
    }
    // The overrides may have set any field: check them all before data loading and warm-up.
    trainer
        .train
        .validate()
        .context("a training setting is out of range (each is the flag of that name: r1_gamma is --r1-gamma)")?;
    anyhow::ensure!(
        trainer.model().variant.has_render() == trainer.shape.is_some(),
        "the full variant trains with its shape branch: start it with --init-from (a no3d checkpoint) or --init-from-onnx (a full generator), --morphable and --regressor"
    );
    anyhow::ensure!(
        !(args.synthetic && trainer.shape.is_some()),
        "the full variant needs prepared --data with its teacher, not --synthetic"
    );
    let mut source: Box<dyn PairSource> = if args.synthetic {
        Box::new(SyntheticSource {
            size: trainer.model().size,
            seed: trainer.train.seed,
        })
    } else {
        let cache = args
            .data
            .as_deref()
            .expect("clap requires --data without --synthetic");
        Box::new(
            PreparedFaces::open(cache, trainer.model().size, trainer.train.seed)?
                .with_degradation(trainer.train.degradation),
        )
    };
    let opts = RunOptions {
        out: args.out.clone(),
        steps: args.steps,
        max_time: args.max_minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        checkpoint_every: args.checkpoint_every,
        progress: !args.quiet,
    };
    let summary = run(&mut trainer, source.as_mut(), &opts)?;
    println!(
        "{} steps in {:.1} s ({:.2} s/step), now at step {} ({:?}); checkpoint in {}",
        summary.steps_done,
        summary.seconds,
        summary.seconds / summary.steps_done.max(1) as f64,
        summary.step,
        summary.stop,
        ckpt.display()
    );
    Ok(())
}

/// A new full-variant run from the no3d checkpoint `init` (see [`warm_start`]), with the shape
/// branch of `--morphable`, `--regressor` and the teacher in `--data`.
fn full_from_no3d_run(args: &TrainArgs, init: &Path, device: &Device) -> anyhow::Result<Trainer> {
    anyhow::ensure!(
        args.variant == "full",
        "--init-from starts a full-variant run; pass --variant full"
    );
    let files = shape_files(args, "--init-from")?;
    let mut trainer = Trainer::load(init, device)
        .with_context(|| format!("loading the no3d run to start from ({})", init.display()))?;
    let seed = trainer.train.seed.wrapping_add(trainer.step);
    trainer.generator = full_from_no3d(&trainer.generator, seed, device)?;
    trainer.generator_ema = full_from_no3d(&trainer.generator_ema, seed, device)?.valid();
    trainer.g_optim = optimizers(&trainer.train).0;
    apply_overrides(&mut trainer, args);
    let fade_in = (trainer.step, args.fade_in_steps);
    trainer.shape = Some(shape_state(
        args,
        files,
        trainer.model().size,
        fade_in,
        device,
    )?);
    Ok(trainer)
}

/// Puts the generator of the ONNX file `path` (see [`crate::export::import`]) into the new run
/// `trainer`, as its generator and generator average; a full generator gets the shape branch of
/// `--morphable`, `--regressor` and the teacher in `--data`, its prior on from the start (it is
/// the paper's network already, nothing to fade in).
fn start_from_onnx(
    trainer: &mut Trainer,
    args: &TrainArgs,
    path: &Path,
    device: &Device,
) -> anyhow::Result<()> {
    let cfg = trainer.model().clone();
    let files = if cfg.variant.has_render() {
        Some(shape_files(args, "--init-from-onnx with --variant full")?)
    } else {
        None
    };
    let generator = read_generator(path, &cfg, device).with_context(|| {
        format!(
            "loading the generator to start from ({}) as --preset {} --variant {}",
            path.display(),
            args.preset,
            args.variant
        )
    })?;
    trainer.generator_ema = generator.valid();
    trainer.generator = generator;
    if let Some(files) = files {
        trainer.shape = Some(shape_state(args, files, cfg.size, (0, 0), device)?);
    }
    Ok(())
}

/// The 3DMM, the fitted regressor and the prepared data of a full run, which `flag` needs.
fn shape_files<'a>(
    args: &'a TrainArgs,
    flag: &str,
) -> anyhow::Result<(&'a Path, &'a Path, &'a Path)> {
    match (&args.morphable, &args.regressor, &args.data) {
        (Some(morphable), Some(regressor), Some(data)) => Ok((morphable, regressor, data)),
        _ => anyhow::bail!("{flag} needs --morphable, --regressor and --data"),
    }
}

/// The shape branch of a full run of `size` px from [`shape_files`], its 3D prior fading in over
/// `fade_in.1` steps from step `fade_in.0` (0 steps: on at once).
fn shape_state(
    args: &TrainArgs,
    (morphable, regressor, data): (&Path, &Path, &Path),
    size: usize,
    fade_in: (u64, u64),
    device: &Device,
) -> anyhow::Result<ShapeState> {
    let teacher = ShapeTeacher::open(data, morphable, size, device)?;
    let settings = ShapeSettings {
        morphable: morphable.to_owned(),
        morphable_sha256: teacher.morphable_sha256().to_owned(),
        lm_weight: args.lm_weight,
        mesh_weight: args.mesh_weight,
        mesh_shape_weight: args.mesh_shape_weight,
        lr: args.regressor_lr,
        fade_in_start: fade_in.0,
        fade_in_steps: fade_in.1,
    };
    let fitted = ShapeRegressor::load(regressor, device)
        .with_context(|| format!("loading the fitted regressor {}", regressor.display()))?;
    Ok(ShapeState::new(settings, teacher, fitted))
}

/// The settings a run takes from the command line instead of the checkpoint's (`--resume`,
/// `--init-from`) or the defaults (a new run).
fn apply_overrides(trainer: &mut Trainer, args: &TrainArgs) {
    if let Some(w) = args.adv_weight {
        trainer.train.adv_weight = w;
    }
    if let Some(g) = args.r1_gamma {
        trainer.train.r1_gamma = g;
    }
    if let Some(h) = args.ema_half_life_images {
        trainer.train.ema_half_life_images = h;
    }
    if let Some(lr) = args.lr {
        trainer.train.lr = lr;
    }
    if let Some(relative) = args.relative_l1 {
        trainer.train.relative_l1 = relative;
    }
    if let Some(w) = args.identity_weight {
        trainer.train.identity_weight = w;
    }
    if let Some(beta1) = args.beta1 {
        trainer.set_beta1(beta1);
    }
}
