//! Helpers shared by the face pipeline tests: the fetched test data, scratch folders, the
//! restorer configuration and one RGB frame through a restorer.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sgpn_face::{
    FaceError, FaceRestorer, OutputMode, RestoreParams, RestoredFace, RestorerConfig, ShapeConfig,
};
use sgpn_kernels::frame::{Colorimetry, FrameMut, PixelFormat};
use sgpn_models::runtime::Device;

/// `.deps` as `scripts/setup.sh` filled it.
pub fn deps() -> PathBuf {
    PathBuf::from(env!("SGPN_DEPS"))
}

/// A White House photo (public domain), scaled to a typical video face size.
pub fn photo(name: &str, scale: f32) -> (usize, usize, Vec<u8>) {
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

/// A fresh folder for one test's files, under `target/` so no run leaves files in the system's
/// temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sgpn-face-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shipped detector, `generator`, 2 CPU threads.
pub fn config(
    generator: &Path,
    shape: Option<ShapeConfig>,
    output_mode: OutputMode,
) -> RestorerConfig {
    RestorerConfig {
        detector_model: deps().join("models/retinaface_mnet025.onnx"),
        generator_model: generator.to_path_buf(),
        device: Device::Cpu,
        threads: 2,
        tensorrt: Default::default(),
        kernels: Default::default(),
        shape,
        output_mode,
    }
}

/// Runs one tightly packed RGB frame through `restorer` in place.
pub fn process_rgb(
    restorer: &mut FaceRestorer,
    w: usize,
    h: usize,
    pixels: &mut [u8],
    params: &RestoreParams,
) -> Result<Vec<RestoredFace>, FaceError> {
    let mut frame = FrameMut::new(
        PixelFormat::Rgb,
        w,
        h,
        vec![pixels],
        vec![w * 3],
        Colorimetry::default(),
    )
    .expect("a valid RGB frame");
    restorer.process_frame(&mut frame, params)
}
