//! Geometry check of the whole face path: with an identity generator, a real photo goes through
//! detect → align → warp → restore → paste back and must come out within ±3 levels (mean ≤ 0.5)
//! of the input everywhere. Any error in the transforms, the sampling or the paste shows up here.

use std::path::{Path, PathBuf};

use sgpn_face::{FaceRestorer, RestoreParams, RestorerConfig};
use sgpn_kernels::frame::{Colorimetry, FrameMut, PixelFormat};
use sgpn_models::contract::Template;
use sgpn_models::fixtures::write_identity_generator;
use sgpn_models::runtime::Device;

fn deps() -> PathBuf {
    PathBuf::from(env!("SGPN_DEPS"))
}

/// A White House photo (public domain), scaled so the face is smaller than the crop: the crop then
/// upsamples the face, and the round trip has no detail to lose.
fn photo(name: &str, scale: f32) -> (usize, usize, Vec<u8>) {
    let img = image::open(deps().join("data/whitehouse").join(name))
        .expect("run ./scripts/setup.sh")
        .to_rgb8();
    let (w, h) = (
        (img.width() as f32 * scale) as u32,
        (img.height() as f32 * scale) as u32,
    );
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    (w as usize, h as usize, img.into_raw())
}

fn restorer(dir: &Path, size: usize) -> FaceRestorer {
    let generator = dir.join(format!("identity{size}.onnx"));
    write_identity_generator(&generator, size, Template::Sgpn).unwrap();
    FaceRestorer::new(&RestorerConfig {
        detector_model: deps().join("models/retinaface_mnet025.onnx"),
        generator_model: generator,
        device: Device::Cpu,
        threads: 2,
    })
    .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sgpn-face-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn identity_generator_leaves_the_frame_within_three_levels() {
    let dir = temp_dir("roundtrip");
    for (name, scale) in [("obama.jpg", 0.4), ("biden.jpg", 0.3), ("obama2.jpg", 0.5)] {
        let (w, h, original) = photo(name, scale);
        let mut pixels = original.clone();
        let mut r = restorer(&dir, 512);
        let faces = {
            let mut frame = FrameMut::new(
                PixelFormat::Rgb,
                w,
                h,
                vec![&mut pixels[..]],
                vec![w * 3],
                Colorimetry::default(),
            )
            .unwrap();
            r.process_frame(&mut frame, &RestoreParams::default())
                .unwrap()
        };
        assert_eq!(faces.len(), 1, "{name}: one face expected, found {faces:?}");
        let diffs: Vec<u8> = original
            .iter()
            .zip(&pixels)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let max = *diffs.iter().max().unwrap();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        let changed = diffs.iter().filter(|&&d| d > 0).count();
        assert!(
            changed > 0,
            "{name}: the face was pasted back (some pixels move by rounding)"
        );
        assert!(max <= 3, "{name}: max difference {max} levels");
        assert!(mean <= 0.5, "{name}: mean difference {mean:.3} levels");
    }
}
