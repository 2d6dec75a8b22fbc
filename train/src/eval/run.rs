//! `sgpn-train eval`: restores degraded held-out faces with an ONNX generator and scores the
//! result against the ground truth and against the bicubic baseline.
//!
//! Per evaluation set:
//! 1. **Align.** The photos go through the same preparation as the training data
//!    ([`crate::data::prepare`]: RetinaFace → Umeyama to the generator's template at its size →
//!    the element's warp kernel), cached under `<out>/aligned/<set>/`. The `hq512` set is already
//!    FFHQ-aligned at 512; it is re-detected and re-aligned to the generator's own template (for
//!    an `sgpn` generator that is a slightly wider crop than FFHQ's), so every face reaches the
//!    network exactly as the element would present it.
//!    Each set has a reference size, the size its faces are degraded at: 256 px for `aaf-val`
//!    (photos of about 309×384 px), 512 px for `hq512`; by default the generator's size.
//! 2. **Degrade** per severity stratum (`data::degrade::Severity`: mild, moderate, heavy, the
//!    ranges stated at 512 px and scaled to the reference size; no flip). Face `i` of stratum
//!    `k` (mild 0, moderate 1, heavy 2) is degraded with the seed `pair_seed(seed, k, i)`, seed
//!    7 by default, so every model meets the same degraded faces. The LQ is quantised to 8 bits,
//!    as a real image would be. A face degraded at 512 px is then resized (bicubic) to the
//!    generator's size, HQ and LQ alike, as the element's warp brings a large face to its crop.
//! 3. **Restore** with the generator.
//! 4. **Score** restored and baseline. The baseline is the bicubic upsampling of the small LQ
//!    image, which is exactly the network input: the degradation's last step resizes the small
//!    JPEG back to the network size with the same bicubic filter. So the baseline is honest (it is
//!    the best information the network was given, no sharper and no blurrier), and a generator
//!    that returns its input scores exactly the baseline.
//!
//! Metrics: PSNR (RGB) and SSIM (luma) against the HQ crop; NIQE (luma, no reference);
//! identity cosine similarity with the HQ face (ArcFace-style embedder, each image aligned by
//! its own detected landmarks, falling back to the HQ landmarks when the detector misses), and
//! the same with dlib's public-domain network ([`crate::identity`], when its file is there: the
//! network of the training's identity loss, so a second opinion, not the bar's metric);
//! landmark error (detector on the image vs on the HQ, normalised by the HQ inter-ocular
//! distance; a miss counts in the detection rate and not in the mean); colour shift (mean signed
//! error per channel over the pasted pixels, [`super::colour`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use image::Rgb32FImage;
use serde::Serialize;
use sgpn_face::colour::match_coarse_colour;
use sgpn_face::restore::CropBatch;
use sgpn_face::shape::ShapePrior;
use sgpn_models::contract::{Template, Variant};
use sgpn_models::generator::Generator;

use super::colour::{ColourShift, colour_shift};
use super::fidelity::{psnr, ssim};
use super::landmarks::normalized_landmark_error;
use super::niqe::NiqeModel;
use crate::data::degrade::{Degradation, DegradationConfig, Severity, pair_seed};
use crate::data::pixels::{
    f32_to_rgb8, from_network_planar, luma_bt601, rgb8_to_f32, to_network_planar,
};
use crate::data::prepare::{DetectFaces, FaceCandidate, prepare_dir, prepared_crops};
use crate::data::resize::to_square;
use crate::identity::dlib_format::DESCRIPTOR_DIM;
use crate::identity::{IdentityNet, identity_chips};
use sgpn_models::identity::{IdentityEmbedder, cosine_similarity};

/// The two images scored per face.
pub const METHODS: [&str; 2] = ["bicubic", "restored"];

/// Scores of one image (restored or baseline) of one face.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct FaceScores {
    pub psnr: f64,
    pub ssim: f64,
    /// `None` when the image is too small for NIQE or a patch is flat.
    pub niqe: Option<f64>,
    /// `None` when the HQ face was not detected.
    pub identity: Option<f64>,
    /// Cosine similarity with the HQ of dlib's face descriptors of the fixed chip
    /// ([`crate::identity`]), a second identity network with open terms; `None` when the
    /// evaluation runs without it.
    pub identity_dlib: Option<f64>,
    /// `None` when the detector missed this image or the HQ.
    pub landmark_error: Option<f64>,
    /// Mean signed error per RGB channel against the HQ, over the pasted pixels.
    pub colour_shift: ColourShift,
}

/// One evaluated face.
#[derive(Clone, Debug, Serialize)]
pub struct FaceResult {
    pub set: String,
    pub severity: Severity,
    pub crop: String,
    pub degradation: Degradation,
    pub scores: BTreeMap<String, FaceScores>,
    /// NIQE of the HQ face itself: what the metric gives a natural image of this set.
    pub hq_niqe: Option<f64>,
}

/// Means over a set (each metric over the faces where it is defined) and detection counts.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub faces: usize,
    pub psnr: f64,
    pub ssim: f64,
    pub niqe: Option<f64>,
    pub identity: Option<f64>,
    pub landmark_error: Option<f64>,
    /// Mean colour shift per RGB channel (grey levels).
    pub colour_shift: ColourShift,
    /// Faces whose image the detector found (for the landmark error).
    pub detected: usize,
}

