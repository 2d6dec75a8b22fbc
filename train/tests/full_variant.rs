//! The full SGPN variant's training path end to end on the tiny preset, with the project's
//! shipped 3DMM: a teacher cache, the regressor fitted to it, the full generator started from a
//! no3d run, the landmark and mesh losses (Eq. 13–15) reported, and a resumed run continuing
//! exactly as an uninterrupted one; a full run started from that run's export
//! (`--init-from-onnx`) begins with its generator and the 3D prior on.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use clap::Parser;
use sgpn_models::morphable::MorphableModel;
use sgpn_models::onnx::encode_model;
use sgpn_train::export::write_generator;
use sgpn_train::model::{Config, Variant};
use sgpn_train::morphable::teacher::{FILE_NAME, crop_names, write_cache};
use sgpn_train::train::checkpoint::{GeneratorWeights, load_generator};
use sgpn_train::train::cli::{TrainArgs, train};
use sgpn_train::train::prepared::PreparedFaces;
use sgpn_train::train::regressor_check::{RegressorCheckArgs, score_terms};
use sgpn_train::train::regressor_fit::{FitRegressorArgs, fit_regressor};
use sgpn_train::train::{RunOptions, TrainConfig, Trainer, run, training_device};

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("sgpn_full_variant")
        .join(name);
    std::fs::remove_dir_all(&dir).ok();
    dir
}

fn morphable() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sgpn-mediapipe-3dmm.safetensors")
}

/// A prepared cache of four 64-px crops and its teacher: the mean face, each crop's first
/// identity coefficient and yaw set apart.
fn cache_with_teacher(dir: &Path) {
    std::fs::create_dir_all(dir.join("crops")).unwrap();
    let mut lines = String::new();
    for k in 0..4u32 {
        let img = image::RgbImage::from_fn(64, 64, |x, y| {
            let r = ((x as i32 - 32).pow(2) + (y as i32 - 34).pow(2)) as f32;
            let skin = if r < 500.0 { 170 } else { 40 };
            image::Rgb([
                skin + (k * 10) as u8,
                (skin as f32 * 0.8) as u8,
                (y * 2) as u8,
            ])
        });
        img.save(dir.join("crops").join(format!("face{k}.png")))
            .unwrap();
        lines.push_str(&format!(
            "{{\"source\":\"face{k}.jpg\",\"crop\":\"face{k}.png\",\"rejection\":null,\"face\":null,\"fill_fraction\":null}}\n"
        ));
    }
    std::fs::write(dir.join("results.jsonl"), lines).unwrap();
    let model = MorphableModel::load(&morphable()).unwrap();
    let k = model.coefficient_count();
    let yaw = model.id_components() + model.exp_components() + model.tex_components() + 1;
    let mut coeffs = vec![0f32; 4 * k];
    for (i, c) in coeffs.chunks_exact_mut(k).enumerate() {
        c[0] = i as f32 * 0.5 - 0.75;
        c[yaw] = i as f32 * 0.1 - 0.15;
    }
    let crops = crop_names(dir).unwrap();
    write_cache(&dir.join(FILE_NAME), &coeffs, k, &crops, &morphable(), &[]).unwrap();
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
}

fn train_args(args: &[&str]) -> TrainArgs {
    Cli::parse_from(std::iter::once("sgpn-train").chain(args.iter().copied())).train
}

/// The last logged step of a run: (l1, L_lm, L_mesh).
fn last_losses(run: &Path) -> (f64, Option<f64>, Option<f64>) {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("checkpoint").join("trainer.json")).unwrap(),
    )
    .unwrap();
    let last = state["history"].as_array().unwrap().last().unwrap().clone();
    (
        last["l1"].as_f64().unwrap(),
        last["lm"].as_f64(),
        last["mesh"].as_f64(),
    )
}

