//! `sgpn-train prepare`: aligned face crops for training, made the way the element makes them
//! (facexlib's `FaceRestoreHelper` steps): detect (RetinaFace, 5 landmarks) → pick the main face →
//! fit a similarity (Umeyama) from its landmarks to the template scaled to the crop size → warp the
//! crop with the element's own kernel (`sgpn_kernels::warp::warp_face_crop`).
//!
//! Photos whose main face is not a good training target are rejected, each for a counted reason:
//! no face; several faces of similar size (the main face is ambiguous); low detector score; face
//! too small (its eye distance would be upsampled too much); too much of the crop is fill (outside
//! the photo, or the black rotation corners of the All-Age-Faces photos).
//!
//! Output, in the cache folder: `crops/<source stem>.png` (S×S, RGB) and `results.jsonl`, one JSON
//! line per source photo with its outcome. A re-run skips every photo already in `results.jsonl`,
//! so interrupted runs resume and finished runs cost a directory listing.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sgpn_kernels::affine::{Affine2, umeyama_similarity};

/// Eye distance of the main face must be at least this fraction of the template's eye distance
/// at the crop size: below it the crop would be upsampled more than 1/0.6 ≈ 1.7×, too soft to be
/// a high-quality target.
pub const MIN_EYE_DISTANCE_RATIO: f32 = 0.6;
/// A second face at least this large (eye distance relative to the largest) makes the main face
/// ambiguous.
pub const AMBIGUITY_RATIO: f32 = 0.7;
/// Detector score the main face needs.
pub const MIN_SCORE: f32 = 0.9;
/// Detections below this score are ignored altogether.
pub const DETECT_THRESHOLD: f32 = 0.5;
/// Non-maximum suppression IoU of the detector.
pub const NMS_IOU: f32 = 0.4;
/// Largest fraction of the crop that may be fill.
pub const MAX_FILL_FRACTION: f32 = 0.3;
/// Channel values at or below this count as black fill when connected to the photo's border.
const BLACK_FILL_LEVEL: u8 = 12;

/// One detected face as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceCandidate {
    pub score: f32,
    /// left eye, right eye, nose, left mouth corner, right mouth corner (source pixels).
    pub landmarks: [[f32; 2]; 5],
}

impl FaceCandidate {
    pub fn eye_distance(&self) -> f32 {
        let [l, r] = [self.landmarks[0], self.landmarks[1]];
        ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2)).sqrt()
    }
}

/// Why a photo gave no crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    Unreadable,
    NoFace,
    AmbiguousMainFace,
    LowScore,
    TooSmall,
    TooMuchFill,
    AlignmentFailed,
}

impl Rejection {
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Unreadable => "unreadable",
            Rejection::NoFace => "no face",
            Rejection::AmbiguousMainFace => "ambiguous main face",
            Rejection::LowScore => "low score",
            Rejection::TooSmall => "too small",
            Rejection::TooMuchFill => "too much fill",
            Rejection::AlignmentFailed => "alignment failed",
        }
    }
}

/// Thresholds of the rejection rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectionRules {
    pub min_score: f32,
    pub min_eye_distance: f32,
    pub ambiguity_ratio: f32,
    pub max_fill_fraction: f32,
}

impl SelectionRules {
    /// The default rules for crops of `size` px aligned to `template` (its landmarks at `size`).
    pub fn for_template(template: &[[f32; 2]; 5]) -> Self {
        let (l, r) = (template[0], template[1]);
        let eyes = ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2)).sqrt();
        Self {
            min_score: MIN_SCORE,
            min_eye_distance: MIN_EYE_DISTANCE_RATIO * eyes,
            ambiguity_ratio: AMBIGUITY_RATIO,
            max_fill_fraction: MAX_FILL_FRACTION,
        }
    }
}

