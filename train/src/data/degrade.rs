//! The paper's degradation model (SGPN, Zhu et al. CVPR 2022, Eq. 16; paper Sec. 3.3, Eq. 13–16):
//!
//! `I_LQ = ((I_HQ ⊗ k)↓r + n_σ)_JPEG_q`
//!
//! with `k` a Gaussian blur σ ∈ {0, 0.1, …, 5} or one of 32 motion-blur kernels ([`blur`]),
//! `↓r` a bicubic downsampling by r ∈ {1, …, 20} ([`resize`]), `n_σ` white Gaussian noise with
//! σ ∈ [0, 10] on the 0..255 scale, and JPEG compression with quality q ∈ {30, …, 70} (the `image`
//! crate's encoder and decoder). The whole degradation is applied once or twice at random, and the
//! HQ/LQ pair is flipped horizontally at random.
//!
//! Our choices where the paper is silent (documented so that they can be changed together):
//! - Each pass ends by resizing its small result back to the input size with the same bicubic
//!   filter, as GFPGAN-style pipelines do, so the network always sees an S×S input. A second pass
//!   therefore degrades an S×S image again with fresh parameters (its downsampling does not
//!   compound with the first one's).
//! - Gaussian versus motion blur: the kernel is drawn uniformly from the union of the 51 Gaussian
//!   σ values and the 32 motion kernels, i.e. motion with probability 32/83.
//! - Noise is independent per pixel and channel (colour noise); values are clamped to 0..255 and
//!   rounded before JPEG, as an 8-bit encoder requires.
//!
//! Determinism: everything random comes from one `ChaCha8Rng`; the same seed gives a bit-identical
//! LQ image.
//!
//! [`blur`]: super::blur
//! [`resize`]: super::resize

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat, Rgb32FImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::blur::{MOTION_KERNEL_COUNT, filter2d, gaussian_blur, motion_kernels};
use super::pixels::{clamp_0_255, f32_to_rgb8, rgb8_to_f32, to_network_planar};
use super::resize::{resize_bicubic, resize_clamped};

/// Step of the Gaussian σ grid (paper: σ ∈ {0:0.1:5}).
pub const GAUSSIAN_SIGMA_STEP: f32 = 0.1;

/// What went wrong while configuring or applying a degradation.
#[derive(Debug, thiserror::Error)]
pub enum DegradeError {
    #[error("invalid degradation config: {0}")]
    InvalidConfig(String),
    #[error("motion kernel index {index} out of range (there are {MOTION_KERNEL_COUNT})")]
    NoSuchMotionKernel { index: usize },
    #[error("JPEG round trip at quality {quality} of a {width}x{height} image failed: {source}")]
    Jpeg {
        quality: u8,
        width: u32,
        height: u32,
        source: image::ImageError,
    },
    #[error("image is empty ({width}x{height})")]
    EmptyImage { width: u32, height: u32 },
    #[error("training crops must be square, found {width}x{height}")]
    NotSquare { width: u32, height: u32 },
}

/// The ranges the degradation parameters are drawn from. `Default` is the paper's setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DegradationConfig {
    /// Gaussian blur σ range (inclusive), sampled on the 0.1 grid.
    pub blur_sigma: (f32, f32),
    /// Probability that the kernel is a motion kernel rather than a Gaussian.
    pub motion_blur_prob: f64,
    /// Downsampling factor range r (inclusive, integers).
    pub downscale: (u32, u32),
    /// Noise standard deviation range on the 0..255 scale (uniform).
    pub noise_sigma: (f32, f32),
    /// JPEG quality range (inclusive, integers in 1..=100).
    pub jpeg_quality: (u8, u8),
    /// Probability that the whole degradation is applied a second time.
    pub second_pass_prob: f64,
    /// Probability of flipping the pair horizontally.
    pub flip_prob: f64,
}

impl Default for DegradationConfig {
    fn default() -> Self {
        let gaussian_values = 51.0; // σ ∈ {0, 0.1, …, 5}
        Self {
            blur_sigma: (0.0, 5.0),
            motion_blur_prob: MOTION_KERNEL_COUNT as f64
                / (MOTION_KERNEL_COUNT as f64 + gaussian_values),
            downscale: (1, 20),
            noise_sigma: (0.0, 10.0),
            jpeg_quality: (30, 70),
            second_pass_prob: 0.5,
            flip_prob: 0.5,
        }
    }
}