#[test]
fn full_variant_trains_from_a_no3d_run_with_the_mesh_losses_and_resumes_exactly() {
    let root = tmp("run");
    let data = root.join("data");
    cache_with_teacher(&data);

    // A no3d run of two steps to start from.
    let device = training_device();
    let train_cfg = TrainConfig {
        batch: 2,
        adv_weight: 0.5,
        ..TrainConfig::default()
    };
    let mut no3d = Trainer::new(Config::tiny(Variant::No3d), train_cfg, &device).unwrap();
    let mut source = PreparedFaces::open(&data, 32, 0).unwrap();
    let no3d_out = root.join("no3d");
    run(
        &mut no3d,
        &mut source,
        &RunOptions {
            out: no3d_out.clone(),
            steps: 2,
            max_time: None,
            checkpoint_every: 0,
            progress: false,
        },
    )
    .unwrap();

    // The regressor fitted to the teacher for three steps.
    let fit_out = root.join("regressor");
    fit_regressor(FitRegressorArgs {
        data: data.clone(),
        morphable: morphable(),
        out: fit_out.clone(),
        preset: "tiny".into(),
        size: 32,
        steps: 3,
        max_minutes: None,
        batch: 2,
        lr: None,
        shape_weight: None,
        checkpoint_every: 0,
        resume: false,
        seed: 0,
        quiet: true,
    })
    .unwrap();
    let fit_csv = std::fs::read_to_string(fit_out.join("fit.csv")).unwrap();
    assert_eq!(fit_csv.lines().count(), 4, "header + 3 steps:\n{fit_csv}");
    // The per-term check scores the fit and the average face on the same pairs.
    let terms = score_terms(&RegressorCheckArgs {
        data: data.clone(),
        morphable: morphable(),
        regressor: fit_out.join("checkpoint"),
        pairs: 3,
        size: 32,
        seed: 5,
    })
    .unwrap();
    for t in terms {
        assert!(
            t.pairs == 3 && t.regressor > 0.0 && t.average_face > 0.0,
            "{t:?}"
        );
    }

    let full = |out: &Path, steps: &str, resume: bool| {
        let (m, r, n) = (
            morphable(),
            fit_out.join("checkpoint"),
            no3d_out.join("checkpoint"),
        );
        let mut args = vec![
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--steps",
            steps,
            "--quiet",
        ];
        if resume {
            args.push("--resume");
        } else {
            args.extend([
                "--variant",
                "full",
                "--init-from",
                n.to_str().unwrap(),
                "--morphable",
                m.to_str().unwrap(),
                "--regressor",
                r.to_str().unwrap(),
            ]);
        }
        train(train_args(&args))
    };
    let straight = root.join("straight");
    full(&straight, "5", false).unwrap();
    let split = root.join("split");
    full(&split, "4", false).unwrap();
    full(&split, "5", true).unwrap();

    let (l1, lm, mesh) = last_losses(&straight);
    let lm = lm.expect("the full variant logs L_lm");
    let mesh = mesh.expect("the full variant logs L_mesh");
    assert!(l1.is_finite() && lm.is_finite() && mesh.is_finite());
    assert!(
        mesh > 0.0,
        "the regressor does not match the teacher after 3 steps"
    );
    assert_eq!(
        last_losses(&split),
        (l1, Some(lm), Some(mesh)),
        "a resumed full run must continue exactly"
    );
    // The run carried over the no3d run's step count and is a full generator now.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(straight.join("checkpoint").join("trainer.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["step"], 5);
    assert_eq!(state["model"]["variant"], "full");
    assert!(straight.join("checkpoint/regressor").is_dir());

    // A new full run from the export of that one: its generator, the prior on at once.
    let exported = root.join("full.onnx");
    let ema = load_generator(
        &straight.join("checkpoint"),
        &Device::flex(),
        GeneratorWeights::Ema,
    )
    .unwrap();
    write_generator(&ema, &exported).unwrap();
    let from_onnx = root.join("from_onnx");
    let (m, r) = (morphable(), fit_out.join("checkpoint"));
    let start = |steps: &str| {
        train(train_args(&[
            "--data",
            data.to_str().unwrap(),
            "--out",
            from_onnx.to_str().unwrap(),
            "--preset",
            "tiny",
            "--variant",
            "full",
            "--init-from-onnx",
            exported.to_str().unwrap(),
            "--morphable",
            m.to_str().unwrap(),
            "--regressor",
            r.to_str().unwrap(),
            "--steps",
            steps,
            "--quiet",
        ]))
    };
    start("0").unwrap();
    let started = load_generator(
        &from_onnx.join("checkpoint"),
        &Device::flex(),
        GeneratorWeights::Raw,
    )
    .unwrap();
    assert!(
        encode_model(&started.export_onnx()) == std::fs::read(&exported).unwrap(),
        "the run does not start from the file's generator"
    );
    std::fs::remove_dir_all(&from_onnx).unwrap();
    start("1").unwrap();
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(from_onnx.join("checkpoint").join("trainer.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["step"], 1);
    assert_eq!(state["shape"]["fade_in_steps"], 0);
    let (l1, lm, mesh) = last_losses(&from_onnx);
    assert!(l1.is_finite() && lm.is_some_and(f64::is_finite) && mesh.is_some_and(f64::is_finite));
}

#[test]
fn full_variant_without_its_shape_branch_is_refused() {
    let root = tmp("refused");
    let data = root.join("data");
    cache_with_teacher(&data);
    let args = train_args(&[
        "--data",
        data.to_str().unwrap(),
        "--out",
        root.join("out").to_str().unwrap(),
        "--preset",
        "tiny",
        "--variant",
        "full",
        "--steps",
        "1",
        "--quiet",
    ]);
    let err = train(args).unwrap_err().to_string();
    assert!(err.contains("--init-from"), "{err}");
}