/// The models an evaluation uses.
pub struct Evaluator<'a> {
    pub generator: &'a mut Generator,
    /// The shape prior (regressor + 3DMM + renderer) a `full` generator takes its `render`
    /// input from, exactly as the element computes it.
    pub shape: Option<&'a mut ShapePrior>,
    pub detector: &'a mut dyn DetectFaces,
    pub embedder: &'a mut IdentityEmbedder,
    /// dlib's face-recognition network, for [`FaceScores::identity_dlib`].
    pub dlib: Option<&'a IdentityNet>,
    pub niqe: &'a NiqeModel,
    /// Apply the element's colour fix (`sgpn_face::colour`) to each restoration.
    pub colour_fix: bool,
}

/// What one face's evaluation shows and scores: the small LQ face, its bicubic upsampling, the
/// restoration, the HQ face and, for a `full` generator, the rendered 3D face `I_3d` (0..255,
/// black where the mesh is absent).
pub struct FaceTiles {
    pub small: Rgb32FImage,
    pub bicubic: Rgb32FImage,
    pub restored: Rgb32FImage,
    pub hq: Rgb32FImage,
    pub render: Option<Rgb32FImage>,
}

impl FaceTiles {
    /// The side-by-side row: LQ | bicubic | restored | HQ (| I_3d).
    pub fn row(self) -> Vec<Rgb32FImage> {
        let mut row = vec![self.small, self.bicubic, self.restored, self.hq];
        row.extend(self.render);
        row
    }
}

/// Runs `generator` on one LQ face (network planar), with `I_3d` from `shape` for a `full`
/// generator; returns the output and the render.
pub fn restore_face(
    generator: &mut Generator,
    shape: Option<&mut ShapePrior>,
    lq: &[f32],
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let size = generator.info.size;
    let full = generator.info.variant == Variant::Full;
    match (full, shape) {
        (false, None) => Ok((generator.restore(lq, 1)?, None)),
        (true, Some(shape)) => {
            let mut batch = CropBatch::default();
            batch.clear(size);
            batch.push().copy_from_slice(lq);
            // Evaluation faces are aligned to the template: their landmarks are the template's.
            let landmarks = [generator.info.template.landmarks(size)];
            let coefficients = shape.regress(&batch, &landmarks)?;
            let render = shape.render(&coefficients, size)?;
            let restored = generator.restore_with_shape(lq, &render, &coefficients, 1)?;
            Ok((restored, Some(render)))
        }
        (true, None) => bail!(
            "{} is a full generator: give its shape regressor and 3DMM (--regressor, --morphable)",
            generator.info.path.display()
        ),
        (false, Some(_)) => bail!(
            "{} is a no3d generator: it takes no shape regressor or 3DMM",
            generator.info.path.display()
        ),
    }
}

/// The main face of `img` (largest eye distance), if any.
fn main_face(detector: &mut dyn DetectFaces, img: &Rgb32FImage) -> Result<Option<FaceCandidate>> {
    let faces = detector.detect_faces(&f32_to_rgb8(img))?;
    Ok(faces
        .into_iter()
        .max_by(|a, b| a.eye_distance().total_cmp(&b.eye_distance())))
}

/// Per image of `images`, the cosine similarity of its dlib descriptor with `hq`'s, all in one
/// batch; every image is an aligned crop on 0..255 of `hq`'s size, cut by the same fixed chip,
/// so no detector's landmarks enter this metric.
fn dlib_similarities<const N: usize>(
    net: &IdentityNet,
    images: [&Rgb32FImage; N],
    hq: &Rgb32FImage,
) -> Result<[f64; N]> {
    let (w, h) = hq.dimensions();
    if let Some(other) = images.iter().find(|im| im.dimensions() != (w, h)) {
        bail!(
            "dlib identity: an image is {:?}, its HQ {:?}",
            other.dimensions(),
            (w, h)
        );
    }
    let planar: Vec<f32> = images
        .iter()
        .chain([&hq])
        .flat_map(|im| to_network_planar(im))
        .collect();
    let faces = Tensor::<4>::from_data(
        TensorData::new(planar, [N + 1, 3, h as usize, w as usize]),
        &Device::flex(),
    );
    let d = net
        .forward(identity_chips(faces))
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("dlib descriptors: {e:?}"))?;
    let (each, hq) = d.split_at(N * DESCRIPTOR_DIM);
    Ok(std::array::from_fn(|i| {
        cosine_similarity(&each[i * DESCRIPTOR_DIM..(i + 1) * DESCRIPTOR_DIM], hq)
    }))
}

/// Rounds to 8 bits and back: every scored image is a valid 8-bit image.
pub fn quantized(img: &Rgb32FImage) -> Rgb32FImage {
    rgb8_to_f32(&f32_to_rgb8(img))
}

