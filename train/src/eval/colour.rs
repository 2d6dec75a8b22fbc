//! Colour shift: the mean signed error per RGB channel of a restored face against its HQ face, in
//! grey levels (0..255). A generator trained without an averaged copy drifts in global colour
//! from step to step, and a snapshot keeps the drift of its step as
//! a tint on every face it restores. PSNR sees a tint only as a small loss; this metric names it.
//!
//! Pixels are weighted by the element's paste mask (`sgpn_kernels::paste_mask` with
//! `PasteParams::for_crop`), so the shift is the one a viewer sees in the pasted face, and the
//! warp's grey fill outside the photo (where the HQ crop shows no face) is left out.

use image::Rgb32FImage;
use sgpn_kernels::BORDER_FILL;
use sgpn_kernels::paste::{PasteParams, paste_mask};

/// Mean signed error (image − HQ) of R, G and B in grey levels.
pub type ColourShift = [f64; 3];

/// The paste-mask weight of every pixel of a `size` crop (row-major).
pub fn paste_weights(size: usize) -> Vec<f32> {
    let p = PasteParams::for_crop(size, 1.0);
    (0..size * size)
        .map(|i| {
            let (x, y) = ((i % size) as f32, (i / size) as f32);
            paste_mask(x, y, size, p.erode, p.feather)
        })
        .collect()
}

/// Whether an HQ pixel is the warp's fill (outside the photo), to within rounding.
fn is_fill(px: &[f32]) -> bool {
    px.iter()
        .zip(&BORDER_FILL)
        .all(|(v, f)| (v - f).abs() < 1.0)
}

/// Weighted sums of (image − HQ) per channel and of the weights, over `weights` (from
/// [`paste_weights`] for the images' size).
pub fn shift_sums(img: &Rgb32FImage, hq: &Rgb32FImage, weights: &[f32]) -> ([f64; 3], f64) {
    let mut sum = [0.0f64; 3];
    let mut total = 0.0f64;
    for ((a, b), w) in img
        .as_raw()
        .chunks_exact(3)
        .zip(hq.as_raw().chunks_exact(3))
        .zip(weights)
    {
        if *w <= 0.0 || is_fill(b) {
            continue;
        }
        let w = f64::from(*w);
        for c in 0..3 {
            sum[c] += w * f64::from(a[c] - b[c]);
        }
        total += w;
    }
    (sum, total)
}

/// The colour shift of `img` against `hq` (same size, 0..255); zero when no pixel counts.
pub fn colour_shift(img: &Rgb32FImage, hq: &Rgb32FImage) -> ColourShift {
    let (sum, total) = shift_sums(img, hq, &paste_weights(img.width() as usize));
    if total > 0.0 {
        sum.map(|s| s / total)
    } else {
        [0.0; 3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(size: u32, rgb: [f32; 3]) -> Rgb32FImage {
        Rgb32FImage::from_pixel(size, size, image::Rgb(rgb))
    }

    #[test]
    fn a_uniform_tint_is_measured_exactly() {
        let hq = flat(32, [100.0, 120.0, 140.0]);
        let tinted = flat(32, [106.0, 117.0, 141.5]);
        let s = colour_shift(&tinted, &hq);
        for (got, want) in s.iter().zip([6.0, -3.0, 1.5]) {
            assert!((got - want).abs() < 1e-9, "{s:?}");
        }
    }

    #[test]
    fn crop_edge_and_fill_do_not_count() {
        // The image differs from the HQ only in the eroded border (never pasted) and where the
        // HQ shows the warp's fill: no shift.
        let size = 40u32;
        let mut hq = flat(size, [90.0, 80.0, 70.0]);
        let mut img = hq.clone();
        for x in 0..size {
            img.put_pixel(x, 0, image::Rgb([255.0; 3]));
            img.put_pixel(0, x, image::Rgb([0.0; 3]));
        }
        for y in 15..25 {
            for x in 15..25 {
                hq.put_pixel(x, y, image::Rgb(BORDER_FILL));
                img.put_pixel(x, y, image::Rgb([200.0, 10.0, 10.0]));
            }
        }
        assert_eq!(colour_shift(&img, &hq), [0.0; 3]);
        // A change inside the face does count.
        img.put_pixel(10, 20, image::Rgb([91.0, 80.0, 70.0]));
        assert!(colour_shift(&img, &hq)[0] > 0.0);
    }
}