/// A severity stratum of Eq. 16, for evaluation by degradation level and for a training mix
/// that covers all of them. The ranges are stated for 512-px faces, as the paper's are, and
/// carried over to other crop sizes like [`DegradationConfig::for_size`] does (blur σ and the
/// downsampling factor scale with the size; noise and JPEG quality are per-pixel properties):
///
/// | stratum | blur | r (integer) | noise σ | JPEG q | passes |
/// |---|---|---|---|---|---|
/// | mild | Gaussian σ 0–1 | 1–2 | 0–3 | 70–95 | one |
/// | moderate | Gaussian σ 0.5–3 | 2–8 | 0–10 | 30–70 | one |
/// | heavy | the paper's: σ 0–5 or a motion kernel | 1–20 | 0–10 | 30–70 | one, a second with p = 0.5 |
///
/// Mild is footage that is merely soft or lightly compressed (broadcast, a good phone), moderate
/// an old web video or a DVD transfer, heavy the paper's own test distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Mild,
    Moderate,
    Heavy,
}

impl Severity {
    /// Every stratum, mildest first.
    pub const ALL: [Severity; 3] = [Severity::Mild, Severity::Moderate, Severity::Heavy];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::Heavy => "heavy",
        }
    }

    /// The stratum's ranges at `size`×`size` crops (no flip: callers that train set it).
    pub fn config(self, size: u32) -> DegradationConfig {
        let k = size as f32 / PAPER_SIZE as f32;
        let sigma = |s: f32| ((s * k / GAUSSIAN_SIGMA_STEP).round() * GAUSSIAN_SIGMA_STEP).max(0.0);
        let r = |r: u32| ((r as f32 * k).round() as u32).max(1);
        let gaussian_only =
            |blur: (f32, f32), downscale: (u32, u32), noise, jpeg| DegradationConfig {
                blur_sigma: (sigma(blur.0), sigma(blur.1)),
                motion_blur_prob: 0.0,
                downscale: (r(downscale.0), r(downscale.1)),
                noise_sigma: noise,
                jpeg_quality: jpeg,
                second_pass_prob: 0.0,
                flip_prob: 0.0,
            };
        match self {
            Severity::Mild => gaussian_only((0.0, 1.0), (1, 2), (0.0, 3.0), (70, 95)),
            Severity::Moderate => gaussian_only((0.5, 3.0), (2, 8), (0.0, 10.0), (30, 70)),
            Severity::Heavy => DegradationConfig {
                flip_prob: 0.0,
                ..DegradationConfig::for_size(size)
            },
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The degradations training pairs are drawn from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainingDegradation {
    /// The paper's Eq. 16 ranges at the crop size ([`DegradationConfig::for_size`]): what the
    /// first small256 generators saw, almost all of it heavy; runs from before the option.
    #[default]
    Paper,
    /// Each pair from one [`Severity`] stratum (mild 40 %, moderate and heavy 30 % each, chosen
    /// by the pair's seed), degraded at the crop's own size or, for half of the pairs, at twice
    /// its size and then brought down to it, as a large face of a compressed video reaches the
    /// element's crop; flipped at random. A generator that has seen mild and downscaled faces
    /// learns to leave them nearly alone: trained on the strata at the crop size only, the
    /// first small256 input-skip generator lost 0.5–1.2 dB against bicubic on the mild faces of
    /// both evaluation sets while it gained on the others.
    Strata,
}

impl TrainingDegradation {
    /// Parses `paper` or `strata`.
    pub fn parse(s: &str) -> Result<Self, DegradeError> {
        match s {
            "paper" => Ok(Self::Paper),
            "strata" => Ok(Self::Strata),
            other => Err(DegradeError::InvalidConfig(format!(
                "unknown training degradation {other:?}; expected paper or strata"
            ))),
        }
    }

    /// The stratum a [`TrainingDegradation::Strata`] pair with `seed` is drawn from.
    pub fn stratum_of_pair(seed: u64) -> Severity {
        match seed % 10 {
            0..=3 => Severity::Mild,
            4..=6 => Severity::Moderate,
            _ => Severity::Heavy,
        }
    }

    /// The ranges pair `seed` is degraded with and the size it is degraded at, for crops of
    /// `size` px.
    pub fn plan_for_pair(self, size: u32, seed: u64) -> (DegradationConfig, u32) {
        match self {
            Self::Paper => (DegradationConfig::for_size(size), size),
            Self::Strata => {
                let severity = Self::stratum_of_pair(seed);
                let at = if (seed / 10).is_multiple_of(2) {
                    size
                } else {
                    2 * size
                };
                let cfg = DegradationConfig {
                    flip_prob: 0.5,
                    ..severity.config(at)
                };
                (cfg, at)
            }
        }
    }
}

/// The blur of one pass.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum BlurKernel {
    Gaussian { sigma: f32 },
    Motion { index: usize },
}

/// The parameters of one application of Eq. 16.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DegradationPass {
    pub blur: BlurKernel,
    pub downscale: u32,
    pub noise_sigma: f32,
    pub jpeg_quality: u8,
}

