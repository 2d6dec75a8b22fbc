//! `sgpn-train fit-gate`: the gate folded into a generator's graph computes, face by face, what
//! the fit computed (`restored = lq + α·(out − lq)` with α from the face's statistics); fitted to
//! a generator that helps noisy faces and harms sharp ones, it keeps the help and drops most of
//! the harm; and files that cannot be gated safely are refused with a clear error.

use std::path::{Path, PathBuf};

use sgpn_models::contract::{META_CHANGE_GATE, Template};
use sgpn_models::fixtures::{write_affine_generator, write_smoothing_generator};
use sgpn_models::generator::Generator;
use sgpn_models::runtime::SessionConfig;
use sgpn_train::calibrate::graph::{CalibrateGraphError, add_colour_offset};
use sgpn_train::data::degrade::Severity;
use sgpn_train::gate::fit::{GateParams, fit_gate, mean_gain};
use sgpn_train::gate::graph::{GateGraphError, decode_ungated, with_change_gate};
use sgpn_train::gate::measure_faces;
use sgpn_train::gate::stats::features;

const SIZE: usize = 64;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sgpn-gate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn load(path: &Path) -> Generator {
    Generator::load(path, &SessionConfig::default()).unwrap()
}

/// Face `k` in network units: smooth shading plus fine texture of a strength that varies with
/// `k`, so that faces differ in every statistic the gate reads.
fn face(k: usize) -> Vec<f32> {
    let n = SIZE * SIZE;
    (0..3 * n)
        .map(|i| {
            let (c, y, x) = (i / n, (i % n) / SIZE, i % SIZE);
            let shade = 0.4 * ((x + 2 * y + 7 * c) as f32 / 100.0).sin();
            let texture = ((x * (k + 3) + y * 5 + c) % 7) as f32 / 7.0 - 0.5;
            shade + 0.05 * k as f32 * texture
        })
        .collect()
}

/// Textured crops of varied sharpness, saved as PNG files the way `prepare` writes them.
fn write_crops(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let img = image::RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
                let t = ((x * (k as u32 % 5 + 2) + y * 3) % 11) as f32 / 10.0;
                let shade = (x as f32 * 0.05 + y as f32 * 0.03 + k as f32).sin() * 0.5 + 0.5;
                let detail = (k % 4) as f32 * 12.0;
                let v = |base: f32| (base + 60.0 * shade + detail * t) as u8;
                image::Rgb([v(80.0), v(60.0), v(50.0)])
            });
            let p = dir.join(format!("{k:03}.png"));
            img.save(&p).unwrap();
            p
        })
        .collect()
}

