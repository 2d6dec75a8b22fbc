//! Full-reference fidelity metrics between a restored face and its ground truth.
//!
//! - PSNR over all three RGB channels on the 0..255 scale: `10·log10(255² / MSE)`.
//! - SSIM (Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
//!   structural similarity", TIP 2004) on BT.601 luma (`0.299 R + 0.587 G + 0.114 B`), with the
//!   paper's settings: 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, statistics over
//!   the window positions fully inside the image (the reference MATLAB `ssim_index`, `filter2`
//!   'valid'), and the mean of the SSIM map.

/// Gaussian window side and standard deviation (Wang et al. 2004, §III-C).
pub const SSIM_WINDOW: usize = 11;
pub const SSIM_SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;
const L: f64 = 255.0;

/// PSNR in dB between two equally long buffers on the 0..255 scale; infinite when identical.
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "PSNR of buffers of different lengths");
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (L * L / mse).log10()
}

fn gaussian_window() -> Vec<f64> {
    let r = (SSIM_WINDOW / 2) as i64;
    let mut w: Vec<f64> = (-r..=r)
        .flat_map(|y| {
            (-r..=r)
                .map(move |x| (-((x * x + y * y) as f64) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp())
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    w
}

/// Mean SSIM of two grey images (row-major, 0..255) of size `width × height`, each side at least
/// 11 px.
pub fn ssim(a: &[f32], b: &[f32], width: usize, height: usize) -> f64 {
    assert_eq!(a.len(), width * height, "SSIM image a has the wrong length");
    assert_eq!(b.len(), width * height, "SSIM image b has the wrong length");
    assert!(
        width >= SSIM_WINDOW && height >= SSIM_WINDOW,
        "SSIM needs at least 11x11"
    );
    let w = gaussian_window();
    let (c1, c2) = ((K1 * L).powi(2), (K2 * L).powi(2));
    let mut total = 0.0;
    let (ow, oh) = (width - SSIM_WINDOW + 1, height - SSIM_WINDOW + 1);
    for y0 in 0..oh {
        for x0 in 0..ow {
            let (mut ma, mut mb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for dy in 0..SSIM_WINDOW {
                for dx in 0..SSIM_WINDOW {
                    let g = w[dy * SSIM_WINDOW + dx];
                    let i = (y0 + dy) * width + x0 + dx;
                    let (pa, pb) = (f64::from(a[i]), f64::from(b[i]));
                    ma += g * pa;
                    mb += g * pb;
                    saa += g * pa * pa;
                    sbb += g * pb * pb;
                    sab += g * pa * pb;
                }
            }
            let (va, vb, cov) = (saa - ma * ma, sbb - mb * mb, sab - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
    }
    total / (ow * oh) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_matches_hand_computation() {
        // One value off by 10 among 4: MSE = 25, PSNR = 10·log10(65025/25) = 10·log10(2601).
        let p = psnr(&[0.0, 10.0, 20.0, 30.0], &[0.0, 10.0, 20.0, 40.0]);
        assert!((p - 34.151_404).abs() < 1e-5, "{p}");
        assert!(psnr(&[1.0, 2.0], &[1.0, 2.0]).is_infinite());
    }

    #[test]
    fn ssim_of_constant_images_is_the_luminance_term() {
        // σ = 0 and covariance 0: SSIM = (2ab + C1) / (a² + b² + C1).
        let (a, b) = (100.0f32, 120.0f32);
        let s = ssim(&vec![a; 16 * 16], &vec![b; 16 * 16], 16, 16);
        let c1 = (0.01f64 * 255.0).powi(2);
        let expect = (2.0 * 100.0 * 120.0 + c1) / (100.0f64.powi(2) + 120.0f64.powi(2) + c1);
        assert!((s - expect).abs() < 1e-9, "{s} vs {expect}");
    }

    #[test]
    fn ssim_is_one_for_identical_and_drops_for_inverted_texture() {
        let img: Vec<f32> = (0..32 * 32).map(|i| ((i * 37) % 255) as f32).collect();
        assert!((ssim(&img, &img, 32, 32) - 1.0).abs() < 1e-12);
        let inv: Vec<f32> = img.iter().map(|v| 255.0 - v).collect();
        assert!(ssim(&img, &inv, 32, 32) < 0.0);
        // Contrast halved around the mean: structure kept, so SSIM is high but below 1.
        let flat: Vec<f32> = img.iter().map(|v| 127.5 + (v - 127.5) * 0.5).collect();
        let s = ssim(&img, &flat, 32, 32);
        assert!(s > 0.7 && s < 0.95, "{s}");
    }

    /// Reference values from scikit-image 0.25 (`structural_similarity(.., gaussian_weights=True,
    /// sigma=1.5, use_sample_covariance=False, data_range=255)` on the same BT.601 luma, and
    /// `peak_signal_noise_ratio(.., data_range=255)` on RGB), for two real 512 crops.
    #[test]
    fn matches_scikit_image_on_real_images() {
        let dir = crate::data::cli::shared_data("real-lq/cropped");
        if !dir.exists() {
            eprintln!("shared data not present at {}: skipped", dir.display());
            return;
        }
        let load = |f: &str| {
            crate::data::pixels::rgb8_to_f32(&image::open(dir.join(f)).unwrap().to_rgb8())
        };
        let (a, b) = (load("0143.png"), load("0240.png"));
        let (ya, yb) = (
            crate::data::pixels::luma_bt601(&a),
            crate::data::pixels::luma_bt601(&b),
        );
        let s = ssim(&ya, &yb, 512, 512);
        assert!((s - 0.666_178_368_390_499).abs() < 1e-6, "SSIM {s}");
        let p = psnr(a.as_raw(), b.as_raw());
        assert!((p - 11.939_511_966_452_109).abs() < 1e-6, "PSNR {p}");
    }
}