impl Evaluator<'_> {
    /// Scores `img` against `hq`, whose detected face and identity embedding are `hq_face`;
    /// `identity_dlib` is the image's dlib similarity ([`dlib_similarities`]).
    fn score(
        &mut self,
        img: &Rgb32FImage,
        hq: &Rgb32FImage,
        hq_face: Option<(&FaceCandidate, &[f32])>,
        identity_dlib: Option<f64>,
    ) -> Result<FaceScores> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (ly, hy) = (luma_bt601(img), luma_bt601(hq));
        let niqe = self.niqe.score(&ly, w, h).ok();
        let own = main_face(self.detector, img)?;
        let (identity, landmark_error) = match hq_face {
            None => (None, None),
            Some((hf, e_hq)) => {
                let lm = own.as_ref().map_or(hf.landmarks, |f| f.landmarks);
                let e_img = self.embedder.embed(img, &lm)?;
                let nme = own
                    .as_ref()
                    .and_then(|f| normalized_landmark_error(&hf.landmarks, &f.landmarks));
                (Some(cosine_similarity(&e_img, e_hq)), nme)
            }
        };
        Ok(FaceScores {
            psnr: psnr(img.as_raw(), hq.as_raw()),
            ssim: ssim(&ly, &hy, w, h),
            niqe,
            identity,
            identity_dlib,
            landmark_error,
            colour_shift: colour_shift(img, hq),
        })
    }

    /// Degrades, restores and scores one aligned HQ crop. Returns the result and the images
    /// for the side-by-side sheet, the restoration rounded to 8 bits as it is scored.
    pub fn evaluate_face(
        &mut self,
        hq: &Rgb32FImage,
        cfg: &DegradationConfig,
        seed: u64,
    ) -> Result<(Degradation, BTreeMap<String, FaceScores>, FaceTiles)> {
        let (degradation, mut tiles) =
            degrade_and_restore(self.generator, self.shape.as_deref_mut(), hq, cfg, seed)?;
        if self.colour_fix {
            let (w, h) = tiles.restored.dimensions();
            let mut out = to_network_planar(&tiles.restored);
            match_coarse_colour(&to_network_planar(&tiles.bicubic), &mut out, w as usize);
            tiles.restored = from_network_planar(&out, w, h).context("colour-fixed restoration")?;
        }
        tiles.restored = quantized(&tiles.restored);
        // The HQ's face, embedding and dlib descriptor once for both methods.
        let hq_face = main_face(self.detector, &tiles.hq)?;
        let hq_embedding = hq_face
            .as_ref()
            .map(|f| self.embedder.embed(&tiles.hq, &f.landmarks))
            .transpose()?;
        let hq_reference = hq_face.as_ref().zip(hq_embedding.as_deref());
        let images = [&tiles.bicubic, &tiles.restored];
        let dlib = self
            .dlib
            .map(|net| dlib_similarities(net, images, &tiles.hq))
            .transpose()?;
        let mut scores = BTreeMap::new();
        for (m, (method, img)) in METHODS.iter().zip(images).enumerate() {
            let identity_dlib = dlib.map(|d| d[m]);
            let s = self.score(img, &tiles.hq, hq_reference, identity_dlib)?;
            scores.insert(method.to_string(), s);
        }
        Ok((degradation, scores, tiles))
    }
}

/// Degrades one aligned HQ crop with `seed` ([`degrade_face`]) and restores it with
/// `generator` (and `shape` for a `full` one): the degradation and every image of the face, the
/// restoration as the network returned it (not rounded to 8 bits). A crop larger than the
/// generator's size is degraded at its own size, then HQ and LQ are resized to the generator's.
pub fn degrade_and_restore(
    generator: &mut Generator,
    shape: Option<&mut ShapePrior>,
    hq: &Rgb32FImage,
    cfg: &DegradationConfig,
    seed: u64,
) -> Result<(Degradation, FaceTiles)> {
    let size = generator.info.size as u32;
    if hq.width() != hq.height() || hq.width() < size {
        bail!(
            "HQ crop is {:?}, the generator expects a square of at least {size}x{size}: align the faces at its size or larger",
            hq.dimensions()
        );
    }
    let (degradation, hq, small, lq) = degrade_face(hq, cfg, seed)?;
    // The resized LQ is rounded to 8 bits again: it is the baseline as scored and the network's
    // input, so a generator that returns its input scores the baseline exactly.
    let (hq, bicubic) = (to_square(hq, size), quantized(&to_square(lq, size)));
    let (out, render) = restore_face(generator, shape, &to_network_planar(&bicubic))?;
    let restored =
        from_network_planar(&out, size, size).context("generator output has the wrong size")?;
    let render = render
        .map(|r| from_network_planar(&r, size, size).context("render has the wrong size"))
        .transpose()?;
    Ok((
        degradation,
        FaceTiles {
            small,
            bicubic,
            restored,
            hq,
            render,
        },
    ))
}

/// The evaluation's degradation of one aligned HQ face, drawn from `seed`: the degradation, the
/// HQ, the small LQ and its bicubic upsampling quantised to 8 bits (the network input).
pub fn degrade_face(
    hq: &Rgb32FImage,
    cfg: &DegradationConfig,
    seed: u64,
) -> Result<(Degradation, Rgb32FImage, Rgb32FImage, Rgb32FImage)> {
    cfg.validate()?;
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let degradation = cfg.sample(&mut rng);
    let (hq, small, lq) = degradation.apply_detailed(hq, &mut rng)?;
    Ok((degradation, hq, small, quantized(&lq)))
}

/// The paper's degradation at `size` (Eq. 16 scaled to the size, no flip): the heavy stratum,
/// which colour calibration and the comparison grid use.
pub fn eval_degradation(size: usize) -> DegradationConfig {
    Severity::Heavy.config(size as u32)
}

