//! The training loop on the tiny preset: resuming from a checkpoint continues exactly, the
//! run stops cleanly at its step target with a checkpoint and loss curve, and the generator
//! learns (L1 falls) within a few dozen steps.

use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use sgpn_train::model::{Config, Variant};
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

fn tiny_trainer() -> Trainer {
    let train = TrainConfig {
        batch: 2,
        r1_every: 2,
        ..TrainConfig::default()
    };
    Trainer::new(Config::tiny(Variant::No3d), train, &training_device()).unwrap()
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
    let mut source = SyntheticSource { size: 32, seed: 9 };

    let mut straight = tiny_trainer();
    let s = run(&mut straight, &mut source, &opts(tmp("straight"), 4)).unwrap();
    assert_eq!((s.steps_done, s.stop), (4, StopReason::StepsDone));

    let out = tmp("halves");
    let mut first = tiny_trainer();
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
    assert_eq!(straight.history, resumed.history);
    // The run left its curve behind.
    assert!(out.join("losses.png").is_file() && out.join("losses.csv").is_file());
    // And both networks did move from their initial values.
    let init = tiny_trainer();
    assert!(params(&init.generator) != a);
    assert!(params(&init.discriminator) != params(&straight.discriminator));
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
