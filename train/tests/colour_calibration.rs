//! `sgpn-train calibrate-colour`: a generator with a known tint is measured on degraded faces,
//! the offset folded into its graph removes the tint, the offset moves colour before the
//! output's clip, and files that cannot be rewritten safely are refused with a clear error.

use std::path::{Path, PathBuf};

use sgpn_models::contract::{META_COLOUR_CALIBRATION, Template};
use sgpn_models::fixtures::{write_affine_generator, write_render_blend_generator};
use sgpn_models::generator::Generator;
use sgpn_models::runtime::SessionConfig;
use sgpn_train::calibrate::graph::{CalibrateGraphError, add_colour_offset};
use sgpn_train::calibrate::measure_colour_shift;

const SIZE: usize = 64;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sgpn-colour-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn load(path: &Path) -> Generator {
    Generator::load(path, &SessionConfig::default()).unwrap()
}

/// Textured faces in mid-range colours (no clipping at ±10 grey levels), a different pattern
/// each, saved as PNG crops.
fn write_crops(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let img = image::RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
                let t = ((x * (k as u32 + 2) + y * 3) % 23) as f32 / 22.0;
                let s = ((x as f32 * 0.3 + k as f32).sin() * 0.5 + 0.5) * (y as f32 / 63.0);
                image::Rgb([
                    (70.0 + 100.0 * t) as u8,
                    (80.0 + 80.0 * s) as u8,
                    (90.0 + 60.0 * (1.0 - t)) as u8,
                ])
            });
            let p = dir.join(format!("{k:03}.png"));
            img.save(&p).unwrap();
            p
        })
        .collect()
}

#[test]
fn a_tinted_generator_is_measured_and_the_offset_removes_the_tint() {
    let dir = temp_dir("measure");
    let crops = write_crops(&dir, 6);
    // restored = lq + 0.04 in network units: +5.1 grey levels on every channel.
    let tinted = dir.join("tinted.onnx");
    write_affine_generator(&tinted, SIZE, Template::Sgpn, 1.0, 0.04).unwrap();
    let before = measure_colour_shift(&mut load(&tinted), None, &crops, 11, |_| {}).unwrap();
    // The bicubic baseline's own shift (degradation noise, JPEG) is a fraction of a level.
    for c in before.mean {
        assert!((c - 5.1).abs() < 0.6, "measured {before}");
    }
    let calibrated = dir.join("calibrated.onnx");
    let bytes = add_colour_offset(&std::fs::read(&tinted).unwrap(), before.correction()).unwrap();
    std::fs::write(&calibrated, bytes).unwrap();
    let mut generator = load(&calibrated);
    let after = measure_colour_shift(&mut generator, None, &crops, 11, |_| {}).unwrap();
    for c in after.mean {
        assert!(c.abs() < 1e-3, "after calibration {after}");
    }
    // The per-face spread is the generator's, not the offset's.
    for (a, b) in after.spread.iter().zip(&before.spread) {
        assert!((a - b).abs() < 0.1, "{after} vs {before}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_offset_acts_before_the_output_clip_and_is_recorded_in_the_metadata() {
    let dir = temp_dir("graph");
    let path = dir.join("affine.onnx");
    // restored = clip(lq + 0.1, -1, 1).
    write_affine_generator(&path, 16, Template::Sgpn, 1.0, 0.1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let out = dir.join("calibrated.onnx");
    // −12.75 grey levels = −0.1 in network units: the calibrated graph is clip(lq).
    std::fs::write(&out, add_colour_offset(&bytes, [-12.75; 3]).unwrap()).unwrap();
    let mut g = load(&out);
    let lq: Vec<f32> = (0..3 * 16 * 16)
        .map(|i| -0.99 + 1.98 * (i % 97) as f32 / 96.0)
        .collect();
    let restored = g.restore(&lq, 1).unwrap();
    for (x, y) in lq.iter().zip(&restored) {
        // Shifting after the clip would give 0.9 for lq ≥ 0.9; before it, lq itself.
        assert!((x - y).abs() < 1e-6, "lq {x} → {y}");
    }
    let model = std::fs::read(&out).unwrap();
    let text = String::from_utf8_lossy(&model);
    assert!(text.contains(META_COLOUR_CALIBRATION));
    assert!(text.contains("-12.750 -12.750 -12.750"));
    // A second calibration would stack offsets: refused, naming the first.
    let err = add_colour_offset(&model, [1.0; 3]).unwrap_err();
    assert!(
        matches!(err, CalibrateGraphError::AlreadyCalibrated(_)),
        "{err}"
    );
    assert!(err.to_string().contains("-12.750"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_graph_without_a_final_clip_gets_the_offset_after_its_output() {
    let dir = temp_dir("noclip");
    let path = dir.join("blend.onnx");
    // A full generator: restored = (lq + render) / 2, ending in Mul.
    write_render_blend_generator(&path, 16, Template::Sgpn).unwrap();
    let out = dir.join("calibrated.onnx");
    let bytes = add_colour_offset(&std::fs::read(&path).unwrap(), [25.5, 0.0, -25.5]).unwrap();
    std::fs::write(&out, bytes).unwrap();
    let mut g = load(&out);
    let n = 16 * 16;
    let lq = vec![0.2f32; 3 * n];
    let render = vec![0.6f32; 3 * n];
    let restored = g.restore_with_render(&lq, &render, 1).unwrap();
    for (c, want) in [0.6f32, 0.4, 0.2].iter().enumerate() {
        for v in &restored[c * n..(c + 1) * n] {
            assert!((v - want).abs() < 1e-6, "channel {c}: {v} vs {want}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_that_cannot_be_rewritten_safely_are_refused() {
    let dir = temp_dir("refuse");
    let path = dir.join("affine.onnx");
    write_affine_generator(&path, 16, Template::Sgpn, 1.0, 0.0).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let err = add_colour_offset(b"not a model", [0.0; 3]).unwrap_err();
    assert!(
        matches!(
            err,
            CalibrateGraphError::Rewrite(sgpn_train::rewrite::RewriteError::Decode(_))
        ),
        "{err}"
    );
    let err = add_colour_offset(&bytes, [f32::NAN, 0.0, 0.0]).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    // A field our onnx.proto subset does not know (ModelProto field 20, varint 1), as another
    // writer may add: prost would drop it on rewrite.
    bytes.extend_from_slice(&[0xA0, 0x01, 0x01]);
    let err = add_colour_offset(&bytes, [0.0; 3]).unwrap_err();
    assert!(
        err.to_string().contains("sgpn-train export"),
        "the error says which files can be calibrated: {err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