/// A sampled degradation: one or two passes, and whether the pair is flipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Degradation {
    pub passes: Vec<DegradationPass>,
    pub flip: bool,
}

/// An HQ/LQ pair as the network consumes it: planar `[3, S, S]` in [-1, 1].
#[derive(Clone, Debug)]
pub struct TrainingPair {
    pub size: u32,
    pub hq: Vec<f32>,
    pub lq: Vec<f32>,
    pub degradation: Degradation,
}

fn check_range<T: PartialOrd + std::fmt::Debug>(
    name: &str,
    (lo, hi): (T, T),
    min: T,
    max: T,
) -> Result<(), DegradeError> {
    if lo > hi || lo < min || hi > max {
        return Err(DegradeError::InvalidConfig(format!(
            "{name} range {lo:?}..={hi:?} must be ordered and within {min:?}..={max:?}"
        )));
    }
    Ok(())
}

fn check_prob(name: &str, p: f64) -> Result<(), DegradeError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(DegradeError::InvalidConfig(format!(
            "{name} = {p} is not a probability in [0, 1]"
        )));
    }
    Ok(())
}

/// The image size the paper's pixel ranges (blur σ, downsampling factor r) refer to.
pub const PAPER_SIZE: u32 = 512;

impl DegradationConfig {
    /// The paper's ranges carried over to `size`×`size` crops: the blur σ range and the largest
    /// downsampling factor scale with `size / 512`, so that a face trained at 256 sees LQ images
    /// of the same effective resolution (a 512 face at r = 20 keeps 25.6 px; so does a 256 face at
    /// r = 10). Noise and JPEG quality are per-pixel properties and stay as they are. At 512 this
    /// is the paper's setting.
    pub fn for_size(size: u32) -> Self {
        let paper = Self::default();
        let k = size as f32 / PAPER_SIZE as f32;
        let sigma_max =
            (paper.blur_sigma.1 * k / GAUSSIAN_SIGMA_STEP).round() * GAUSSIAN_SIGMA_STEP;
        let r_max = ((paper.downscale.1 as f32 * k).round() as u32).max(1);
        let gaussian_values = (sigma_max / GAUSSIAN_SIGMA_STEP).round() as f64 + 1.0;
        Self {
            blur_sigma: (0.0, sigma_max),
            downscale: (1, r_max),
            motion_blur_prob: MOTION_KERNEL_COUNT as f64
                / (MOTION_KERNEL_COUNT as f64 + gaussian_values),
            ..paper
        }
    }

    /// Checks that every range is ordered and meaningful.
    pub fn validate(&self) -> Result<(), DegradeError> {
        check_range("blur_sigma", self.blur_sigma, 0.0, 50.0)?;
        check_range("downscale", self.downscale, 1, 1000)?;
        check_range("noise_sigma", self.noise_sigma, 0.0, 255.0)?;
        check_range("jpeg_quality", self.jpeg_quality, 1, 100)?;
        check_prob("motion_blur_prob", self.motion_blur_prob)?;
        check_prob("second_pass_prob", self.second_pass_prob)?;
        check_prob("flip_prob", self.flip_prob)
    }

