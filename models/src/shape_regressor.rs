//! The 3DMM coefficient regressor of SGPN's shape restoration module (paper Sec. 3.1,
//! paper Sec. 3.1: a ResNet regresses D3DFR's coefficient vector from the LQ face) and its
//! contract (`models/README.md`, "The shape regressor contract"; docs/shape-prior.md):
//!
//! - input `face`, float32 `[N,3,224,224]` with a dynamic N: the generator's aligned crop resized
//!   to 224, RGB planar in [-1, 1];
//! - output `coeffs`, float32 `[N,K]`: Deep3DFaceRecon's order (`morphable::Coefficients`);
//! - metadata `sgpn.template` (the alignment of its input, as for the generator),
//!   `sgpn.morphable.sha256` (hex SHA-256 of the 3DMM file it was trained with),
//!   `sgpn.morphable` (that file's name, for messages), `sgpn.coefficients` (K).
//!
//! The coefficients only mean something for the 3DMM the regressor was trained with, so
//! [`ShapeRegressor::ensure_matches`] refuses any other file.

use std::io;
use std::path::{Path, PathBuf};

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{DynValue, TensorRef};
use sha2::{Digest, Sha256};

use crate::contract::{Template, template_metadata};
use crate::device::Device;
use crate::device_memory::{DeviceTensor, check_cuda_provider};
use crate::error::ModelError;
use crate::morphable::{Coefficients, MorphableModel};
use crate::runtime::{SessionConfig, build_session};
use crate::session_io::{self, DimRule};

pub const INPUT_FACE: &str = "face";
pub const OUTPUT_COEFFS: &str = "coeffs";
pub const META_MORPHABLE_SHA256: &str = "sgpn.morphable.sha256";
pub const META_MORPHABLE: &str = "sgpn.morphable";
pub const META_COEFFICIENTS: &str = "sgpn.coefficients";
/// Optional: how the regressor's 224×224 input is cut from the S×S crop: `resize` (default) or
/// `d3dfr` (the official SGPN code's per-face crop into Deep3DFaceRecon's frame, which also
/// renders in that frame and warps the render back; needs [`META_D3DFR_LANDMARKS`]).
pub const META_CROP: &str = "sgpn.regressor.crop";
/// The five 3D reference landmarks of the `d3dfr` crop: 15 numbers, x y z per point.
pub const META_D3DFR_LANDMARKS: &str = "sgpn.d3dfr.landmarks";
/// Side of the regressor's input face (D3DFR's 224 view, docs/shape-prior.md "Geometry").
pub const INPUT_SIZE: usize = 224;

const ROLE: &str = "shape regressor";

/// How the regressor's 224×224 input is cut from the generator's S×S crop ([`META_CROP`]).
#[derive(Clone, Debug, PartialEq)]
pub enum RegressorCrop {
    /// The whole crop resized to 224 (the project's regressors; docs/shape-prior.md).
    Resize,
    /// The official SGPN code's crop: per face, the scale and shift that put the crop's five
    /// landmarks where Deep3DFaceRecon's alignment puts them (a least-squares fit of `landmarks`,
    /// the five 3D reference points, to the 2D ones); the face is rendered in that 224 frame and
    /// warped back.
    D3dfr { landmarks: [[f32; 3]; 5] },
}

/// What the element needs to know about a regressor that passed the contract check.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressorInfo {
    pub path: PathBuf,
    /// The alignment of its input faces; must be the generator's.
    pub template: Template,
    /// Lower-case hex SHA-256 of the 3DMM file it was trained with.
    pub morphable_sha256: String,
    /// That 3DMM file's name, for messages.
    pub morphable_name: String,
    /// K, the length of one coefficient vector.
    pub coefficients: usize,
    /// How its input is cut from the crop.
    pub crop: RegressorCrop,
}

pub struct ShapeRegressor {
    pub info: RegressorInfo,
    session: Session,
    device: Device,
}

impl ShapeRegressor {
    /// Builds the session and checks the contract; the error names the file and what is wrong.
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Self, ModelError> {
        let session = build_session(path, cfg)?;
        let info = check_regressor(path, &session)?;
        Ok(Self {
            info,
            session,
            device: cfg.device,
        })
    }

    /// Whether the session runs on a CUDA provider (`cuda`, `tensorrt`), so that
    /// [`ShapeRegressor::regress_on_device`] can take faces where the kernels cut them.
    pub fn takes_device_memory(&self) -> bool {
        self.device != Device::Cpu
    }

