//! `sgpn-train eval` end to end with generators whose output is known: an identity generator must
//! score exactly the bicubic baseline (the network input *is* the bicubic upsampling of the LQ)
//! in every stratum of both sets, and an inverting generator must score far below it.

use std::path::PathBuf;

use sgpn_models::contract::Template;
use sgpn_models::fixtures::{write_affine_generator, write_identity_generator};
use sgpn_train::data::cli::shared_data;
use sgpn_train::eval::cli::{EvalArgs, eval};

const SIZE: usize = 256;

fn run(model: PathBuf, out: PathBuf) -> serde_json::Value {
    let args = EvalArgs {
        limit: Some(2),
        samples: 1,
        ..EvalArgs::new(model, out.clone())
    };
    eval(args).expect("eval runs");
    for f in [
        "metrics.md",
        "samples_aaf-val_mild.png",
        "samples_hq512_heavy.png",
        "samples_moderate.png",
    ] {
        assert!(out.join(f).exists(), "{f} written");
    }
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn identity_generator_scores_exactly_the_bicubic_baseline_and_inversion_scores_worse() {
    if !shared_data("eval/aaf-val").exists() {
        eprintln!("shared evaluation data missing: skipped");
        return;
    }
    let root = std::env::temp_dir().join(format!("sgpn-eval-test-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let identity = root.join("identity.onnx");
    write_identity_generator(&identity, SIZE, Template::Sgpn).unwrap();
    let m = run(identity, root.join("identity"));
    let faces = m["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 12, "2 faces from each set in each of 3 strata");
    for f in faces {
        let (b, r) = (&f["scores"]["bicubic"], &f["scores"]["restored"]);
        assert_eq!(b, r, "identity generator must equal the baseline: {f}");
        let psnr = b["psnr"].as_f64().unwrap();
        let ssim = b["ssim"].as_f64().unwrap();
        assert!((12.0..50.0).contains(&psnr), "baseline PSNR {psnr}");
        assert!((0.0..1.0).contains(&ssim), "baseline SSIM {ssim}");
        assert!(b["niqe"].as_f64().is_some(), "NIQE defined at 256");
        // The natural-image reference: the HQ face is a different image from the baseline.
        let hq = f["hq_niqe"].as_f64().expect("NIQE of the HQ face");
        assert_ne!(Some(hq), b["niqe"].as_f64());
    }
    for set in ["aaf-val", "hq512"] {
        assert!(
            m["hq_niqe"][set].as_f64().is_some(),
            "{set}: {}",
            m["hq_niqe"]
        );
    }
    // Paired per face, the identity generator differs from the baseline by exactly nothing.
    for p in m["paired"].as_array().unwrap() {
        let d = &p["against_bicubic"];
        for metric in ["psnr", "ssim", "niqe"] {
            assert_eq!(d[metric]["faces"], 2, "{p}");
            assert_eq!(d[metric]["mean"].as_f64(), Some(0.0), "{p}");
            assert_eq!(d[metric]["std_err"].as_f64(), Some(0.0), "{p}");
        }
    }
    let md = std::fs::read_to_string(root.join("identity/metrics.md")).unwrap();
    assert!(md.contains("| aaf-val | mild | restored | 2 |"), "{md}");
    assert!(md.contains("NIQE of the HQ faces themselves"), "{md}");
    // Returning the input clears no part of the bar: no PSNR gain, identity and landmarks level.
    assert!(
        md.contains("| hq512 | heavy | +0.00 ± 0.00 | +0.0000 ± 0.0000 | +0.00 ± 0.00 |"),
        "{md}"
    );
    assert!(md.contains("PSNR +0.00 dB < +0.3"), "{md}");

    // scale = -1 inverts the face: much lower PSNR and SSIM than the baseline.
    let inverted = root.join("inverted.onnx");
    write_affine_generator(&inverted, SIZE, Template::Sgpn, -1.0, 0.0).unwrap();
    let m = run(inverted, root.join("inverted"));
    for s in m["summaries"].as_array().unwrap().chunks(2) {
        let (b, r) = (&s[0]["summary"], &s[1]["summary"]);
        assert_eq!(s[0]["method"], "bicubic");
        assert!(r["psnr"].as_f64().unwrap() < b["psnr"].as_f64().unwrap() - 5.0);
        assert!(r["ssim"].as_f64().unwrap() < b["ssim"].as_f64().unwrap() - 0.3);
    }
    std::fs::remove_dir_all(&root).unwrap();
}