    /// Draws one pass's parameters.
    pub fn sample_pass(&self, rng: &mut impl Rng) -> DegradationPass {
        let blur = if rng.random_bool(self.motion_blur_prob) {
            BlurKernel::Motion {
                index: rng.random_range(0..MOTION_KERNEL_COUNT),
            }
        } else {
            let (lo, hi) = self.blur_sigma;
            let steps = ((hi - lo) / GAUSSIAN_SIGMA_STEP).round() as u32;
            let k = rng.random_range(0..=steps);
            BlurKernel::Gaussian {
                sigma: (lo + k as f32 * GAUSSIAN_SIGMA_STEP).min(hi),
            }
        };
        let downscale = rng.random_range(self.downscale.0..=self.downscale.1);
        let (nlo, nhi) = self.noise_sigma;
        let noise_sigma = if nhi > nlo {
            rng.random_range(nlo..=nhi)
        } else {
            nlo
        };
        let jpeg_quality = rng.random_range(self.jpeg_quality.0..=self.jpeg_quality.1);
        DegradationPass {
            blur,
            downscale,
            noise_sigma,
            jpeg_quality,
        }
    }

    /// Draws a whole degradation: one pass, a second with `second_pass_prob`, and the flip.
    pub fn sample(&self, rng: &mut impl Rng) -> Degradation {
        let mut passes = vec![self.sample_pass(rng)];
        if rng.random_bool(self.second_pass_prob) {
            passes.push(self.sample_pass(rng));
        }
        let flip = rng.random_bool(self.flip_prob);
        Degradation { passes, flip }
    }
}

impl DegradationPass {
    /// Applies Eq. 16 once: blur, downsample by r, add noise, JPEG, then resize back to the
    /// input size. `rng` supplies the noise. The result is clamped to 0..255.
    pub fn apply(
        &self,
        img: &Rgb32FImage,
        rng: &mut impl Rng,
    ) -> Result<Rgb32FImage, DegradeError> {
        Ok(self.apply_detailed(img, rng)?.1)
    }

    /// As [`apply`](Self::apply), also returning the small decoded JPEG before the resize back
    /// (what a camera or a web page would actually hold).
    pub fn apply_detailed(
        &self,
        img: &Rgb32FImage,
        rng: &mut impl Rng,
    ) -> Result<(Rgb32FImage, Rgb32FImage), DegradeError> {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return Err(DegradeError::EmptyImage {
                width: w,
                height: h,
            });
        }
        // 1. I ⊗ k
        let blurred = match self.blur {
            BlurKernel::Gaussian { sigma } => gaussian_blur(img, sigma),
            BlurKernel::Motion { index } => {
                let k = motion_kernels()
                    .get(index)
                    .ok_or(DegradeError::NoSuchMotionKernel { index })?;
                filter2d(img, k)
            }
        };
        // 2. ↓r (antialiased bicubic), at least one pixel per side.
        let r = self.downscale.max(1);
        let (sw, sh) = (
            ((w as f32 / r as f32).round() as u32).max(1),
            ((h as f32 / r as f32).round() as u32).max(1),
        );
        let mut small = if r == 1 {
            blurred
        } else {
            resize_bicubic(&blurred, sw, sh)
        };
        // 3. + n_σ
        if self.noise_sigma > 0.0 {
            add_gaussian_noise(&mut small, self.noise_sigma, rng);
        }
        // 4. JPEG_q (8-bit: clamps and rounds)
        let decoded = jpeg_round_trip(&small, self.jpeg_quality)?;
        // 5. back to the input size (the network's input size).
        let mut out = if decoded.dimensions() == (w, h) {
            decoded.clone()
        } else {
            resize_bicubic(&decoded, w, h)
        };
        clamp_0_255(&mut out);
        Ok((decoded, out))
    }
}

impl Degradation {
    /// Applies the passes to `hq` and the flip to both images; returns `(hq, lq)`.
    pub fn apply(
        &self,
        hq: &Rgb32FImage,
        rng: &mut impl Rng,
    ) -> Result<(Rgb32FImage, Rgb32FImage), DegradeError> {
        let (hq, _, lq) = self.apply_detailed(hq, rng)?;
        Ok((hq, lq))
    }

