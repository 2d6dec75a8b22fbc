//! `sgpn-train train`: start or resume a training run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::prepared::PreparedFaces;
use super::run::{RunOptions, checkpoint_dir, run};
use super::source::{PairSource, SyntheticSource};
use super::trainer::{TrainConfig, Trainer};
use super::{checkpoint, training_device};
use crate::model::{Config, Variant};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Run folder (checkpoint/, losses.csv, losses.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Model preset: tiny, small256, paper512.
    #[arg(long, default_value = "small256")]
    pub preset: String,
    /// full or no3d (the full variant needs rendered faces, which no data source gives yet).
    #[arg(long, default_value = "no3d")]
    pub variant: String,
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
    #[arg(long, default_value_t = 0.002)]
    pub lr: f64,
    /// Weight of the adversarial loss (paper: 1). On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub adv_weight: Option<f64>,
    /// On `--resume`: replace the discriminator and its optimizer state by fresh ones (for a
    /// discriminator that has stopped separating real from restored faces).
    #[arg(long, requires = "resume")]
    pub reset_discriminator: bool,
    /// Discriminator-only updates against the frozen generator before training resumes (use
    /// with `--reset-discriminator`).
    #[arg(long, default_value_t = 0, requires = "resume")]
    pub discriminator_warmup: u64,
    /// R1 weight γ (StyleGAN2: 10). On `--resume` it replaces the checkpoint's.
    #[arg(long)]
    pub r1_gamma: Option<f64>,
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
    let mut trainer = if args.resume {
        anyhow::ensure!(
            checkpoint::exists(&ckpt),
            "--resume: no checkpoint in {} (expected {})",
            ckpt.display(),
            ckpt.join(checkpoint::STATE_FILE).display()
        );
        let mut trainer = Trainer::load(&ckpt, &device)?;
        if let Some(w) = args.adv_weight {
            trainer.train.adv_weight = w;
        }
        if let Some(g) = args.r1_gamma {
            trainer.train.r1_gamma = g;
        }
        if let Some(h) = args.ema_half_life_images {
            trainer.train.ema_half_life_images = h;
        }
        if args.reset_discriminator {
            trainer.reset_discriminator()?;
        }
        trainer
    } else {
        anyhow::ensure!(
            !checkpoint::exists(&ckpt),
            "{} already holds a checkpoint: pass --resume to continue it, or choose another --out",
            ckpt.display()
        );
        let model = Config::preset(&args.preset, Variant::parse(&args.variant)?)?;
        let train = TrainConfig {
            batch: args.batch,
            lr: args.lr,
            adv_weight: args.adv_weight.unwrap_or(1.0),
            r1_gamma: args.r1_gamma.unwrap_or(10.0),
            seed: args.seed,
            ema_half_life_images: args
                .ema_half_life_images
                .unwrap_or(TrainConfig::default().ema_half_life_images),
            ..TrainConfig::default()
        };
        Trainer::new(model, train, &device)?
    };
    anyhow::ensure!(
        !trainer.model.variant.has_render(),
        "training the full variant needs rendered 3D faces, which no data source provides yet; use --variant no3d"
    );
    let mut source: Box<dyn PairSource> = if args.synthetic {
        Box::new(SyntheticSource {
            size: trainer.model.size,
            seed: trainer.train.seed,
        })
    } else {
        let cache = args
            .data
            .as_deref()
            .expect("clap requires --data without --synthetic");
        Box::new(PreparedFaces::open(
            cache,
            trainer.model.size,
            trainer.train.seed,
        )?)
    };
    if args.discriminator_warmup > 0 {
        let d = trainer.warm_up_discriminator(source.as_mut(), args.discriminator_warmup)?;
        println!(
            "discriminator warm-up: {} D-only steps, mean D loss {d:.3} over the last tenth",
            args.discriminator_warmup
        );
    }
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