/// Picks the main face (largest eye distance) or says why there is none usable.
pub fn select_main_face(
    faces: &[FaceCandidate],
    rules: &SelectionRules,
) -> Result<FaceCandidate, Rejection> {
    let mut by_size: Vec<&FaceCandidate> = faces.iter().collect();
    by_size.sort_by(|a, b| b.eye_distance().total_cmp(&a.eye_distance()));
    let main = **by_size.first().ok_or(Rejection::NoFace)?;
    if let Some(second) = by_size.get(1)
        && second.eye_distance() >= rules.ambiguity_ratio * main.eye_distance()
    {
        return Err(Rejection::AmbiguousMainFace);
    }
    if main.score < rules.min_score {
        return Err(Rejection::LowScore);
    }
    if main.eye_distance() < rules.min_eye_distance {
        return Err(Rejection::TooSmall);
    }
    Ok(main)
}

/// Marks the near-black pixels connected to the photo's border (4-neighbour flood fill): the
/// black corners left by rotating a photo, which are fill, not content.
pub fn black_border_mask(img: &image::RgbImage) -> Vec<bool> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let dark = |x: usize, y: usize| {
        img.get_pixel(x as u32, y as u32)
            .0
            .iter()
            .all(|v| *v <= BLACK_FILL_LEVEL)
    };
    let mut mask = vec![false; w * h];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for x in 0..w {
        stack.push((x, 0));
        stack.push((x, h - 1));
    }
    for y in 0..h {
        stack.push((0, y));
        stack.push((w - 1, y));
    }
    while let Some((x, y)) = stack.pop() {
        if mask[y * w + x] || !dark(x, y) {
            continue;
        }
        mask[y * w + x] = true;
        if x > 0 {
            stack.push((x - 1, y));
        }
        if x + 1 < w {
            stack.push((x + 1, y));
        }
        if y > 0 {
            stack.push((x, y - 1));
        }
        if y + 1 < h {
            stack.push((x, y + 1));
        }
    }
    mask
}

/// Fraction of the `size`×`size` crop whose pixel centres map outside the photo or onto
/// `fill_mask` pixels (nearest source pixel).
pub fn fill_fraction(
    crop_to_src: &Affine2,
    size: usize,
    width: usize,
    height: usize,
    fill_mask: &[bool],
) -> f32 {
    let mut fill = 0usize;
    for y in 0..size {
        for x in 0..size {
            let (sx, sy) = crop_to_src.apply(x as f32, y as f32);
            let (xi, yi) = (sx.round(), sy.round());
            let inside = xi >= 0.0 && yi >= 0.0 && xi < width as f32 && yi < height as f32;
            if !inside || fill_mask[yi as usize * width + xi as usize] {
                fill += 1;
            }
        }
    }
    fill as f32 / (size * size) as f32
}

/// The outcome of one photo, one line of `results.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrepareRecord {
    /// File name of the source photo.
    pub source: String,
    /// Crop file name inside `crops/` when accepted.
    pub crop: Option<String>,
    pub rejection: Option<Rejection>,
    pub face: Option<FaceCandidate>,
    pub fill_fraction: Option<f32>,
}

/// Totals over a cache folder's records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrepareSummary {
    pub prepared: usize,
    pub rejected: BTreeMap<Rejection, usize>,
    /// Photos handled by this run (the rest came from earlier runs).
    pub processed_now: usize,
}

impl std::fmt::Display for PrepareSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: usize = self.rejected.values().sum();
        write!(f, "prepared {}, rejected {total}", self.prepared)?;
        let parts: Vec<String> = self
            .rejected
            .iter()
            .map(|(r, n)| format!("{} {n}", r.label()))
            .collect();
        if !parts.is_empty() {
            write!(f, ": {}", parts.join(", "))?;
        }
        write!(f, " ({} processed in this run)", self.processed_now)
    }
}