/// The aligned crops of evaluation set `set` (photos in `dir`) at `size` on `template`, cached
/// under `<out>/aligned/`; the first `limit`.
pub fn aligned_set(
    set: &str,
    dir: &Path,
    out: &Path,
    size: usize,
    template: Template,
    detector: &mut dyn DetectFaces,
    limit: Option<usize>,
) -> Result<Vec<PathBuf>> {
    let cache = out.join("aligned").join(format!("{set}-{size}-{template}"));
    let prep = prepare_dir(
        dir,
        &cache,
        size,
        &template.landmarks(size),
        detector,
        None,
        |_, _| {},
    )
    .with_context(|| format!("aligning {set} from {}", dir.display()))?;
    eprintln!("eval {set}: {prep}");
    let mut crops = prepared_crops(&cache)?;
    if let Some(n) = limit {
        crops.truncate(n);
    }
    Ok(crops)
}

/// Reads an aligned crop as 0..255 floats.
pub fn read_crop(path: &Path) -> Result<Rgb32FImage> {
    Ok(rgb8_to_f32(
        &image::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .to_rgb8(),
    ))
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Means of one method over a list of results.
pub fn summarize(results: &[FaceResult], method: &str) -> Summary {
    let s: Vec<&FaceScores> = results
        .iter()
        .filter_map(|r| r.scores.get(method))
        .collect();
    Summary {
        faces: s.len(),
        psnr: mean(s.iter().map(|x| x.psnr)).unwrap_or(f64::NAN),
        ssim: mean(s.iter().map(|x| x.ssim)).unwrap_or(f64::NAN),
        niqe: mean(s.iter().filter_map(|x| x.niqe)),
        identity: mean(s.iter().filter_map(|x| x.identity)),
        landmark_error: mean(s.iter().filter_map(|x| x.landmark_error)),
        colour_shift: [0, 1, 2]
            .map(|c| mean(s.iter().map(|x| x.colour_shift[c])).unwrap_or(f64::NAN)),
        detected: s.iter().filter(|x| x.landmark_error.is_some()).count(),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".to_string(), |x| format!("{x:.digits$}"))
}

/// The Markdown table: one row per set, stratum and method.
pub fn markdown_table(summaries: &[(String, Severity, String, Summary)]) -> String {
    let mut t = String::from(
        "| set | stratum | method | faces | PSNR ↑ | SSIM (Y) ↑ | NIQE ↓ | identity cos ↑ | landmark NME ↓ | detected | colour shift R/G/B |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (set, severity, method, s) in summaries {
        t.push_str(&format!(
            "| {set} | {severity} | {method} | {} | {:.2} | {:.4} | {} | {} | {} | {}/{} | {:+.1} / {:+.1} / {:+.1} |\n",
            s.faces,
            s.psnr,
            s.ssim,
            opt(s.niqe, 3),
            opt(s.identity, 4),
            opt(s.landmark_error, 4),
            s.detected,
            s.faces,
            s.colour_shift[0],
            s.colour_shift[1],
            s.colour_shift[2]
        ));
    }
    t
}

/// A per-face difference over a set: mean and standard error of the mean.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct PairedDifference {
    pub faces: usize,
    pub mean: f64,
    pub std_err: f64,
}

/// Mean and sample standard deviation of `v`; `None` for fewer than two values.
pub fn mean_and_sd(v: &[f64]) -> Option<(f64, f64)> {
    let n = v.len();
    (n >= 2).then(|| {
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var.sqrt())
    })
}

impl PairedDifference {
    /// Mean and standard error of `d`, one difference per face; `None` for fewer than two.
    pub fn of(d: &[f64]) -> Option<Self> {
        let (mean, sd) = mean_and_sd(d)?;
        Some(Self {
            faces: d.len(),
            mean,
            std_err: sd / (d.len() as f64).sqrt(),
        })
    }
}

/// Mean ± standard error of `f` over the faces where it is defined (at least two).
fn paired(
    results: &[FaceResult],
    f: impl Fn(&FaceResult) -> Option<f64>,
) -> Option<PairedDifference> {
    PairedDifference::of(&results.iter().filter_map(f).collect::<Vec<_>>())
}

/// Restored minus bicubic, face by face, for every metric; and, in `hq_niqe`, the HQ faces' NIQE
/// minus bicubic's (what a perfect restoration would score on NIQE). Metrics differ far more between
/// faces than between methods, so a difference is only meaningful against its standard error.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PairedSummary {
    pub psnr: Option<PairedDifference>,
    pub ssim: Option<PairedDifference>,
    pub niqe: Option<PairedDifference>,
    pub identity: Option<PairedDifference>,
    pub identity_dlib: Option<PairedDifference>,
    pub landmark_error: Option<PairedDifference>,
    pub hq_niqe: Option<PairedDifference>,
}

/// Bicubic's and the restoration's scores of one face.
fn method_scores(r: &FaceResult) -> Option<(&FaceScores, &FaceScores)> {
    Some((r.scores.get(METHODS[0])?, r.scores.get(METHODS[1])?))
}

/// The paired differences of one set's results.
pub fn paired_summary(results: &[FaceResult]) -> PairedSummary {
    let diff = |metric: fn(&FaceScores) -> Option<f64>| {
        paired(results, move |r| {
            let (b, x) = method_scores(r)?;
            Some(metric(x)? - metric(b)?)
        })
    };
    PairedSummary {
        psnr: diff(|s| Some(s.psnr)),
        ssim: diff(|s| Some(s.ssim)),
        niqe: diff(|s| s.niqe),
        identity: diff(|s| s.identity),
        identity_dlib: diff(|s| s.identity_dlib),
        landmark_error: diff(|s| s.landmark_error),
        hq_niqe: paired(results, |r| Some(r.hq_niqe? - method_scores(r)?.0.niqe?)),
    }
}