    /// As [`apply`](Self::apply), also returning the last pass's small JPEG: `(hq, small, lq)`.
    pub fn apply_detailed(
        &self,
        hq: &Rgb32FImage,
        rng: &mut impl Rng,
    ) -> Result<(Rgb32FImage, Rgb32FImage, Rgb32FImage), DegradeError> {
        let hq = if self.flip {
            image::imageops::flip_horizontal(hq)
        } else {
            hq.clone()
        };
        let (mut small, mut lq) = (hq.clone(), hq.clone());
        for pass in &self.passes {
            (small, lq) = pass.apply_detailed(&lq, rng)?;
        }
        Ok((hq, small, lq))
    }
}

/// Adds white Gaussian noise of standard deviation `sigma` (0..255 scale) to every value,
/// Box–Muller from the uniform stream of `rng`.
pub fn add_gaussian_noise(img: &mut Rgb32FImage, sigma: f32, rng: &mut impl Rng) {
    let mut spare: Option<f32> = None;
    for v in img.iter_mut() {
        let n = match spare.take() {
            Some(n) => n,
            None => {
                // u1 in (0, 1] so that ln(u1) is finite.
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random::<f64>();
                let rad = (-2.0 * u1.ln()).sqrt();
                let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
                spare = Some((rad * s) as f32);
                (rad * c) as f32
            }
        };
        *v += sigma * n;
    }
}

/// Encodes as baseline JPEG at `quality` with the `image` crate and decodes it again.
pub fn jpeg_round_trip(img: &Rgb32FImage, quality: u8) -> Result<Rgb32FImage, DegradeError> {
    let (width, height) = img.dimensions();
    let err = |source| DegradeError::Jpeg {
        quality,
        width,
        height,
        source,
    };
    let rgb8 = f32_to_rgb8(img);
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode(rgb8.as_raw(), width, height, ExtendedColorType::Rgb8)
        .map_err(err)?;
    let decoded = image::load(Cursor::new(&bytes), ImageFormat::Jpeg)
        .map_err(err)?
        .to_rgb8();
    Ok(rgb8_to_f32(&decoded))
}

/// Seed of sample `index` in epoch `epoch` of a run seeded with `base`: SplitMix64 finalisation of
/// the combined words, so neighbouring indices get unrelated streams.
pub fn pair_seed(base: u64, epoch: u64, index: u64) -> u64 {
    let mut z = base
        ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Samples a degradation from `cfg` with `seed` and applies it; returns `(hq, lq, degradation)`
/// with the flip already applied to both images.
pub fn degrade_with_seed(
    hq: &Rgb32FImage,
    cfg: &DegradationConfig,
    seed: u64,
) -> Result<(Rgb32FImage, Rgb32FImage, Degradation), DegradeError> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let degradation = cfg.sample(&mut rng);
    let (hq, lq) = degradation.apply(hq, &mut rng)?;
    Ok((hq, lq, degradation))
}

