//! Identity preservation: cosine similarity between face-recognition embeddings of a restored
//! face and of a reference (the ground truth in `sgpn-train eval`, the element's input in the
//! end-to-end tests on clean footage).
//!
//! The embedder is `fr_feature.onnx` (npm `faceplugin-face-recognition-js`, an ArcFace-style
//! network; provenance of its weights is not stated, so it is used for measurement only). What we
//! checked and assume, from the model file and the package's own `lib/fr_feature.js`:
//! - input `input` [1, 3, 112, 112] float, planar RGB (the JS reads canvas RGBA and writes
//!   channels 0, 1, 2 = R, G, B), each value `(p − 127) / 128` for p on 0..255;
//! - output `output` [1, 512], not normalised;
//! - the face is aligned to the standard 5-point ArcFace 112×112 template (the package's
//!   `REFERENCE_FACIAL_POINTS`, identical to insightface's `arcface_dst`). The package fits an
//!   affine transform to three of the points; we fit a similarity to all five with Umeyama, as
//!   insightface does, which is the better-conditioned choice.
//!
//! The package compares embeddings after subtracting their pairwise mean; we report the plain
//! cosine similarity of the raw embeddings, the usual ArcFace measure.

use std::path::Path;

use crate::runtime::SessionConfig;
use image::Rgb32FImage;
use ort::session::Session;
use ort::value::Tensor;
use sgpn_kernels::affine::umeyama_similarity;
use sgpn_kernels::image::RgbImage;
use sgpn_kernels::warp::warp_face_crop;

/// Side of the embedder's input.
pub const ARCFACE_SIZE: usize = 112;
/// Embedding length.
pub const EMBEDDING_DIM: usize = 512;
/// ArcFace 5-point template at 112×112 (left eye, right eye, nose, left and right mouth corner).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];
const INPUT_NAME: &str = "input";
const OUTPUT_NAME: &str = "output";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity model {path}: {source}")]
    Load {
        path: String,
        source: crate::ModelError,
    },
    #[error(
        "identity model {path}: expected input '{INPUT_NAME}' and output '{OUTPUT_NAME}', found inputs {inputs:?}, outputs {outputs:?}"
    )]
    Contract {
        path: String,
        inputs: Vec<String>,
        outputs: Vec<String>,
    },
    #[error("landmarks do not determine an alignment (degenerate points)")]
    Alignment,
    #[error("warping the face for the identity model failed: {0}")]
    Warp(String),
    #[error("identity model inference failed: {0}")]
    Run(#[from] ort::Error),
    #[error("identity model returned {found} values, expected {EMBEDDING_DIM}")]
    OutputSize { found: usize },
}

/// The face-recognition embedder.
pub struct IdentityEmbedder {
    session: Session,
}

impl IdentityEmbedder {
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Self, IdentityError> {
        let session = crate::build_session(path, cfg).map_err(|source| IdentityError::Load {
            path: path.display().to_string(),
            source,
        })?;
        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        let outputs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        if inputs != [INPUT_NAME] || !outputs.iter().any(|o| o == OUTPUT_NAME) {
            return Err(IdentityError::Contract {
                path: path.display().to_string(),
                inputs,
                outputs,
            });
        }
        Ok(Self { session })
    }

    /// The embedding of the face in `img` whose 5 landmarks are `landmarks`.
    pub fn embed(
        &mut self,
        img: &Rgb32FImage,
        landmarks: &[[f32; 2]; 5],
    ) -> Result<Vec<f32>, IdentityError> {
        let input = arcface_input(img, landmarks)?;
        let tensor = Tensor::from_array(([1usize, 3, ARCFACE_SIZE, ARCFACE_SIZE], input))?;
        let outputs = self.session.run(ort::inputs![INPUT_NAME => tensor])?;
        let (_, emb) = outputs[OUTPUT_NAME].try_extract_tensor::<f32>()?;
        if emb.len() != EMBEDDING_DIM {
            return Err(IdentityError::OutputSize { found: emb.len() });
        }
        Ok(emb.to_vec())
    }
}

/// Aligns the face to the ArcFace template and normalises it to the embedder's input.
pub fn arcface_input(
    img: &Rgb32FImage,
    landmarks: &[[f32; 2]; 5],
) -> Result<Vec<f32>, IdentityError> {
    let to_template =
        umeyama_similarity(landmarks, &ARCFACE_TEMPLATE).ok_or(IdentityError::Alignment)?;
    let crop_to_src = to_template.inverse().ok_or(IdentityError::Alignment)?;
    let src = RgbImage {
        width: img.width() as usize,
        height: img.height() as usize,
        data: img.as_raw().clone(),
    };
    let mut planar = vec![0.0f32; 3 * ARCFACE_SIZE * ARCFACE_SIZE];
    warp_face_crop(&src, &crop_to_src, ARCFACE_SIZE, &mut planar)
        .map_err(|e| IdentityError::Warp(e.to_string()))?;
    // The warp writes v = p/127.5 − 1; the embedder wants (p − 127)/128.
    for v in &mut planar {
        let p = (*v + 1.0) * 127.5;
        *v = (p - 127.0) / 128.0;
    }
    Ok(planar)
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_matches_hand_values() {
        assert!((cosine_similarity(&[1.0, 0.0], &[0.0, 2.0])).abs() < 1e-12);
        assert!((cosine_similarity(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert!(
            (cosine_similarity(&[1.0, 1.0], &[1.0, 0.0]) - std::f64::consts::FRAC_1_SQRT_2).abs()
                < 1e-12
        );
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn aligned_input_puts_the_landmarks_on_the_template() {
        // Draw bright dots at the landmarks of a face at 2× scale; after alignment the dots
        // land on the ArcFace template points.
        let lm = ARCFACE_TEMPLATE.map(|p| [2.0 * p[0] + 20.0, 2.0 * p[1] + 10.0]);
        let mut img = Rgb32FImage::from_pixel(300, 300, image::Rgb([0.0; 3]));
        for p in &lm {
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    img.put_pixel(
                        (p[0] as i32 + dx) as u32,
                        (p[1] as i32 + dy) as u32,
                        image::Rgb([255.0; 3]),
                    );
                }
            }
        }
        let input = arcface_input(&img, &lm).unwrap();
        let plane = ARCFACE_SIZE * ARCFACE_SIZE;
        for t in ARCFACE_TEMPLATE {
            let (x, y) = (t[0].round() as usize, t[1].round() as usize);
            // White is (255 − 127)/128 = 1.0 in the embedder's normalisation.
            assert!(input[y * ARCFACE_SIZE + x] > 0.9, "dot missing at {t:?}");
            assert!(input[plane + y * ARCFACE_SIZE + x] > 0.9);
        }
        // Black background: (0 − 127)/128.
        assert!((input[0] - (-127.0 / 128.0)).abs() < 1e-3);
    }
}