/// Where a stratum's paired differences fall short of the fidelity bar a shipped generator must
/// clear (models/README.md, "Quality bar"): in moderate and heavy, identity higher and landmark
/// error lower than bicubic by more than two standard errors; in mild, neither worse than
/// bicubic by more than one; PSNR +0.3 dB or more in mild and moderate, not lower in heavy.
/// Empty when the bar is met; a missing metric is a shortfall.
pub fn fidelity_shortfalls(severity: Severity, p: &PairedSummary) -> Vec<String> {
    let mut short = Vec::new();
    let mild = severity == Severity::Mild;
    match p.identity {
        Some(d) if mild && d.mean >= -d.std_err => {}
        Some(d) if !mild && d.mean > 2.0 * d.std_err => {}
        Some(d) => short.push(format!("identity {:+.4} ± {:.4}", d.mean, d.std_err)),
        None => short.push("identity n/a".into()),
    }
    match p.landmark_error {
        Some(d) if mild && d.mean <= d.std_err => {}
        Some(d) if !mild && d.mean < -2.0 * d.std_err => {}
        Some(d) => short.push(format!("landmarks {:+.4} ± {:.4}", d.mean, d.std_err)),
        None => short.push("landmarks n/a".into()),
    }
    let psnr_floor = if severity == Severity::Heavy {
        0.0
    } else {
        0.3
    };
    match p.psnr {
        Some(d) if d.mean >= psnr_floor => {}
        Some(d) => short.push(format!("PSNR {:+.2} dB < {psnr_floor:+.1}", d.mean)),
        None => short.push("PSNR n/a".into()),
    }
    short
}

/// Bands of the bicubic input's PSNR (dB) for [`psnr_by_input_quality`]: where a restorer harms
/// nearly pristine faces (its change is all error there) shows apart from where it helps.
pub const INPUT_PSNR_BANDS: [(f64, f64); 4] = [
    (0.0, 35.0),
    (35.0, 42.0),
    (42.0, 45.0),
    (45.0, f64::INFINITY),
];

/// Restored minus bicubic PSNR, face by face, per band of the bicubic input's own PSNR
/// ([`INPUT_PSNR_BANDS`]): one row per set and stratum, `faces: mean ± standard error` per band
/// (one face gives its value alone; none, `–`).
pub fn psnr_by_input_quality(rows: &[(String, Severity, &[FaceResult])]) -> String {
    let band_name = |(lo, hi): (f64, f64)| {
        if lo <= 0.0 {
            format!("< {hi}")
        } else if hi.is_infinite() {
            format!("≥ {lo}")
        } else {
            format!("{lo}–{hi}")
        }
    };
    let header: Vec<String> = INPUT_PSNR_BANDS.iter().map(|&b| band_name(b)).collect();
    let mut t = format!(
        "| set | stratum | {} |\n|---|---|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for (set, severity, faces) in rows {
        let cells: Vec<String> = INPUT_PSNR_BANDS
            .iter()
            .map(|&(lo, hi)| {
                let d: Vec<f64> = faces
                    .iter()
                    .filter_map(method_scores)
                    .filter(|(b, _)| (lo..hi).contains(&b.psnr))
                    .map(|(b, x)| x.psnr - b.psnr)
                    .collect();
                match (d.len(), PairedDifference::of(&d)) {
                    (0, _) => "–".to_string(),
                    (_, Some(p)) => format!("{}: {:+.2} ± {:.2}", p.faces, p.mean, p.std_err),
                    (n, None) => format!("{n}: {:+.2}", d[0]),
                }
            })
            .collect();
        t += &format!(
            "| {set} | {} | {} |\n",
            severity.as_str(),
            cells.join(" | ")
        );
    }
    t
}

/// The Markdown table of paired differences: one row per set and stratum, with the fidelity bar.
pub fn paired_table(rows: &[(String, Severity, PairedSummary)]) -> String {
    let cell = |d: Option<PairedDifference>, digits: usize| {
        d.map_or("n/a".to_string(), |d| {
            format!("{:+.digits$} ± {:.digits$}", d.mean, d.std_err)
        })
    };
    let mut t = String::from(
        "| set | stratum | PSNR | SSIM (Y) | NIQE | identity cos | identity cos (dlib) | landmark NME | HQ NIQE − bicubic | fidelity bar |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (set, severity, p) in rows {
        let short = fidelity_shortfalls(*severity, p);
        let bar = if short.is_empty() {
            "met".to_string()
        } else {
            format!("short: {}", short.join("; "))
        };
        t.push_str(&format!(
            "| {set} | {severity} | {} | {} | {} | {} | {} | {} | {} | {bar} |\n",
            cell(p.psnr, 2),
            cell(p.ssim, 4),
            cell(p.niqe, 2),
            cell(p.identity, 4),
            cell(p.identity_dlib, 4),
            cell(p.landmark_error, 4),
            cell(p.hq_niqe, 2)
        ));
    }
    t
}

