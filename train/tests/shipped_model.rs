//! The generators the project ships against what their model cards claim:
//! `models/sgpn-small256-no3d.onnx` (variant A) and `models/sgpn-small256-full.onnx` with its shape
//! regressor. Each satisfies the contract with the metadata the element relies on, the regressor
//! matches the shipped 3DMM, and on the first faces of both evaluation sets, degraded in each
//! severity stratum with the evaluation seeds (`sgpn-train eval`), the default generator clears
//! the fidelity bar of models/README.md against bicubic in every stratum, and neither adds a
//! colour tint. The full tables (every face, NIQE too) are in the cards; this is the quick
//! re-check.

use std::path::{Path, PathBuf};

use sgpn_models::contract::{Template, Variant};
use sgpn_models::generator::Generator;
use sgpn_models::runtime::SessionConfig;
use sgpn_models::shape_regressor::sha256_file;
use sgpn_models::{MorphableModel, ShapeRegressor};
use sgpn_train::data::cli::shared_data;
use sgpn_train::eval::cli::{EvalArgs, ShapePriorArgs, eval};

const FACES_PER_SET: usize = 20;
/// Largest mean colour shift per channel (grey levels) on those faces.
const MAX_COLOUR_SHIFT: f64 = 2.0;

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(file)
}

const NO3D: &str = "sgpn-small256-no3d.onnx";
const FULL: &str = "sgpn-small256-full.onnx";
const FULL_REGRESSOR: &str = "sgpn-small256-full-regressor.onnx";
const MORPHABLE: &str = "sgpn-mediapipe-3dmm.safetensors";

/// Loads a shipped generator, checks its metadata and returns its model card.
fn check_generator(file: &str, variant: Variant) -> String {
    let path = shipped(file);
    let generator = Generator::load(&path, &SessionConfig::default())
        .unwrap_or_else(|e| panic!("the shipped generator {} must load: {e}", path.display()));
    assert_eq!(generator.info.size, 256);
    assert_eq!(generator.info.template, Template::Sgpn);
    assert_eq!(generator.info.variant, variant);
    let card = std::fs::read_to_string(path.with_extension("md")).expect("model card beside it");
    for needle in [
        "All-Age-Faces",
        "non-commercial",
        "steps",
        "| aaf-val |",
        "| hq512 |",
    ] {
        assert!(card.contains(needle), "{file}: model card lacks {needle:?}");
    }
    card
}

#[test]
fn shipped_generator_has_the_contract_metadata_and_a_model_card() {
    check_generator(NO3D, Variant::No3d);
}

#[test]
fn shipped_full_generator_and_its_regressor_match_the_shipped_3dmm_and_have_a_card() {
    let card = check_generator(FULL, Variant::Full);
    assert!(
        card.contains(FULL_REGRESSOR),
        "the card covers the regressor"
    );
    let path = shipped(FULL_REGRESSOR);
    let regressor = ShapeRegressor::load(&path, &SessionConfig::default())
        .unwrap_or_else(|e| panic!("the shipped regressor {} must load: {e}", path.display()));
    assert_eq!(regressor.info.template, Template::Sgpn);
    let morphable = shipped(MORPHABLE);
    let model = MorphableModel::load(&morphable).unwrap();
    regressor
        .ensure_matches(&model, &morphable, &sha256_file(&morphable).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Evaluates a shipped generator (with its shape prior, if any) on the first faces of both sets
/// in every stratum; returns the eval's `metrics.json`, after checking the colour shift of the
/// restored faces.
fn evaluate(file: &str, regressor: Option<&str>) -> Option<serde_json::Value> {
    if !shared_data("eval/aaf-val").exists() {
        eprintln!("shared evaluation data missing: skipped");
        return None;
    }
    let out = std::env::temp_dir().join(format!(
        "sgpn-shipped-test-{}-{}",
        std::process::id(),
        file.trim_end_matches(".onnx")
    ));
    let args = EvalArgs {
        limit: Some(FACES_PER_SET),
        samples: 0,
        shape: ShapePriorArgs {
            regressor: regressor.map(shipped),
            morphable: regressor.map(|_| shipped(MORPHABLE)),
        },
        ..EvalArgs::new(shipped(file), out.clone())
    };
    eval(args).expect("eval runs");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    for entry in metrics["summaries"].as_array().unwrap() {
        if entry["method"] != "restored" {
            continue;
        }
        let shift: Vec<f64> = entry["summary"]["colour_shift"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .collect();
        let (set, severity) = (&entry["set"], &entry["severity"]);
        assert!(
            shift.iter().all(|c| c.abs() < MAX_COLOUR_SHIFT),
            "{file}, {set} {severity}: colour shift R/G/B {shift:?} grey levels"
        );
    }
    Some(metrics)
}

/// `(set, stratum, shortfalls against the fidelity bar)` of each evaluated stratum, printed
/// with the paired PSNR, identity and landmark differences.
fn shortfalls(file: &str, metrics: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let mut rows = Vec::new();
    for entry in metrics["paired"].as_array().unwrap() {
        let cell = |metric: &str| {
            let d = &entry["against_bicubic"][metric];
            format!(
                "{:+.4} ± {:.4}",
                d["mean"].as_f64().unwrap_or(f64::NAN),
                d["std_err"].as_f64().unwrap_or(f64::NAN)
            )
        };
        let (set, severity) = (
            entry["set"].as_str().unwrap().to_string(),
            entry["severity"].as_str().unwrap().to_string(),
        );
        let short: Vec<String> = entry["fidelity_shortfalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        eprintln!(
            "{file}, {set} {severity}, first {FACES_PER_SET} faces, restored − bicubic: PSNR {}, identity {}, landmarks {}; bar: {short:?}",
            cell("psnr"),
            cell("identity"),
            cell("landmark_error")
        );
        rows.push((set, severity, short));
    }
    assert_eq!(rows.len(), 6, "two sets, three strata");
    rows
}

/// The default generator clears the fidelity bar in every stratum of both sets: better than
/// bicubic on identity, landmarks and PSNR where restoration has room, no worse where it has little.
#[test]
fn shipped_generator_beats_bicubic_in_every_stratum() {
    let Some(metrics) = evaluate(NO3D, None) else {
        return;
    };
    for (set, severity, short) in shortfalls(NO3D, &metrics) {
        assert!(short.is_empty(), "{NO3D}, {set} {severity}: {short:?}");
    }
}

/// The full model was trained on the paper's heavy degradations only; it clears the bar there
/// (its card states the mild and moderate shortfalls).
#[test]
fn shipped_full_model_beats_bicubic_in_the_heavy_stratum() {
    let Some(metrics) = evaluate(FULL, Some(FULL_REGRESSOR)) else {
        return;
    };
    for (set, severity, short) in shortfalls(FULL, &metrics) {
        if severity == "heavy" {
            assert!(short.is_empty(), "{FULL}, {set} {severity}: {short:?}");
        }
    }
}
