//! Helpers shared by the model tests that run on real photos.

use std::path::Path;

use sgpn_kernels::image::RgbImage;

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