/// The training pair for one aligned HQ crop: degraded with `seed` at `at`×`at` px (the crop
/// bicubic-enlarged to that size, the LQ brought back to the crop's size), both as network
/// tensors.
pub fn make_training_pair(
    hq: &Rgb32FImage,
    cfg: &DegradationConfig,
    at: u32,
    seed: u64,
) -> Result<TrainingPair, DegradeError> {
    if hq.width() != hq.height() {
        return Err(DegradeError::NotSquare {
            width: hq.width(),
            height: hq.height(),
        });
    }
    let size = hq.width();
    let (hq, lq, degradation) = if at == size {
        degrade_with_seed(hq, cfg, seed)?
    } else {
        let large = resize_clamped(hq, at, at);
        let (_, lq_large, degradation) = degrade_with_seed(&large, cfg, seed)?;
        let lq = resize_clamped(&lq_large, size, size);
        let hq = if degradation.flip {
            image::imageops::flip_horizontal(hq)
        } else {
            hq.clone()
        };
        (hq, lq, degradation)
    };
    Ok(TrainingPair {
        size: hq.width(),
        hq: to_network_planar(&hq),
        lq: to_network_planar(&lq),
        degradation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 96×96 test card: smooth colour gradients plus a fine grey checkerboard (the
    /// high-frequency content a degradation must remove).
    fn test_card() -> Rgb32FImage {
        Rgb32FImage::from_fn(96, 96, |x, y| {
            let check = if (x / 2 + y / 2) % 2 == 0 {
                40.0
            } else {
                -40.0
            };
            let base = 100.0 + check;
            image::Rgb([
                base + x as f32 * 0.5,
                base + y as f32 * 0.4,
                base + 20.0 * ((x + y) as f32 / 30.0).sin(),
            ])
        })
    }

    /// Mean squared 4-neighbour Laplacian of the green channel: high-frequency energy.
    fn laplacian_energy(img: &Rgb32FImage) -> f64 {
        let (w, h) = img.dimensions();
        let g = |x: u32, y: u32| f64::from(img.get_pixel(x, y)[1]);
        let mut acc = 0.0;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let l = 4.0 * g(x, y) - g(x - 1, y) - g(x + 1, y) - g(x, y - 1) - g(x, y + 1);
                acc += l * l;
            }
        }
        acc / f64::from((w - 2) * (h - 2))
    }

    fn psnr(a: &Rgb32FImage, b: &Rgb32FImage) -> f64 {
        let mse: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
            / a.as_raw().len() as f64;
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }

    fn pass(
        blur: BlurKernel,
        downscale: u32,
        noise_sigma: f32,
        jpeg_quality: u8,
    ) -> DegradationPass {
        DegradationPass {
            blur,
            downscale,
            noise_sigma,
            jpeg_quality,
        }
    }

    /// The strata at 512 px are the stated ranges; at 256 px blur and downsampling halve; each
    /// stratum's faces are measurably milder than the next one's.
    #[test]
    fn severity_strata_scale_with_the_crop_and_are_ordered() {
        let mild = Severity::Mild.config(512);
        assert_eq!(
            (mild.blur_sigma, mild.downscale, mild.jpeg_quality),
            ((0.0, 1.0), (1, 2), (70, 95))
        );
        let moderate = Severity::Moderate.config(256);
        assert_eq!(
            (moderate.blur_sigma, moderate.downscale),
            ((0.3, 1.5), (1, 4))
        );
        assert_eq!(Severity::Heavy.config(256).downscale, (1, 10));
        for s in Severity::ALL {
            s.config(256).validate().unwrap();
            assert_eq!(s.config(256).flip_prob, 0.0);
        }
        let hq = test_card();
        let mean_psnr = |s: Severity| {
            (0..12)
                .map(|seed| {
                    psnr(
                        &hq,
                        &degrade_with_seed(&hq, &s.config(512), seed).unwrap().1,
                    )
                })
                .sum::<f64>()
                / 12.0
        };
        let (m, o, h) = (
            mean_psnr(Severity::Mild),
            mean_psnr(Severity::Moderate),
            mean_psnr(Severity::Heavy),
        );
        assert!(
            m > o + 1.0 && o > h,
            "mild {m:.1}, moderate {o:.1}, heavy {h:.1} dB"
        );
    }

    /// The training strata mix draws mild for about 40 % of the pairs and degrades about half
    /// of them at twice the crop size, deterministically; a pair degraded at twice the size
    /// comes back at the crop's size, flipped together with its HQ.
    #[test]
    fn the_training_strata_mix_draws_each_stratum_at_two_scales() {
        let (mut mild, mut doubled) = (0, 0);
        for i in 0..1000 {
            let (cfg, at) = TrainingDegradation::Strata.plan_for_pair(256, pair_seed(0, 0, i));
            mild += usize::from(cfg.jpeg_quality == (70, 95));
            doubled += usize::from(at == 512);
            assert_eq!(cfg.flip_prob, 0.5);
        }
        assert!((340..460).contains(&mild), "{mild} mild pairs of 1000");
        assert!(
            (440..560).contains(&doubled),
            "{doubled} of 1000 degraded at 512"
        );
        assert_eq!(
            TrainingDegradation::Paper.plan_for_pair(256, 5),
            (DegradationConfig::for_size(256), 256)
        );
        assert!(TrainingDegradation::parse("heavy").is_err());

        let hq = Rgb32FImage::from_fn(64, 64, |x, _| image::Rgb([x as f32 * 4.0; 3]));
        let cfg = DegradationConfig {
            flip_prob: 1.0,
            ..Severity::Mild.config(128)
        };
        let pair = make_training_pair(&hq, &cfg, 128, 3).unwrap();
        assert_eq!(
            (pair.size, pair.hq.len(), pair.lq.len()),
            (64, 3 * 64 * 64, 3 * 64 * 64)
        );
        // Flipped: the ramp now falls from left to right, in HQ and LQ alike.
        assert!(pair.hq[0] > pair.hq[63] && pair.lq[0] > pair.lq[63]);
    }

    #[test]
    fn mildest_setting_is_nearly_the_identity() {
        let hq = test_card();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let lq = pass(BlurKernel::Gaussian { sigma: 0.0 }, 1, 0.0, 100)
            .apply(&hq, &mut rng)
            .unwrap();
        assert_eq!(lq.dimensions(), hq.dimensions());
        let p = psnr(&hq, &lq);
        assert!(
            p > 35.0,
            "σ=0, r=1, no noise, q=100 should be near identity, PSNR {p:.1} dB"
        );
    }

    #[test]
    fn strong_setting_removes_high_frequencies() {
        let hq = test_card();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for blur in [
            BlurKernel::Gaussian { sigma: 3.0 },
            BlurKernel::Motion { index: 7 },
        ] {
            let lq = pass(blur, 8, 0.0, 30).apply(&hq, &mut rng).unwrap();
            assert_eq!(lq.dimensions(), hq.dimensions());
            let (e_hq, e_lq) = (laplacian_energy(&hq), laplacian_energy(&lq));
            assert!(
                e_lq < 0.1 * e_hq,
                "{blur:?}: HF energy {e_lq:.1} vs HQ {e_hq:.1}"
            );
            // Yet the coarse content (the mean colour) survives.
            let mean = |i: &Rgb32FImage| i.as_raw().iter().map(|v| f64::from(*v)).sum::<f64>();
            let n = hq.as_raw().len() as f64;
            assert!((mean(&hq) / n - mean(&lq) / n).abs() < 4.0);
        }
    }

    #[test]
    fn noise_has_the_requested_deviation() {
        let mut img = Rgb32FImage::from_pixel(128, 128, image::Rgb([128.0; 3]));
        add_gaussian_noise(&mut img, 10.0, &mut ChaCha8Rng::seed_from_u64(1));
        let n = img.as_raw().len() as f64;
        let mean = img.as_raw().iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let var = img
            .as_raw()
            .iter()
            .map(|v| (f64::from(*v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!((mean - 128.0).abs() < 0.2, "mean {mean}");
        assert!((var.sqrt() - 10.0).abs() < 0.2, "std {}", var.sqrt());
    }

    #[test]
    fn same_seed_gives_bit_identical_lq() {
        let hq = test_card();
        let cfg = DegradationConfig::default();
        let (h1, l1, d1) = degrade_with_seed(&hq, &cfg, 42).unwrap();
        let (h2, l2, d2) = degrade_with_seed(&hq, &cfg, 42).unwrap();
        assert_eq!(d1, d2);
        assert_eq!(h1.as_raw(), h2.as_raw());
        assert!(
            l1.as_raw()
                .iter()
                .zip(l2.as_raw())
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        let (_, l3, d3) = degrade_with_seed(&hq, &cfg, 43).unwrap();
        assert!(d3 != d1 || l3.as_raw() != l1.as_raw());
    }

    #[test]
    fn flip_mirrors_hq_and_lq_together() {
        let hq = test_card();
        let cfg = DegradationConfig {
            flip_prob: 1.0,
            second_pass_prob: 0.0,
            motion_blur_prob: 0.0,
            blur_sigma: (0.0, 0.0),
            downscale: (1, 1),
            noise_sigma: (0.0, 0.0),
            jpeg_quality: (100, 100),
        };
        let (h, l, d) = degrade_with_seed(&hq, &cfg, 5).unwrap();
        assert!(d.flip);
        let mirrored = image::imageops::flip_horizontal(&hq);
        assert_eq!(h.as_raw(), mirrored.as_raw());
        assert!(psnr(&l, &mirrored) > 35.0);
        let never = DegradationConfig {
            flip_prob: 0.0,
            ..cfg
        };
        let (h, _, d) = degrade_with_seed(&hq, &never, 5).unwrap();
        assert!(!d.flip);
        assert_eq!(h.as_raw(), hq.as_raw());
    }

    #[test]
    fn sampled_parameters_respect_the_paper_ranges() {
        let cfg = DegradationConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (mut motion, mut gauss, mut two, mut flips) = (0, 0, 0, 0);
        let (mut r_seen, mut q_seen) = ([false; 21], [false; 101]);
        let n = 4000;
        for _ in 0..n {
            let d = cfg.sample(&mut rng);
            assert!((1..=2).contains(&d.passes.len()));
            two += usize::from(d.passes.len() == 2);
            flips += usize::from(d.flip);
            for p in &d.passes {
                match p.blur {
                    BlurKernel::Gaussian { sigma } => {
                        gauss += 1;
                        assert!((0.0..=5.0).contains(&sigma));
                        let k = sigma / GAUSSIAN_SIGMA_STEP;
                        assert!((k - k.round()).abs() < 1e-3, "σ {sigma} off the 0.1 grid");
                    }
                    BlurKernel::Motion { index } => {
                        motion += 1;
                        assert!(index < MOTION_KERNEL_COUNT);
                    }
                }
                assert!((1..=20).contains(&p.downscale));
                r_seen[p.downscale as usize] = true;
                assert!((0.0..=10.0).contains(&p.noise_sigma));
                assert!((30..=70).contains(&p.jpeg_quality));
                q_seen[p.jpeg_quality as usize] = true;
            }
        }
        assert!(r_seen[1..].iter().all(|s| *s), "every r in 1..=20 is drawn");
        assert!(
            q_seen[30..=70].iter().all(|s| *s),
            "every q in 30..=70 is drawn"
        );
        let frac = |k: usize, of: usize| k as f64 / of as f64;
        assert!((frac(motion, motion + gauss) - 32.0 / 83.0).abs() < 0.03);
        assert!((frac(two, n) - 0.5).abs() < 0.03);
        assert!((frac(flips, n) - 0.5).abs() < 0.03);
    }

    #[test]
    fn training_pair_is_planar_in_unit_range() {
        let hq = test_card();
        let pair = make_training_pair(&hq, &DegradationConfig::default(), 96, 11).unwrap();
        assert_eq!(pair.size, 96);
        assert_eq!(pair.hq.len(), 3 * 96 * 96);
        assert_eq!(pair.lq.len(), 3 * 96 * 96);
        assert!(
            pair.lq
                .iter()
                .chain(&pair.hq)
                .all(|v| (-1.0..=1.0).contains(v))
        );
        let wide = Rgb32FImage::new(8, 4);
        assert!(matches!(
            make_training_pair(&wide, &DegradationConfig::default(), 8, 1),
            Err(DegradeError::NotSquare {
                width: 8,
                height: 4
            })
        ));
    }

    #[test]
    fn bad_configs_are_rejected_with_the_field_named() {
        let cfg = DegradationConfig {
            downscale: (5, 2),
            ..Default::default()
        };
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("downscale"), "{e}");
        let cfg = DegradationConfig {
            flip_prob: 1.5,
            ..Default::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("flip_prob")
        );
        assert!(matches!(
            pass(BlurKernel::Motion { index: 99 }, 1, 0.0, 50)
                .apply(&test_card(), &mut ChaCha8Rng::seed_from_u64(0)),
            Err(DegradeError::NoSuchMotionKernel { index: 99 })
        ));
    }

    #[test]
    fn ranges_scale_with_the_crop_size() {
        assert_eq!(
            DegradationConfig::for_size(512),
            DegradationConfig::default()
        );
        let c = DegradationConfig::for_size(256);
        assert_eq!(c.downscale, (1, 10));
        assert!((c.blur_sigma.1 - 2.5).abs() < 1e-6);
        assert_eq!((c.noise_sigma, c.jpeg_quality), ((0.0, 10.0), (30, 70)));
        assert!((c.motion_blur_prob - 32.0 / 58.0).abs() < 1e-9);
        c.validate().unwrap();
        assert_eq!(DegradationConfig::for_size(16).downscale, (1, 1));
    }

    #[test]
    fn pair_seeds_differ_between_neighbours() {
        let s: Vec<u64> = (0..100).map(|i| pair_seed(1, 0, i)).collect();
        let mut u = s.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 100);
        assert_ne!(pair_seed(1, 0, 0), pair_seed(1, 1, 0));
    }
}