    /// [`ShapeRegressor::regress`] on faces `[batch,3,224,224]` that live in CUDA device memory,
    /// bound to the session with no host copy (ONNX Runtime's IoBinding); the coefficients
    /// (`[batch,K]`, a few hundred floats) come back to the host. The session must run on a
    /// CUDA provider, on the stream the faces were written on (`SessionConfig::compute_stream`).
    ///
    /// # Safety
    /// `faces.address` must point to `batch·3·224·224` floats of device memory on
    /// `faces.ordinal` that stay allocated, and are not written, until this call returns.
    pub unsafe fn regress_on_device(
        &mut self,
        faces: DeviceTensor,
        batch: usize,
    ) -> Result<Vec<f32>, ModelError> {
        let path = self.info.path.clone();
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.clone(),
            reason: e.to_string(),
        };
        check_cuda_provider(self.device, &path)?;
        if batch == 0 {
            return Err(ModelError::Shape {
                path: path.clone(),
                what: "the batch size".to_owned(),
                expected: format!("[N,3,{INPUT_SIZE},{INPUT_SIZE}] with N ≥ 1"),
                found: "0".to_owned(),
            });
        }
        // SAFETY: the caller guarantees the address holds the batch on that device.
        let input =
            unsafe { faces.bind([batch, 3, INPUT_SIZE, INPUT_SIZE]) }.map_err(runtime_err)?;
        let mut binding = self.session.create_binding().map_err(runtime_err)?;
        binding
            .bind_input(INPUT_FACE, &input)
            .map_err(runtime_err)?;
        let host = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(runtime_err)?;
        binding
            .bind_output_to_device(OUTPUT_COEFFS, &host)
            .map_err(runtime_err)?;
        let outputs = self.session.run_binding(&binding).map_err(runtime_err)?;
        coefficients_of(&self.info, &outputs[OUTPUT_COEFFS], batch)
    }

    /// Values in one input face: 3·224·224.
    pub fn face_len(&self) -> usize {
        3 * INPUT_SIZE * INPUT_SIZE
    }

    /// Regresses the coefficients of `batch` faces (`faces` is `[batch,3,224,224]` in [-1, 1]);
    /// returns `[batch,K]`.
    pub fn regress(&mut self, faces: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let path = self.info.path.as_path();
        let want_len = batch * self.face_len();
        let shape_error = |what: &str, expected: String, found: String| ModelError::Shape {
            path: path.to_owned(),
            what: what.to_owned(),
            expected,
            found,
        };
        let input_shape = format!("{want_len} values ([{batch},3,{INPUT_SIZE},{INPUT_SIZE}])");
        if batch == 0 {
            return Err(shape_error("the batch size", input_shape, "0".to_owned()));
        }
        if faces.len() != want_len {
            return Err(shape_error(
                "input 'face'",
                input_shape,
                format!("{} values", faces.len()),
            ));
        }
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let input = TensorRef::from_array_view(([batch, 3, INPUT_SIZE, INPUT_SIZE], faces))
            .map_err(runtime_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_FACE => input])
            .map_err(runtime_err)?;
        coefficients_of(&self.info, &outputs[OUTPUT_COEFFS], batch)
    }

    /// Refuses a 3DMM the regressor was not trained with: another coefficient count, or a file
    /// (`morphable_path`, whose SHA-256 is `morphable_sha256`, e.g. from [`sha256_file`]) with
    /// another SHA-256 than `sgpn.morphable.sha256`. The message names both files.
    pub fn ensure_matches(
        &self,
        morphable: &MorphableModel,
        morphable_path: &Path,
        morphable_sha256: &str,
    ) -> Result<(), ModelError> {
        let info = &self.info;
        let problem = session_io::contract_problem(ROLE, &info.path);
        let needed = morphable.coefficient_count();
        if info.coefficients != needed {
            return Err(problem(format!(
                "outputs {} coefficients ({META_COEFFICIENTS}), but the 3DMM {} takes {needed} \
                 ({} id + {} exp + {} tex + {} pose and light)",
                info.coefficients,
                morphable_path.display(),
                morphable.id_components(),
                morphable.exp_components(),
                morphable.tex_components(),
                Coefficients::POSE_AND_LIGHT,
            )));
        }
        if !info.morphable_sha256.eq_ignore_ascii_case(morphable_sha256) {
            return Err(problem(format!(
                "was trained with the 3DMM '{}' (SHA-256 {}), but {} has SHA-256 {}: use the \
                 3DMM file the regressor was trained with, or a regressor trained with this one",
                info.morphable_name,
                info.morphable_sha256,
                morphable_path.display(),
                morphable_sha256
            )));
        }
        Ok(())
    }
}