/// A row of tiles of the size of the second one (`[small LQ (nearest-neighbour enlarged),
/// bicubic, restored, HQ]` and optionally the render), 4 px apart.
pub fn side_by_side(tiles: &[Rgb32FImage]) -> image::RgbImage {
    let s = tiles.get(1).or(tiles.first()).map_or(0, |t| t.width());
    let gap = 4;
    let n = tiles.len() as u32;
    let mut out =
        image::RgbImage::from_pixel(n * s + (n + 1) * gap, s + 2 * gap, image::Rgb([255; 3]));
    for (k, t) in tiles.iter().enumerate() {
        let tile = if t.width() == s {
            f32_to_rgb8(t)
        } else {
            image::imageops::resize(&f32_to_rgb8(t), s, s, image::imageops::FilterType::Nearest)
        };
        let x = gap + k as u32 * (s + gap);
        image::imageops::replace(&mut out, &tile, i64::from(x), i64::from(gap));
    }
    out
}

/// Stacks rows of tiles (as [`side_by_side`] makes them) into one PNG at `path`.
pub fn save_sheet(rows: &[image::RgbImage], path: &Path) -> Result<()> {
    let (w, h) = rows.first().map_or((0, 0), |r| (r.width(), r.height()));
    let mut sheet = image::RgbImage::new(w, h * rows.len() as u32);
    for (k, row) in rows.iter().enumerate() {
        image::imageops::replace(&mut sheet, row, 0, i64::from(k as u32 * h));
    }
    sheet
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One evaluation set: a folder of photos or crops and the size its faces are degraded at.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalSet {
    pub name: String,
    pub dir: PathBuf,
    /// The side of the aligned crop the degradation is applied to; `None`: the generator's size.
    pub reference_size: Option<usize>,
}

/// Paths and settings of one evaluation run.
pub struct EvalPlan {
    pub sets: Vec<EvalSet>,
    /// The strata to evaluate, each with its own seeds (see the module documentation).
    pub severities: Vec<Severity>,
    pub out: PathBuf,
    pub limit: Option<usize>,
    pub seed: u64,
    /// Faces per set and stratum shown in the side-by-side sheets.
    pub samples: usize,
}

/// The results of one set in one stratum.
struct StratumResults {
    set: String,
    severity: Severity,
    faces: Vec<FaceResult>,
}

/// Runs the whole evaluation; writes `metrics.md`, `metrics.json`, `samples_<set>_<stratum>.png`
/// and `samples_<stratum>.png` (every set's sample rows of that stratum, the before/after grid
/// of a model card) into `plan.out` and returns the paired Markdown table.
pub fn run_eval(ev: &mut Evaluator<'_>, plan: &EvalPlan) -> Result<String> {
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("cannot create {}", plan.out.display()))?;
    let size = ev.generator.info.size;
    let template = ev.generator.info.template;
    let mut strata = Vec::new();
    let mut references = Vec::new();
    let mut stratum_sheets: BTreeMap<Severity, Vec<image::RgbImage>> = BTreeMap::new();
    for set in &plan.sets {
        let reference = set.reference_size.unwrap_or(size);
        references.push(format!("{} {reference} px", set.name));
        let crops = aligned_set(
            &set.name,
            &set.dir,
            &plan.out,
            reference,
            template,
            ev.detector,
            plan.limit,
        )?;
        let configs: Vec<DegradationConfig> = plan
            .severities
            .iter()
            .map(|s| s.config(reference as u32))
            .collect();
        let mut faces = vec![Vec::new(); plan.severities.len()];
        let mut sheets = vec![Vec::new(); plan.severities.len()];
        for (i, crop) in crops.iter().enumerate() {
            let hq = read_crop(crop)?;
            // The HQ face is the same in every stratum: its NIQE is scored once.
            let mut hq_niqe = None;
            for (k, &severity) in plan.severities.iter().enumerate() {
                // Stratum seeds follow the declaration order: mild 0, moderate 1, heavy 2.
                let seed = pair_seed(plan.seed, severity as u64, i as u64);
                let (degradation, scores, tiles) = ev.evaluate_face(&hq, &configs[k], seed)?;
                let hq_niqe = *hq_niqe
                    .get_or_insert_with(|| ev.niqe.score(&luma_bt601(&tiles.hq), size, size).ok());
                if i < plan.samples {
                    sheets[k].push(side_by_side(&tiles.row()));
                }
                faces[k].push(FaceResult {
                    set: set.name.clone(),
                    severity,
                    crop: file_label(crop),
                    degradation,
                    scores,
                    hq_niqe,
                });
            }
        }
        for ((&severity, faces), sheet_rows) in plan.severities.iter().zip(faces).zip(sheets) {
            if !sheet_rows.is_empty() {
                let name = format!("samples_{}_{severity}.png", set.name);
                save_sheet(&sheet_rows, &plan.out.join(name))?;
                stratum_sheets
                    .entry(severity)
                    .or_default()
                    .extend(sheet_rows);
            }
            eprintln!("eval {} {severity}: {} faces", set.name, faces.len());
            strata.push(StratumResults {
                set: set.name.clone(),
                severity,
                faces,
            });
        }
    }
    for (severity, rows) in &stratum_sheets {
        save_sheet(rows, &plan.out.join(format!("samples_{severity}.png")))?;
    }
    let summaries: Vec<(String, Severity, String, Summary)> = strata
        .iter()
        .flat_map(|r| {
            METHODS.map(|m| {
                (
                    r.set.clone(),
                    r.severity,
                    m.to_string(),
                    summarize(&r.faces, m),
                )
            })
        })
        .collect();
    let paired_rows: Vec<(String, Severity, PairedSummary)> = strata
        .iter()
        .map(|r| (r.set.clone(), r.severity, paired_summary(&r.faces)))
        .collect();
    let hq_niqe: BTreeMap<String, Option<f64>> = plan
        .sets
        .iter()
        .map(|set| {
            let faces = strata.iter().filter(|r| r.set == set.name).take(1);
            let v = faces.flat_map(|r| r.faces.iter().filter_map(|f| f.hq_niqe));
            (set.name.clone(), mean(v))
        })
        .collect();
    let paired = paired_table(&paired_rows);
    let by_input = psnr_by_input_quality(
        &strata
            .iter()
            .map(|r| (r.set.clone(), r.severity, r.faces.as_slice()))
            .collect::<Vec<_>>(),
    );
    let patches = (size / super::niqe::PATCH_SIZE).pow(2);
    let md = format!(
        "# Evaluation of {}\n\nSeed {}; faces degraded at their set's reference size ({}) in three \
         strata (mild, moderate, heavy: `data::degrade::Severity`, stratum k of face i seeded by \
         pair_seed(seed, k, i), no flip), then brought to the generator's {size} px. \
         The bicubic baseline is the network input itself (the degradation resizes its small JPEG \
         back with bicubic). PSNR on RGB, SSIM on BT.601 luma (Gaussian 11x11, sigma 1.5), NIQE as \
         scikit-video, identity = cosine similarity of fr_feature.onnx embeddings with the HQ, \
         identity (dlib) = the same with dlib's face descriptors of a fixed chip of the aligned \
         crop (the network of the training's identity loss; not part of the bar), \
         landmark NME = mean 5-point RetinaFace distance / HQ inter-ocular distance, \
         colour shift = mean signed error per channel against the HQ in grey levels, weighted by \
         the element's paste mask (a tint on every pasted face; the bicubic baseline's is the \
         degradation's own). \
         At {size} px NIQE sees {patches} patches of 96 px per image (25 at 512), so its \
         covariance estimate is coarse below 512; it is reported, not a target.\n\n\
         Restored minus bicubic, face by face (mean ± standard error of the mean), the HQ \
         faces' NIQE minus bicubic's, and the fidelity bar of models/README.md:\n\n{paired}\n\
         Restored minus bicubic PSNR (dB) by the bicubic input's own PSNR (faces: mean ± standard \
         error): a change on a nearly pristine face is all error.\n\n{by_input}\n\
         Means per method:\n\n{}\nNIQE of the HQ faces themselves \
         (what the metric gives the natural images of the set): {}.\n",
        ev.generator.info.path.display(),
        plan.seed,
        references.join(", "),
        markdown_table(&summaries),
        hq_niqe
            .iter()
            .map(|(set, v)| format!("{set} {}", opt(*v, 3)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    std::fs::write(plan.out.join("metrics.md"), &md)?;
    let json = serde_json::json!({
        "model": ev.generator.info.path,
        "seed": plan.seed,
        "hq_niqe": hq_niqe,
        "summaries": summaries.iter().map(|(set, sev, m, s)| serde_json::json!({"set": set, "severity": sev, "method": m, "summary": s})).collect::<Vec<_>>(),
        "paired": paired_rows.iter().map(|(set, sev, p)| serde_json::json!({
            "set": set,
            "severity": sev,
            "against_bicubic": p,
            "fidelity_shortfalls": fidelity_shortfalls(*sev, p),
        })).collect::<Vec<_>>(),
        "faces": strata.iter().flat_map(|r| r.faces.iter()).collect::<Vec<_>>(),
    });
    std::fs::write(
        plan.out.join("metrics.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    Ok(paired)
}

fn file_label(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bicubic: FaceScores, restored: FaceScores, hq_niqe: Option<f64>) -> FaceResult {
        FaceResult {
            set: "s".into(),
            severity: Severity::Moderate,
            crop: "c.png".into(),
            degradation: Degradation {
                passes: Vec::new(),
                flip: false,
            },
            scores: BTreeMap::from([
                (METHODS[0].to_string(), bicubic),
                (METHODS[1].to_string(), restored),
            ]),
            hq_niqe,
        }
    }

    fn scores(psnr: f64, niqe: Option<f64>) -> FaceScores {
        FaceScores {
            psnr,
            niqe,
            ..Default::default()
        }
    }

    /// Faces fall in the band of their bicubic PSNR; each band has its own mean ± standard
    /// error, a lone face its value, an empty band a dash.
    #[test]
    fn psnr_differences_are_split_by_the_inputs_own_psnr() {
        let results = [
            face(scores(30.0, None), scores(31.0, None), None),
            face(scores(40.0, None), scores(40.5, None), None),
            face(scores(41.0, None), scores(42.5, None), None),
            face(scores(46.0, None), scores(44.0, None), None),
        ];
        let table = psnr_by_input_quality(&[("s".into(), Severity::Mild, &results[..])]);
        let row = table.lines().nth(2).unwrap();
        assert_eq!(
            row, "| s | mild | 1: +1.00 | 2: +1.00 ± 0.50 | – | 1: -2.00 |",
            "{table}"
        );
        assert!(table.starts_with("| set | stratum | < 35 | 35–42 | 42–45 | ≥ 45 |"));
    }

    #[test]
    fn paired_differences_are_per_face_with_their_standard_error() {
        // Restored − bicubic PSNR: +1, +2, +3 → mean 2, sd 1, se 1/√3.
        let results = [
            face(
                scores(20.0, Some(30.0)),
                scores(21.0, Some(31.0)),
                Some(29.0),
            ),
            face(scores(25.0, None), scores(27.0, Some(40.0)), Some(41.0)),
            face(
                scores(22.0, Some(35.0)),
                scores(25.0, Some(34.0)),
                Some(36.0),
            ),
        ];
        let p = paired_summary(&results);
        let psnr = p.psnr.unwrap();
        assert_eq!(psnr.faces, 3);
        assert!((psnr.mean - 2.0).abs() < 1e-12);
        assert!((psnr.std_err - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        // NIQE only where both are defined: +1 and −1.
        let niqe = p.niqe.unwrap();
        assert_eq!((niqe.faces, niqe.mean), (2, 0.0));
        // HQ − bicubic NIQE: −1 and +1.
        assert_eq!(p.hq_niqe.unwrap().faces, 2);
        // Undefined everywhere or on one face only: no difference.
        assert_eq!(p.identity, None);
        assert_eq!(paired_summary(&results[..1]).psnr, None);
        let table = paired_table(&[("s".into(), Severity::Moderate, p)]);
        assert!(table.contains("| s | moderate | +2.00 ± 0.58 |"), "{table}");
        assert!(table.contains("short: identity n/a"), "{table}");
    }
}

#[cfg(test)]
mod bar_tests {
    use super::*;

    fn d(mean: f64, std_err: f64) -> Option<PairedDifference> {
        Some(PairedDifference {
            faces: 100,
            mean,
            std_err,
        })
    }

    fn paired(psnr: f64, identity: f64, landmarks: f64) -> PairedSummary {
        PairedSummary {
            psnr: d(psnr, 0.05),
            ssim: None,
            niqe: None,
            identity: d(identity, 0.01),
            identity_dlib: None,
            landmark_error: d(landmarks, 0.002),
            hq_niqe: None,
        }
    }

    /// The bar is stricter where restoration has room (moderate, heavy: gains beyond two
    /// standard errors) than in mild (no loss beyond one), and PSNR may not drop in heavy.
    #[test]
    fn the_fidelity_bar_depends_on_the_stratum() {
        let gain = paired(0.5, 0.03, -0.005);
        for s in Severity::ALL {
            assert!(fidelity_shortfalls(s, &gain).is_empty(), "{s}");
        }
        let level = paired(0.35, -0.005, 0.001);
        assert!(fidelity_shortfalls(Severity::Mild, &level).is_empty());
        let short = fidelity_shortfalls(Severity::Moderate, &level);
        assert_eq!(short.len(), 2, "{short:?}");
        let blurry = paired(0.1, 0.03, -0.005);
        assert!(fidelity_shortfalls(Severity::Heavy, &blurry).is_empty());
        assert_eq!(fidelity_shortfalls(Severity::Moderate, &blurry).len(), 1);
        assert_eq!(
            fidelity_shortfalls(Severity::Heavy, &paired(-0.1, 0.03, -0.005)).len(),
            1
        );
    }
}

#[cfg(test)]
mod dlib_tests {
    use super::*;

    /// `hq512` faces (aligned like the `sgpn` template at twice its size) brought to 256 px.
    fn faces_of(dir: &Path, person: &str) -> Vec<Rgb32FImage> {
        let files = crate::data::grid::list_images(dir).unwrap();
        files
            .iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{person}_")))
            })
            .take(2)
            .map(|f| {
                let face = image::open(f).unwrap().to_rgb8();
                let face =
                    image::imageops::resize(&face, 256, 256, image::imageops::FilterType::Triangle);
                rgb8_to_f32(&face)
            })
            .collect()
    }

    /// A face scores 1 against itself, and two photos of one person score higher than photos of
    /// two people: the interleaved 0..255 images reach the network as the planar [-1, 1] crops
    /// it expects.
    #[test]
    fn dlib_similarity_tells_people_apart() {
        let path = crate::identity::default_model_path();
        let dir = crate::data::cli::shared_data("eval/hq512");
        if !path.exists() || !dir.exists() {
            eprintln!(
                "skipping: {} or {} is absent",
                path.display(),
                dir.display()
            );
            return;
        }
        let net = IdentityNet::load(&path, &Device::flex()).unwrap();
        let (a, b) = (faces_of(&dir, "00005"), faces_of(&dir, "00022"));
        assert!(a.len() == 2 && b.len() == 2, "two photos of each person");
        let sim = |x: &Rgb32FImage, y: &Rgb32FImage| dlib_similarities(&net, [x], y).unwrap()[0];
        assert!((sim(&a[0], &a[0]) - 1.0).abs() < 1e-5);
        let same = sim(&a[0], &a[1]).min(sim(&b[0], &b[1]));
        let different = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .map(|(i, j)| sim(&a[i], &b[j]))
            .into_iter()
            .fold(f64::MIN, f64::max);
        assert!(
            same > different,
            "same person {same:.3}, different people up to {different:.3}"
        );
    }
}