/// Reads the records of an earlier run (a torn last line from an interrupted run is ignored).
pub fn read_records(path: &Path) -> Result<Vec<PrepareRecord>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(r) = serde_json::from_str::<PrepareRecord>(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Totals of a record list.
pub fn summarize(records: &[PrepareRecord], processed_now: usize) -> PrepareSummary {
    let mut s = PrepareSummary {
        processed_now,
        ..Default::default()
    };
    for r in records {
        match r.rejection {
            Some(why) => *s.rejected.entry(why).or_default() += 1,
            None => s.prepared += 1,
        }
    }
    s
}

/// The accepted crops of a prepared cache folder, sorted.
pub fn prepared_crops(cache: &Path) -> Result<Vec<PathBuf>> {
    let records = read_records(&cache.join("results.jsonl"))?;
    let mut crops: Vec<PathBuf> = records
        .iter()
        .filter_map(|r| r.crop.as_ref().map(|c| cache.join("crops").join(c)))
        .filter(|p| p.exists())
        .collect();
    crops.sort();
    Ok(crops)
}

/// Fits the frame → crop similarity for `face` and returns its inverse (crop → frame), the form
/// the warp kernel takes.
pub fn crop_to_source(face: &FaceCandidate, template: &[[f32; 2]; 5]) -> Option<Affine2> {
    umeyama_similarity(&face.landmarks, template)?.inverse()
}

/// Appends one record and flushes, so an interrupted run loses at most the photo in flight.
fn append_record(file: &mut File, record: &PrepareRecord) -> Result<()> {
    let line = serde_json::to_string(record)?;
    writeln!(file, "{line}")?;
    file.flush()?;
    Ok(())
}

/// What `prepare` needs from a face detector: faces with 5 landmarks in an RGB photo.
pub trait DetectFaces {
    fn detect_faces(&mut self, img: &image::RgbImage) -> Result<Vec<FaceCandidate>>;
}

/// The project's RetinaFace detector (`sgpn_models::detector`) behind [`DetectFaces`].
pub struct RetinaFace(pub sgpn_models::detector::FaceDetector);

impl RetinaFace {
    /// Loads the detector model at `path`.
    pub fn load(path: &Path, cfg: &sgpn_models::SessionConfig) -> Result<Self> {
        let d = sgpn_models::detector::FaceDetector::load(path, cfg)
            .with_context(|| format!("cannot load the face detector {}", path.display()))?;
        Ok(Self(d))
    }
}

impl DetectFaces for RetinaFace {
    fn detect_faces(&mut self, img: &image::RgbImage) -> Result<Vec<FaceCandidate>> {
        let src = sgpn_kernels::image::RgbImage::from_rgb8(
            img.width() as usize,
            img.height() as usize,
            img.as_raw(),
        )?;
        Ok(self
            .0
            .detect(&src, DETECT_THRESHOLD, NMS_IOU)?
            .into_iter()
            .map(|d| FaceCandidate {
                score: d.score,
                landmarks: d.landmarks,
            })
            .collect())
    }
}

/// Runs the preparation over `input` into `cache` (at most `limit` photos from the sorted list).
pub fn prepare_dir(
    input: &Path,
    cache: &Path,
    size: usize,
    template: &[[f32; 2]; 5],
    detector: &mut dyn DetectFaces,
    limit: Option<usize>,
    mut progress: impl FnMut(usize, usize),
) -> Result<PrepareSummary> {
    let crops_dir = cache.join("crops");
    std::fs::create_dir_all(&crops_dir)
        .with_context(|| format!("cannot create {}", crops_dir.display()))?;
    let results_path = cache.join("results.jsonl");
    let mut records = read_records(&results_path)?;
    let done: HashSet<String> = records.iter().map(|r| r.source.clone()).collect();
    let mut files = super::grid::list_images(input)?;
    if let Some(n) = limit {
        files.truncate(n);
    }
    let todo: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| !done.contains(&file_name(p)))
        .collect();
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .with_context(|| format!("cannot open {}", results_path.display()))?;
    let rules = SelectionRules::for_template(template);
    let mut planar = vec![0.0f32; 3 * size * size];
    for (i, path) in todo.iter().enumerate() {
        let record = prepare_one(
            path,
            &crops_dir,
            size,
            template,
            &rules,
            detector,
            &mut planar,
        )?;
        append_record(&mut out, &record)?;
        records.push(record);
        progress(i + 1, todo.len());
    }
    Ok(summarize(&records, todo.len()))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Detect → select → align → check fill → warp → save, for one photo.
fn prepare_one(
    path: &Path,
    crops_dir: &Path,
    size: usize,
    template: &[[f32; 2]; 5],
    rules: &SelectionRules,
    detector: &mut dyn DetectFaces,
    planar: &mut [f32],
) -> Result<PrepareRecord> {
    let source = file_name(path);
    let mut record = PrepareRecord {
        source: source.clone(),
        crop: None,
        rejection: None,
        face: None,
        fill_fraction: None,
    };
    let Ok(photo) = image::open(path).map(|i| i.to_rgb8()) else {
        record.rejection = Some(Rejection::Unreadable);
        return Ok(record);
    };
    let faces = detector
        .detect_faces(&photo)
        .with_context(|| format!("face detection failed on {}", path.display()))?;
    let face = match select_main_face(&faces, rules) {
        Ok(f) => f,
        Err(why) => {
            record.rejection = Some(why);
            return Ok(record);
        }
    };
    record.face = Some(face);
    let Some(crop_to_src) = crop_to_source(&face, template) else {
        record.rejection = Some(Rejection::AlignmentFailed);
        return Ok(record);
    };
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let fill = fill_fraction(&crop_to_src, size, w, h, &black_border_mask(&photo));
    record.fill_fraction = Some(fill);
    if fill > rules.max_fill_fraction {
        record.rejection = Some(Rejection::TooMuchFill);
        return Ok(record);
    }
    let src = sgpn_kernels::image::RgbImage::from_rgb8(w, h, photo.as_raw())?;
    sgpn_kernels::warp::warp_face_crop(&src, &crop_to_src, size, planar)?;
    let crop = super::pixels::from_network_planar(planar, size as u32, size as u32)
        .context("warped crop has the wrong size")?;
    let name = Path::new(&source).with_extension("png");
    let name = name.to_string_lossy().into_owned();
    let crop_path = crops_dir.join(&name);
    super::pixels::f32_to_rgb8(&crop)
        .save(&crop_path)
        .with_context(|| format!("cannot write {}", crop_path.display()))?;
    record.crop = Some(name);
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE_256: [[f32; 2]; 5] = [
        [101.02, 121.44],
        [154.715, 121.145],
        [128.04, 151.98],
        [105.98, 183.415],
        [150.445, 183.17],
    ];

    fn face(score: f32, x: f32, y: f32, eyes: f32) -> FaceCandidate {
        FaceCandidate {
            score,
            landmarks: [
                [x - eyes / 2.0, y],
                [x + eyes / 2.0, y],
                [x, y + 0.55 * eyes],
                [x - 0.4 * eyes, y + eyes],
                [x + 0.4 * eyes, y + eyes],
            ],
        }
    }

    #[test]
    fn rules_pick_the_largest_face_and_name_the_rejection() {
        let rules = SelectionRules::for_template(&TEMPLATE_256);
        // Template eye distance 53.7 px → minimum 32.2 px.
        assert!((rules.min_eye_distance - 0.6 * 53.695).abs() < 0.01);
        assert_eq!(select_main_face(&[], &rules), Err(Rejection::NoFace));
        let big = face(0.99, 150.0, 150.0, 80.0);
        let small = face(0.95, 40.0, 40.0, 20.0);
        assert_eq!(select_main_face(&[small, big], &rules), Ok(big));
        let rival = face(0.97, 60.0, 150.0, 70.0);
        assert_eq!(
            select_main_face(&[big, rival], &rules),
            Err(Rejection::AmbiguousMainFace)
        );
        assert_eq!(
            select_main_face(&[face(0.6, 150.0, 150.0, 80.0)], &rules),
            Err(Rejection::LowScore)
        );
        assert_eq!(
            select_main_face(&[face(0.99, 150.0, 150.0, 25.0)], &rules),
            Err(Rejection::TooSmall)
        );
    }

    #[test]
    fn fill_fraction_counts_outside_and_masked_pixels() {
        // Crop 10×10 mapped 1:1 onto a 10×10 photo shifted right by 5: half the crop is outside.
        let shift = Affine2::scale_translate(1.0, 5.0, 0.0);
        let none = vec![false; 100];
        assert!((fill_fraction(&shift, 10, 10, 10, &none) - 0.5).abs() < 1e-6);
        // Identity with the top row masked: 10 %.
        let mut mask = vec![false; 100];
        mask[..10].iter_mut().for_each(|m| *m = true);
        assert!((fill_fraction(&Affine2::identity(), 10, 10, 10, &mask) - 0.1).abs() < 1e-6);
    }

    #[test]
    fn black_mask_follows_border_connected_dark_pixels_only() {
        let mut img = image::RgbImage::from_pixel(8, 8, image::Rgb([120, 110, 100]));
        img.put_pixel(0, 0, image::Rgb([0, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([5, 3, 2]));
        img.put_pixel(4, 4, image::Rgb([0, 0, 0])); // dark but enclosed: content (hair, pupil)
        let m = black_border_mask(&img);
        assert!(m[0] && m[1]);
        assert!(!m[4 * 8 + 4]);
        assert_eq!(m.iter().filter(|v| **v).count(), 2);
    }

    #[test]
    fn alignment_maps_landmarks_onto_the_template() {
        // A face at twice the template scale, shifted: crop → source must send template points
        // to the face's landmarks.
        let f = FaceCandidate {
            score: 0.99,
            landmarks: TEMPLATE_256.map(|p| [2.0 * p[0] + 30.0, 2.0 * p[1] - 10.0]),
        };
        let m = crop_to_source(&f, &TEMPLATE_256).unwrap();
        for (t, l) in TEMPLATE_256.iter().zip(&f.landmarks) {
            let (x, y) = m.apply(t[0], t[1]);
            assert!((x - l[0]).abs() < 1e-2 && (y - l[1]).abs() < 1e-2);
        }
    }

    #[test]
    fn summary_reads_like_the_cli_output() {
        let rec = |rej| PrepareRecord {
            source: "a.jpg".into(),
            crop: None,
            rejection: rej,
            face: None,
            fill_fraction: None,
        };
        let s = summarize(
            &[
                rec(None),
                rec(Some(Rejection::NoFace)),
                rec(Some(Rejection::NoFace)),
                rec(Some(Rejection::TooSmall)),
            ],
            4,
        );
        assert_eq!(
            s.to_string(),
            "prepared 1, rejected 3: no face 2, too small 1 (4 processed in this run)"
        );
    }

    /// Finds one face at fixed landmarks in any photo that is not black.
    struct FixedFace([[f32; 2]; 5]);

    impl DetectFaces for FixedFace {
        fn detect_faces(&mut self, img: &image::RgbImage) -> Result<Vec<FaceCandidate>> {
            let lit = img.as_raw().iter().any(|v| *v > 50);
            Ok(if lit {
                vec![FaceCandidate {
                    score: 0.99,
                    landmarks: self.0,
                }]
            } else {
                vec![]
            })
        }
    }

    #[test]
    fn prepare_dir_writes_crops_records_and_resumes() {
        let root = std::env::temp_dir().join(format!("sgpn-prepare-test-{}", std::process::id()));
        let (input, cache) = (root.join("in"), root.join("cache"));
        std::fs::create_dir_all(&input).unwrap();
        // A 300×360 "photo" with a gradient, and a black one.
        image::RgbImage::from_fn(300, 360, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        })
        .save(input.join("a.jpg"))
        .unwrap();
        image::RgbImage::new(300, 360)
            .save(input.join("b.png"))
            .unwrap();
        // The face: the 256 template at 1.2× scale around the photo centre.
        let lm = TEMPLATE_256.map(|p| [(p[0] - 128.0) * 1.2 + 150.0, (p[1] - 128.0) * 1.2 + 180.0]);
        let mut det = FixedFace(lm);
        let s = prepare_dir(
            &input,
            &cache,
            256,
            &TEMPLATE_256,
            &mut det,
            None,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(
            s.to_string(),
            "prepared 1, rejected 1: no face 1 (2 processed in this run)"
        );
        let crop = image::open(cache.join("crops/a.png")).unwrap().to_rgb8();
        assert_eq!(crop.dimensions(), (256, 256));
        // The crop centre samples the photo at the face centre (150, 180) scaled back: the
        // gradient's red channel there is x ≈ 150.
        let centre = crop.get_pixel(128, 128);
        assert!((i32::from(centre[0]) - 150).abs() <= 4, "{centre:?}");
        assert_eq!(
            prepared_crops(&cache).unwrap(),
            vec![cache.join("crops/a.png")]
        );
        // A second run finds everything done.
        let again = prepare_dir(
            &input,
            &cache,
            256,
            &TEMPLATE_256,
            &mut det,
            None,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(again.processed_now, 0);
        assert_eq!(
            (again.prepared, again.rejected.values().sum::<usize>()),
            (1, 1)
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