/// The `[batch,K]` coefficients of an output value, its shape checked.
fn coefficients_of(
    info: &RegressorInfo,
    value: &DynValue,
    batch: usize,
) -> Result<Vec<f32>, ModelError> {
    let path = info.path.as_path();
    let k = info.coefficients;
    let (out_shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| ModelError::Runtime {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if **out_shape != [batch as i64, k as i64] {
        return Err(ModelError::Shape {
            path: path.to_owned(),
            what: "output 'coeffs'".to_owned(),
            expected: format!("shape [{batch}, {k}]"),
            found: format!("shape {:?}", &**out_shape),
        });
    }
    Ok(data.to_vec())
}

/// Lower-case hex SHA-256 of a file's bytes (the identity of a 3DMM file in
/// `sgpn.morphable.sha256`).
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let io_err = |source| ModelError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(io_err)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks a loaded regressor session against the contract (module header).
pub fn check_regressor(path: &Path, session: &Session) -> Result<RegressorInfo, ModelError> {
    let problem = session_io::contract_problem(ROLE, path);
    let metadata = session_io::metadata(session, &problem)?;
    let template = template_metadata(&metadata, &problem)?;
    let sha = session_io::required_metadata(
        &metadata,
        META_MORPHABLE_SHA256,
        "the hex SHA-256 of the 3DMM file it was trained with",
        &problem,
    )?;
    let sha = sha.trim().to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(problem(format!(
            "metadata '{META_MORPHABLE_SHA256}' must be 64 hex digits, found '{sha}'"
        )));
    }
    let morphable_name = session_io::required_metadata(
        &metadata,
        META_MORPHABLE,
        "the name of the 3DMM file it was trained with",
        &problem,
    )?;
    let k_text = session_io::required_metadata(
        &metadata,
        META_COEFFICIENTS,
        "the length K of its coefficient vector, e.g. 257",
        &problem,
    )?;
    let coefficients = k_text
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&k| k > Coefficients::POSE_AND_LIGHT)
        .ok_or_else(|| {
            problem(format!(
                "metadata '{META_COEFFICIENTS}' must be a coefficient count above {}, found \
                 '{k_text}'",
                Coefficients::POSE_AND_LIGHT
            ))
        })?;
    let s = INPUT_SIZE as i64;
    session_io::check_exactly(
        &problem,
        "input",
        session.inputs(),
        (&[INPUT_FACE], &[]),
        &[
            DimRule::Dynamic,
            DimRule::Equals(3),
            DimRule::Equals(s),
            DimRule::Equals(s),
        ],
        &format!("float32 [N,3,{s},{s}] with a dynamic N"),
    )?;
    session_io::check_exactly(
        &problem,
        "output",
        session.outputs(),
        (&[OUTPUT_COEFFS], &[]),
        &[DimRule::Any, DimRule::Equals(coefficients as i64)],
        &format!("float32 [N,{coefficients}] ({META_COEFFICIENTS} = {coefficients})"),
    )?;
    Ok(RegressorInfo {
        path: path.to_owned(),
        template,
        morphable_sha256: sha,
        morphable_name,
        coefficients,
        crop: crop_metadata(&metadata, &problem)?,
    })
}

/// [`META_CROP`] (absent: `resize`) and, for `d3dfr`, [`META_D3DFR_LANDMARKS`].
fn crop_metadata(
    metadata: &ort::session::ModelMetadata<'_>,
    problem: &dyn Fn(String) -> ModelError,
) -> Result<RegressorCrop, ModelError> {
    match metadata.custom(META_CROP).as_deref().map(str::trim) {
        None | Some("resize") => Ok(RegressorCrop::Resize),
        Some("d3dfr") => {
            let text = session_io::required_metadata(
                metadata,
                META_D3DFR_LANDMARKS,
                "15 numbers: x y z of the five 3D reference landmarks",
                problem,
            )?;
            let values: Vec<f32> = text
                .split_whitespace()
                .map(|v| v.parse::<f32>())
                .collect::<Result<_, _>>()
                .ok()
                .filter(|v: &Vec<f32>| v.len() == 15 && v.iter().all(|x| x.is_finite()))
                .ok_or_else(|| {
                    problem(format!(
                        "metadata '{META_D3DFR_LANDMARKS}' must be 15 finite numbers, found '{text}'"
                    ))
                })?;
            let mut landmarks = [[0.0; 3]; 5];
            for (p, xyz) in landmarks.iter_mut().zip(values.chunks_exact(3)) {
                p.copy_from_slice(xyz);
            }
            Ok(RegressorCrop::D3dfr { landmarks })
        }
        Some(other) => Err(problem(format!(
            "metadata '{META_CROP}' must be 'resize' or 'd3dfr', found '{other}'"
        ))),
    }
}
