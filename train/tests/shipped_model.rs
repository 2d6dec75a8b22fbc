//! The generators the project ships against what their model cards claim:
//! `models/sgpn-small256-no3d.onnx` (variant A) and `models/sgpn-small256-full.onnx` with its shape
//! regressor. Each satisfies the contract with the metadata the element relies on, the regressor
//! matches the shipped 3DMM, and on the first faces of both evaluation sets, degraded with the
//! evaluation seed, each beats the bicubic baseline on identity similarity and landmark error
//! and stays within 1 dB of its PSNR (issue 3's targets), and adds no colour tint. The full
//! tables (every face, NIQE too) are in the cards; this is the quick re-check.

use std::path::{Path, PathBuf};

use sgpn_models::contract::{Template, Variant};
use sgpn_models::generator::Generator;
use sgpn_models::runtime::SessionConfig;
use sgpn_models::shape_regressor::sha256_file;
use sgpn_models::{MorphableModel, ShapeRegressor};
use sgpn_train::data::cli::shared_data;
use sgpn_train::eval::cli::{EvalArgs, ShapePriorArgs, eval};

const FACES_PER_SET: usize = 12;
/// Largest mean colour shift per channel (grey levels) on those faces: the per-face spread is
/// 1.3–2.4 levels, so 12 faces estimate the mean to about ±0.7.
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
/// and checks issue 3's targets against bicubic and the colour shift of the restored faces.
fn beats_bicubic(file: &str, regressor: Option<&str>) {
    if !shared_data("eval/aaf-val").exists() {
        eprintln!("shared evaluation data missing: skipped");
        return;
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
    for pair in metrics["summaries"].as_array().unwrap().chunks(2) {
        let (b, r) = (&pair[0]["summary"], &pair[1]["summary"]);
        assert_eq!(pair[0]["method"], "bicubic");
        let set = &pair[0]["set"];
        let (bp, rp) = (b["psnr"].as_f64().unwrap(), r["psnr"].as_f64().unwrap());
        let (bi, ri) = (
            b["identity"].as_f64().unwrap(),
            r["identity"].as_f64().unwrap(),
        );
        let (bl, rl) = (
            b["landmark_error"].as_f64().unwrap(),
            r["landmark_error"].as_f64().unwrap(),
        );
        assert!(
            rp > bp - 1.0,
            "{file}, {set}: PSNR {rp:.2} vs bicubic {bp:.2}"
        );
        assert!(
            ri > bi,
            "{file}, {set}: identity {ri:.4} vs bicubic {bi:.4}"
        );
        assert!(
            rl < bl,
            "{file}, {set}: landmark error {rl:.4} vs bicubic {bl:.4}"
        );
        // No tint on the pasted faces: the shipped files are colour-calibrated
        // (`sgpn-train calibrate-colour`); before that, variant A's red was +6 grey levels.
        let shift: Vec<f64> = r["colour_shift"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .collect();
        assert!(
            shift.iter().all(|c| c.abs() < MAX_COLOUR_SHIFT),
            "{file}, {set}: colour shift R/G/B {shift:?} grey levels"
        );
        eprintln!(
            "{file}, {set}, first {FACES_PER_SET} faces: PSNR {rp:.2} (bicubic {bp:.2}), identity {ri:.4} ({bi:.4}), landmarks {rl:.4} ({bl:.4}), colour shift {shift:.2?}"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn shipped_generator_beats_bicubic_on_identity_and_landmarks_within_one_db_of_its_psnr() {
    beats_bicubic(NO3D, None);
}

#[test]
fn shipped_full_model_beats_bicubic_on_identity_and_landmarks_within_one_db_of_its_psnr() {
    beats_bicubic(FULL, Some(FULL_REGRESSOR));
}