#[test]
fn the_gated_graph_computes_the_fitted_gate_face_by_face() {
    let dir = temp_dir("graph");
    let path = dir.join("affine.onnx");
    // out = clip(0.8·lq + 0.05): a change that depends on the face.
    write_affine_generator(&path, SIZE, Template::Sgpn, 0.8, 0.05).unwrap();
    let faces: Vec<Vec<f32>> = (0..5).map(face).collect();
    let mut ungated = load(&path);
    let changes: Vec<Vec<f32>> = faces
        .iter()
        .map(|lq| {
            let out = ungated.restore(lq, 1).unwrap();
            out.iter().zip(lq).map(|(o, l)| o - l).collect()
        })
        .collect();
    let f: Vec<[f64; 5]> = faces
        .iter()
        .zip(&changes)
        .map(|(lq, d)| features(lq, d, SIZE))
        .collect();
    // Weights on every feature, the bias putting the middle face at α = 0.5 of max 0.9.
    let weights = [0.8f32, -0.3, 0.2, -0.4, 1.5];
    let z2: f64 = weights.iter().zip(&f[2]).map(|(&w, &x)| w as f64 * x).sum();
    let gate = GateParams {
        weights,
        bias: -z2 as f32,
        max: 0.9,
    };
    let alphas: Vec<f64> = f.iter().map(|x| gate.alpha(x)).collect();
    assert!(
        alphas.iter().cloned().fold(0.0, f64::max) - alphas.iter().cloned().fold(1.0, f64::min)
            > 0.2,
        "the faces get different gates: {alphas:?}"
    );
    let bytes = std::fs::read(&path).unwrap();
    let gated_path = dir.join("gated.onnx");
    let gated = with_change_gate(decode_ungated(&bytes).unwrap(), &gate).unwrap();
    std::fs::write(&gated_path, gated).unwrap();
    let mut gated = load(&gated_path);
    // The whole batch at once: the gate is per face, not per batch.
    let batch: Vec<f32> = faces.concat();
    let out = gated.restore(&batch, faces.len()).unwrap();
    for (k, ((lq, d), alpha)) in faces.iter().zip(&changes).zip(&alphas).enumerate() {
        let got = &out[k * lq.len()..(k + 1) * lq.len()];
        for ((g, l), d) in got.iter().zip(lq).zip(d) {
            let want = (l + *alpha as f32 * d).clamp(-1.0, 1.0);
            assert!(
                (g - want).abs() < 1e-4,
                "face {k} (α {alpha:.3}): {g} vs {want}"
            );
        }
    }
    let text = String::from_utf8_lossy(&std::fs::read(&gated_path).unwrap()).into_owned();
    assert!(text.contains(META_CHANGE_GATE) && text.contains(&gate.text()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_gate_fitted_to_a_smoother_keeps_its_help_and_drops_most_of_its_harm() {
    let dir = temp_dir("fit");
    let crops = write_crops(&dir, 80);
    let path = dir.join("smoothing.onnx");
    write_smoothing_generator(&path, SIZE, Template::Sgpn).unwrap();
    let faces = measure_faces(&mut load(&path), None, &crops, 13, |_| {}).unwrap();
    assert_eq!(faces.len(), crops.len(), "every face is scorable");
    let gate = fit_gate(&faces, 1.0);
    let ungated = mean_gain(&faces, |_| 1.0);
    let gated = mean_gain(&faces, |f| gate.alpha(&f.features));
    let best = mean_gain(&faces, |f| f.best_alpha(1.0));
    eprintln!("smoother: ungated {ungated:+.3} dB, gated {gated:+.3}, best per face {best:+.3}");
    // A 3×3 box blur harms most of these faces: the gate must not do worse than leaving them
    // alone, nor than the ungated network, and must recover most of the per-face optimum.
    assert!(
        gated >= ungated.max(0.0) - 0.01,
        "gated {gated} vs ungated {ungated}"
    );
    assert!(gated >= 0.5 * best, "gated {gated} vs best per face {best}");
    let mild: Vec<_> = faces
        .iter()
        .filter(|f| f.severity == Severity::Mild)
        .collect();
    let mild_alpha = mild.iter().map(|f| gate.alpha(&f.features)).sum::<f64>() / mild.len() as f64;
    assert!(
        mild_alpha < 0.5,
        "mild faces are mostly left alone: mean α {mild_alpha:.2}"
    );

    // The written graph scores what the fit predicted.
    let gated_path = dir.join("gated.onnx");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(
        &gated_path,
        with_change_gate(decode_ungated(&bytes).unwrap(), &gate).unwrap(),
    )
    .unwrap();
    let through_graph = measure_faces(&mut load(&gated_path), None, &crops, 13, |_| {}).unwrap();
    let measured = mean_gain(&through_graph, |_| 1.0);
    assert!(
        (measured - gated).abs() < 0.01,
        "graph {measured} vs fit {gated}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gating_twice_or_calibrating_a_gated_file_is_refused() {
    let dir = temp_dir("refuse");
    let path = dir.join("affine.onnx");
    write_affine_generator(&path, 16, Template::Sgpn, 1.0, 0.0).unwrap();
    let gate = GateParams {
        weights: [0.0; 5],
        bias: 0.0,
        max: 1.0,
    };
    let bytes = std::fs::read(&path).unwrap();
    let gated = with_change_gate(decode_ungated(&bytes).unwrap(), &gate).unwrap();
    let err = decode_ungated(&gated).unwrap_err();
    assert!(matches!(err, GateGraphError::AlreadyGated(_)), "{err}");
    assert!(err.to_string().contains("ungated file"), "{err}");
    // An offset added after the gate would move faces the gate leaves alone.
    let err = add_colour_offset(&gated, [1.0; 3]).unwrap_err();
    assert!(matches!(err, CalibrateGraphError::Gated(_)), "{err}");
    let nan = GateParams {
        bias: f32::NAN,
        ..gate
    };
    let err = with_change_gate(decode_ungated(&bytes).unwrap(), &nan).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
