//! Helpers shared by the model tests: real photos as the element would see them, a scratch
//! folder per test file, and the CPU session the contract tests use.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sgpn_kernels::image::RgbImage;
use sgpn_models::{Device, SessionConfig};

/// `name` in the folder `folder` of cargo's per-test scratch space (created if needed).
pub fn tmp_path(folder: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// One CPU thread: the contract tests run tiny graphs.
pub fn cpu() -> SessionConfig {
    SessionConfig {
        device: Device::Cpu,
        intra_threads: 1,
        ..Default::default()
    }
}

/// The working copy the element would detect on: longest side at most `max_side`.
pub fn load_working_copy(path: &Path, max_side: u32) -> RgbImage {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    let scale = (max_side as f32 / img.width().max(img.height()) as f32).min(1.0);
    let (w, h) = (
        (img.width() as f32 * scale).round() as u32,
        (img.height() as f32 * scale).round() as u32,
    );
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    RgbImage::from_rgb8(w as usize, h as usize, img.as_raw()).unwrap()
}
