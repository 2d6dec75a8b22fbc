//! The generator the project ships (`models/sgpn-small256-no3d.onnx`) against what its model card
//! claims: it satisfies the contract with the metadata the element relies on, and on the first
//! faces of both evaluation sets, degraded with the evaluation seed, it beats the bicubic
//! baseline on identity similarity and landmark error and stays within 1 dB of its PSNR (issue
//! 3's targets). The full tables (every face, NIQE too) are in the card; this is the quick
//! re-check.

use std::path::{Path, PathBuf};

use sgpn_models::contract::{Template, Variant};
use sgpn_models::generator::Generator;
use sgpn_models::runtime::SessionConfig;
use sgpn_train::data::cli::shared_data;
use sgpn_train::eval::cli::{EvalArgs, eval};

const FACES_PER_SET: usize = 12;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sgpn-small256-no3d.onnx")
}

#[test]
fn shipped_generator_has_the_contract_metadata_and_a_model_card() {
    let path = shipped();
    let generator = Generator::load(&path, &SessionConfig::default())
        .unwrap_or_else(|e| panic!("the shipped generator {} must load: {e}", path.display()));
    assert_eq!(generator.info.size, 256);
    assert_eq!(generator.info.template, Template::Sgpn);
    assert_eq!(generator.info.variant, Variant::No3d);
    let card = std::fs::read_to_string(path.with_extension("md")).expect("model card beside it");
    for needle in [
        "All-Age-Faces",
        "non-commercial",
        "steps",
        "| aaf-val |",
        "| hq512 |",
    ] {
        assert!(card.contains(needle), "model card lacks {needle:?}");
    }
}

#[test]
fn shipped_generator_beats_bicubic_on_identity_and_landmarks_within_one_db_of_its_psnr() {
    if !shared_data("eval/aaf-val").exists() {
        eprintln!("shared evaluation data missing: skipped");
        return;
    }
    let out = std::env::temp_dir().join(format!("sgpn-shipped-test-{}", std::process::id()));
    let args = EvalArgs {
        limit: Some(FACES_PER_SET),
        samples: 0,
        ..EvalArgs::new(shipped(), out.clone())
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
        assert!(rp > bp - 1.0, "{set}: PSNR {rp:.2} vs bicubic {bp:.2}");
        assert!(ri > bi, "{set}: identity {ri:.4} vs bicubic {bi:.4}");
        assert!(rl < bl, "{set}: landmark error {rl:.4} vs bicubic {bl:.4}");
        eprintln!(
            "{set}, first {FACES_PER_SET} faces: PSNR {rp:.2} (bicubic {bp:.2}), identity {ri:.4} ({bi:.4}), landmarks {rl:.4} ({bl:.4})"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
