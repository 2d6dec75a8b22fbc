//! The training loop on the tiny preset: resuming from a checkpoint continues exactly (the
//! generator EMA included), the run stops cleanly at its step target with a checkpoint and loss
//! curve, and the generator learns (L1 falls) within a few dozen steps. The generator EMA
//! (StyleGAN2 / GFPGAN `net_g_ema`) follows its closed form, a checkpoint written before it
//! existed still loads, and export picks it by default; checkpoints from before the upsampling
//! option stay nearest.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use clap::Parser;
use sgpn_train::data::degrade::TrainingDegradation;
use sgpn_train::export::cli::{ExportArgs, export};
use sgpn_train::export::write_generator;
use sgpn_train::model::{Config, Upsample, Variant};
use sgpn_train::train::checkpoint::{self, GeneratorWeights, load_generator};
use sgpn_train::train::run::checkpoint_dir;
use sgpn_train::train::{
    PairSource, RunOptions, StopReason, SyntheticSource, TrainConfig, Trainer, run, training_device,
};

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("sgpn_training")
        .join(name);
    std::fs::remove_dir_all(&dir).ok();
    dir
}

/// Every float parameter's values, in module order.
struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().into_data().try_into_vec_as::<f32>().unwrap());
    }
}

fn params<M: Module>(m: &M) -> Vec<Vec<f32>> {
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

/// A short EMA half-life (β = 0.5^(2/4) ≈ 0.71 per step) so that within a few steps the EMA
/// is far from both the initial and the current generator.
const TINY_EMA_HALF_LIFE: u64 = 4;

fn tiny_train_config() -> TrainConfig {
    TrainConfig {
        batch: 2,
        r1_every: 2,
        ema_half_life_images: TINY_EMA_HALF_LIFE,
        ..TrainConfig::default()
    }
}

fn tiny_trainer_with(train: TrainConfig) -> Trainer {
    Trainer::new(Config::tiny(Variant::No3d), train, &training_device()).unwrap()
}

fn tiny_trainer() -> Trainer {
    tiny_trainer_with(tiny_train_config())
}

fn opts(out: PathBuf, steps: u64) -> RunOptions {
    RunOptions {
        out,
        steps,
        max_time: None,
        checkpoint_every: 0,
        progress: false,
    }
}

#[test]
fn resume_continues_exactly() {
    resume_is_exact(tiny_train_config(), "plain");
}

fn resume_is_exact(train: TrainConfig, name: &str) {
    let mut source = SyntheticSource { size: 32, seed: 9 };

    let mut straight = tiny_trainer_with(train.clone());
    let s = run(
        &mut straight,
        &mut source,
        &opts(tmp(&format!("straight_{name}")), 4),
    )
    .unwrap();
    assert_eq!((s.steps_done, s.stop), (4, StopReason::StepsDone));

    let out = tmp(&format!("halves_{name}"));
    let mut first = tiny_trainer_with(train.clone());
    run(&mut first, &mut source, &opts(out.clone(), 2)).unwrap();
    drop(first);
    let mut resumed = Trainer::load(&checkpoint_dir(&out), &training_device()).unwrap();
    assert_eq!(resumed.step, 2);
    let s = run(&mut resumed, &mut source, &opts(out.clone(), 4)).unwrap();
    assert_eq!((s.steps_done, s.step), (2, 4));

    let (a, b) = (params(&straight.generator), params(&resumed.generator));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "generator weights differ after resume");
    assert!(
        params(&straight.discriminator) == params(&resumed.discriminator),
        "discriminator weights differ after resume"
    );
    let ema = params(&straight.generator_ema);
    assert!(
        ema == params(&resumed.generator_ema),
        "generator EMA differs after resume"
    );
    assert_eq!(straight.history, resumed.history);
    // The run left its curve behind.
    assert!(out.join("losses.png").is_file() && out.join("losses.csv").is_file());
    // And both networks did move from their initial values.
    let init = tiny_trainer_with(train);
    assert!(params(&init.generator) != a);
    assert!(params(&init.discriminator) != params(&straight.discriminator));
    // The EMA lags: neither the initial nor the current generator.
    assert!(ema != a && ema != params(&init.generator));
}

