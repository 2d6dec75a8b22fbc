//! Conversions between the pixel representations training and evaluation meet: `u8` RGB images
//! (files, detector input), `f32` RGB on the 0..255 scale (degradation and metrics) and the
//! network tensors, planar `[3, H, W]` RGB in [-1, 1] (`x / 127.5 - 1`, docs/architecture.md).

use image::{Rgb32FImage, RgbImage};

/// `u8` RGB → `f32` RGB on the 0..255 scale.
pub fn rgb8_to_f32(img: &RgbImage) -> Rgb32FImage {
    let data = img.as_raw().iter().map(|&v| f32::from(v)).collect();
    Rgb32FImage::from_raw(img.width(), img.height(), data).expect("same length as the source")
}

/// `f32` RGB on the 0..255 scale → `u8` RGB, rounding to nearest and clamping.
pub fn f32_to_rgb8(img: &Rgb32FImage) -> RgbImage {
    let data = img.as_raw().iter().map(|&v| quantize(v)).collect();
    RgbImage::from_raw(img.width(), img.height(), data).expect("same length as the source")
}

/// One 0..255 value rounded and clamped to `u8` (NaN becomes 0).
pub fn quantize(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Clamps every value to the valid 0..255 range in place (resampling filters overshoot).
pub fn clamp_0_255(img: &mut Rgb32FImage) {
    for v in img.iter_mut() {
        *v = v.clamp(0.0, 255.0);
    }
}

/// Interleaved 0..255 image → planar `[3, H, W]` tensor in [-1, 1].
pub fn to_network_planar(img: &Rgb32FImage) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px[c] / 127.5 - 1.0;
        }
    }
    out
}

/// Planar `[3, H, W]` tensor in [-1, 1] → interleaved 0..255 image (values outside [-1, 1] are
/// clamped). Returns `None` when `planar.len() != 3·width·height`.
pub fn from_network_planar(planar: &[f32], width: u32, height: u32) -> Option<Rgb32FImage> {
    let plane = (width * height) as usize;
    if planar.len() != 3 * plane {
        return None;
    }
    let mut data = vec![0.0f32; 3 * plane];
    for (i, px) in data.chunks_exact_mut(3).enumerate() {
        for c in 0..3 {
            px[c] = ((planar[c * plane + i] + 1.0) * 127.5).clamp(0.0, 255.0);
        }
    }
    Rgb32FImage::from_raw(width, height, data)
}

/// BT.601 luma `0.299 R + 0.587 G + 0.114 B` on the 0..255 scale, row-major — the grey channel
/// scikit-video's `rgb2gray` (and so its NIQE) and the usual SSIM-on-Y evaluations use.
pub fn luma_bt601(img: &Rgb32FImage) -> Vec<f32> {
    img.as_raw()
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_tensor_round_trip_and_range() {
        let img = Rgb32FImage::from_raw(2, 1, vec![0.0, 127.5, 255.0, 10.0, 20.0, 30.0]).unwrap();
        let t = to_network_planar(&img);
        // planar: R plane [0, 10], G plane [127.5, 20], B plane [255, 30]
        assert_eq!(t[0], -1.0);
        assert_eq!(t[2], 0.0);
        assert_eq!(t[4], 1.0);
        assert!((t[1] - (10.0 / 127.5 - 1.0)).abs() < 1e-6);
        let back = from_network_planar(&t, 2, 1).unwrap();
        for (a, b) in back.as_raw().iter().zip(img.as_raw()) {
            assert!((a - b).abs() < 1e-4);
        }
        assert!(from_network_planar(&t, 3, 1).is_none());
    }

    #[test]
    fn quantize_rounds_and_clamps() {
        assert_eq!(quantize(-3.0), 0);
        assert_eq!(quantize(254.6), 255);
        assert_eq!(quantize(300.0), 255);
        assert_eq!(quantize(12.49), 12);
    }
}