#[test]
fn resume_from_a_missing_checkpoint_names_the_file() {
    let err = Trainer::load(&tmp("nothing_here"), &training_device())
        .err()
        .expect("loading a missing checkpoint fails");
    assert!(format!("{err:#}").contains("trainer.json"), "{err:#}");
}

#[test]
fn l1_training_reduces_the_reconstruction_error() {
    let train = TrainConfig {
        batch: 4,
        adv_weight: 0.0,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(Config::tiny(Variant::No3d), train, &training_device()).unwrap();
    let mut source = SyntheticSource { size: 32, seed: 1 };
    let fixed = source.batch(0, 4).unwrap();
    let first = t.step(&fixed).unwrap().l1;
    for _ in 0..40 {
        t.step(&fixed).unwrap();
    }
    let last = t.step(&fixed).unwrap().l1;
    assert!(last < 0.7 * first, "L1 went from {first} to {last}");
}

/// With `identity_weight` alone, the generator learns to give the HQ face's dlib descriptor: the
/// loss is computed, recorded and falls; without it, no identity loss is recorded.
#[test]
fn the_identity_loss_moves_the_restored_face_towards_the_hq_identity() {
    let model = sgpn_train::identity::default_model_path();
    if !model.exists() {
        eprintln!(
            "skipping: {} is absent (./scripts/setup-train.sh fetches it)",
            model.display()
        );
        return;
    }
    let train = TrainConfig {
        batch: 2,
        adv_weight: 0.0,
        l1_weight: 0.0,
        identity_weight: 1.0,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(Config::tiny(Variant::No3d), train, &training_device()).unwrap();
    let mut source = SyntheticSource { size: 32, seed: 5 };
    let fixed = source.batch(0, 2).unwrap();
    let first = t
        .step(&fixed)
        .unwrap()
        .identity
        .expect("identity loss recorded");
    for _ in 0..20 {
        t.step(&fixed).unwrap();
    }
    let last = t.step(&fixed).unwrap().identity.unwrap();
    assert!(
        first.is_finite() && last < 0.7 * first,
        "1 − cos went from {first} to {last}"
    );

    let mut plain = tiny_trainer();
    assert_eq!(plain.step(&fixed).unwrap().identity, None);
}

#[test]
fn time_budget_stops_cleanly_with_a_checkpoint() {
    let out = tmp("budget");
    let mut t = tiny_trainer();
    let mut source = SyntheticSource { size: 32, seed: 2 };
    let mut o = opts(out.clone(), 1000);
    o.max_time = Some(std::time::Duration::ZERO);
    let s = run(&mut t, &mut source, &o).unwrap();
    assert_eq!((s.steps_done, s.stop), (0, StopReason::TimeBudget));
    let resumed = Trainer::load(&checkpoint_dir(&out), &training_device()).unwrap();
    assert_eq!(resumed.step, 0);
}

#[test]
fn a_source_of_the_wrong_size_is_refused() {
    let mut t = tiny_trainer();
    let mut source = SyntheticSource { size: 64, seed: 2 };
    let err = run(&mut t, &mut source, &opts(tmp("wrong_size"), 1)).unwrap_err();
    assert!(err.to_string().contains("64 px"), "{err}");
}

fn tiny_l1_trainer(ema_half_life_images: u64) -> Trainer {
    let train = TrainConfig {
        batch: 2,
        adv_weight: 0.0,
        ema_half_life_images,
        ..TrainConfig::default()
    };
    Trainer::new(Config::tiny(Variant::No3d), train, &training_device()).unwrap()
}

#[test]
fn ema_with_half_life_zero_is_the_generator() {
    let mut t = tiny_l1_trainer(0);
    assert_eq!(t.train.ema_beta(), 0.0);
    let mut source = SyntheticSource { size: 32, seed: 3 };
    for step in 0..2 {
        t.step(&source.batch(step, 2).unwrap()).unwrap();
    }
    assert!(params(&t.generator_ema) == params(&t.generator));
}

#[test]
fn ema_follows_its_closed_form() {
    let mut t = tiny_l1_trainer(TINY_EMA_HALF_LIFE);
    let beta = t.train.ema_beta();
    assert_eq!(beta, 0.5f64.powf(2.0 / 4.0));
    let mut source = SyntheticSource { size: 32, seed: 4 };
    // G_0 .. G_3: the generator before training and after each step.
    let mut g = vec![params(&t.generator)];
    assert!(params(&t.generator_ema) == g[0], "the EMA starts at G_0");
    for step in 0..3 {
        t.step(&source.batch(step, 2).unwrap()).unwrap();
        g.push(params(&t.generator));
        if step == 0 {
            // One step: ema = β·G_0 + (1−β)·G_1, bit for bit in f32.
            let (b, c) = (beta as f32, (1.0 - beta) as f32);
            let want: Vec<Vec<f32>> = g[0]
                .iter()
                .zip(&g[1])
                .map(|(p0, p1)| p0.iter().zip(p1).map(|(x0, x1)| b * x0 + c * x1).collect())
                .collect();
            assert!(params(&t.generator_ema) == want, "EMA after one step");
        }
    }
    // Three steps: ema = β³·G_0 + (1−β)·(β²·G_1 + β·G_2 + G_3).
    let k = g.len() - 1;
    let weight = |i: usize| {
        if i == 0 {
            beta.powi(k as i32)
        } else {
            (1.0 - beta) * beta.powi((k - i) as i32)
        }
    };
    let ema = params(&t.generator_ema);
    let mut worst = 0.0f64;
    for (p, e) in ema.iter().enumerate() {
        for (j, &got) in e.iter().enumerate() {
            let want: f64 = (0..=k).map(|i| weight(i) * g[i][p][j] as f64).sum();
            worst = worst.max((got as f64 - want).abs() / (1.0 + want.abs()));
        }
    }
    assert!(worst < 1e-6, "EMA off its closed form by {worst}");
    assert!(ema != g[k], "the EMA is not the generator");
}

/// A checkpoint of a tiny run (two L1 steps, nearest upsampling) as checkpoints were written
/// before the generator EMA, the upsampling option, the input skip and the training
/// degradation existed: no `generator_ema.bpk`, and none of those fields in `trainer.json`.
fn old_checkpoint(name: &str) -> PathBuf {
    let fresh = tmp(&format!("{name}_fresh"));
    let nearest = Config {
        upsample: Upsample::Nearest,
        ..Config::tiny(Variant::No3d)
    };
    let mut t = Trainer::new(nearest, tiny_train_config(), &training_device()).unwrap();
    let mut source = SyntheticSource { size: 32, seed: 3 };
    run(&mut t, &mut source, &opts(fresh.clone(), 2)).unwrap();
    let from = fresh.join("checkpoint");
    let to = tmp(name);
    std::fs::create_dir_all(&to).unwrap();
    for f in [
        checkpoint::GENERATOR_FILE,
        checkpoint::DISCRIMINATOR_FILE,
        checkpoint::G_OPTIM_FILE,
        checkpoint::D_OPTIM_FILE,
    ] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from.join(checkpoint::STATE_FILE)).unwrap()).unwrap();
    for field in ["ema_half_life_images", "degradation"] {
        state["train"].as_object_mut().unwrap().remove(field);
    }
    for field in ["upsample", "residual"] {
        state["model"].as_object_mut().unwrap().remove(field);
    }
    std::fs::write(
        to.join(checkpoint::STATE_FILE),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    to
}

#[test]
fn a_checkpoint_from_before_the_ema_loads_with_the_ema_at_the_generator() {
    let old = old_checkpoint("before_ema");
    let t = Trainer::load(&old, &training_device()).unwrap();
    assert_eq!(t.train.ema_half_life_images, 10_000);
    let g = params(&t.generator);
    assert!(params(&t.generator_ema) == g);
    // Export's loader falls back to the generator as well.
    let device = burn::prelude::Device::flex();
    let ema = load_generator(&old, &device, GeneratorWeights::Ema).unwrap();
    assert!(params(&ema) == g);
    assert!(params(&load_generator(&old, &device, GeneratorWeights::Raw).unwrap()) == g);
}

/// Older checkpoints keep what they were trained with: nearest upsampling, no input skip, the
/// paper's degradation.
#[test]
fn a_checkpoint_from_before_the_options_keeps_its_network_and_data() {
    let t = Trainer::load(&old_checkpoint("before_options"), &training_device()).unwrap();
    assert_eq!(t.model().upsample, Upsample::Nearest);
    assert_eq!(t.generator.config.upsample, Upsample::Nearest);
    assert!(!t.model().residual);
    assert_eq!(t.train.degradation, TrainingDegradation::Paper);
}

#[derive(Parser)]
struct ExportCommand {
    #[command(flatten)]
    args: ExportArgs,
}

fn export_with(flags: &[&str]) {
    let argv = std::iter::once("export").chain(flags.iter().copied());
    export(ExportCommand::try_parse_from(argv).unwrap().args).unwrap();
}

#[test]
fn export_takes_the_ema_unless_told_raw_generator() {
    let out = tmp("export_ema");
    let mut t = tiny_trainer();
    let mut source = SyntheticSource { size: 32, seed: 5 };
    run(&mut t, &mut source, &opts(out.clone(), 3)).unwrap();
    assert!(
        checkpoint_dir(&out)
            .join(checkpoint::GENERATOR_EMA_FILE)
            .is_file()
    );

    let ckpt = checkpoint_dir(&out);
    let (default, raw) = (out.join("default.onnx"), out.join("raw.onnx"));
    let c = ckpt.to_str().unwrap();
    export_with(&["--checkpoint", c, "--out", default.to_str().unwrap()]);
    export_with(&[
        "--checkpoint",
        c,
        "--out",
        raw.to_str().unwrap(),
        "--raw-generator",
    ]);
    // The same bytes as writing the trainer's EMA, resp. its generator, directly.
    let (want_ema, want_raw) = (out.join("want_ema.onnx"), out.join("want_raw.onnx"));
    write_generator(&t.generator_ema, &want_ema).unwrap();
    write_generator(&t.generator.valid(), &want_raw).unwrap();
    let read = |p: &Path| std::fs::read(p).unwrap();
    assert!(
        read(&default) == read(&want_ema),
        "default export is not the EMA"
    );
    assert!(read(&raw) == read(&want_raw), "--raw-generator is not G");
    assert!(read(&default) != read(&raw));
    // --raw-generator is for checkpoints, not for an untrained preset.
    assert!(
        ExportCommand::try_parse_from([
            "export",
            "--init-preset",
            "tiny",
            "--out",
            "x.onnx",
            "--raw-generator"
        ])
        .is_err()
    );
}

/// Switching β1 mid-run keeps both optimizers' moments (a resumed run does not restart Adam):
/// "switching" to the same β1 changes nothing about the next step. The new β1 is saved.
#[test]
fn switching_beta1_keeps_the_optimizer_moments() {
    let mut t = tiny_trainer();
    let mut source = SyntheticSource { size: 32, seed: 4 };
    let out = tmp("beta1_switch");
    run(&mut t, &mut source, &opts(out.clone(), 2)).unwrap();
    let ckpt = checkpoint_dir(&out);
    let batch = source.batch(2, 2).unwrap();
    let mut kept = Trainer::load(&ckpt, &training_device()).unwrap();
    kept.step(&batch).unwrap();
    let mut switched = Trainer::load(&ckpt, &training_device()).unwrap();
    switched.set_beta1(switched.train.beta1);
    switched.step(&batch).unwrap();
    assert!(params(&kept.generator) == params(&switched.generator));
    assert!(params(&kept.discriminator) == params(&switched.discriminator));

    t.set_beta1(0.9);
    t.save(&ckpt).unwrap();
    assert_eq!(
        Trainer::load(&ckpt, &training_device())
            .unwrap()
            .train
            .beta1,
        0.9
    );
}
