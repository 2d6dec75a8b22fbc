//! Step 4a, shape: SGPN's shape restoration module (Zhu et al., CVPR 2022, Sec. 3.1 and Fig. 2;
//! paper Sec. 3.1). For the aligned crops of a frame: a regressor predicts D3DFR's 3DMM
//! coefficients from each LQ face, the 3DMM gives shape and albedo, and the face renderer shades
//! and rasterises them into `I_3d`, which a `full` generator takes next to the LQ face.
//!
//! Conventions (docs/shape-prior.md): the regressor sees the generator's S×S crop resized to
//! 224×224; rendering the coefficients with the 3DMM's camera scaled to S gives `I_3d` aligned
//! pixel for pixel with the crop, so nothing is warped back. `I_3d` is the render's colour
//! clamped to 0..1 and mapped to [-1, 1] by `2·c − 1`, −1 where the mesh covers no pixel.
//!
//! A regressor with `sgpn.regressor.crop = d3dfr` (the official SGPN release, imported by
//! `sgpn-train import-official`) follows the official code instead ([`crate::d3dfr_crop`]): each
//! face is cut from the crop into D3DFR's 224 frame by its landmarks, rendered there with
//! D3DFR's camera, and the render is warped back to the crop.
//!
//! The resize is the crop warp (`sgpn_kernels::warp`), on the kernels' own buffers
//! ([`ShapePrior::regress_on`]); the render is one batch of every face, straight from the
//! coefficients into the generator's `render` tensor through the pipeline's
//! `FaceKernels::render_crops` ([`ShapePrior::render_on`]): the CPU reference
//! (`sgpn_kernels::render::render_crops`) or, with `kernels=cuda`, the 3DMM's combination, the
//! vertex normals and the raster on the device (`morph.cu`, `normals.cu`, `render.cu`); the
//! `d3dfr` crop's renders are warped back into the crops there too. [`ShapePrior::render`] is
//! the same on the host, for evaluation.

use std::path::{Path, PathBuf};

use sgpn_kernels::KernelError;
use sgpn_kernels::affine::Affine2;
use sgpn_kernels::backend::{CpuKernels, FaceKernels};
use sgpn_kernels::render::{
    Camera, CoefficientBatch, FacePose, LinearPart, MorphableParts, RenderError, RenderTarget,
};
use sgpn_models::contract::GeneratorInfo;
use sgpn_models::device_memory::DeviceTensor;
use sgpn_models::morphable::{Basis, Coefficients, MorphableModel};
use sgpn_models::runtime::SessionConfig;
use sgpn_models::shape_regressor::{INPUT_SIZE, RegressorCrop, ShapeRegressor, sha256_file};

use crate::FaceError;
use crate::d3dfr_crop;
use crate::restore::{CropBatch, on_host};

/// The files of the shape prior.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeConfig {
    /// ONNX shape regressor (`models/README.md`, "The shape regressor contract").
    pub regressor_path: PathBuf,
    /// The 3DMM the regressor was trained with (`.safetensors` or BFM09 `.mat`).
    pub morphable_path: PathBuf,
}

/// The loaded shape prior with its per-frame buffers.
pub struct ShapePrior {
    regressor: ShapeRegressor,
    morphable: MorphableModel,
    morphable_path: PathBuf,
    /// The 3DMM's camera where faces are rendered: at the generator's crop size S, or at 224
    /// for the `d3dfr` crop.
    camera: Camera,
    /// Per face of the last batch, crop → 224 (the `d3dfr` crop; identity-free otherwise).
    frames: Vec<Affine2>,
}

impl ShapePrior {
    /// Loads the regressor and the 3DMM and checks that they belong together (coefficient count,
    /// the 3DMM file's SHA-256) and to the generator (alignment template).
    pub fn load(
        cfg: &ShapeConfig,
        session: &SessionConfig,
        generator: &GeneratorInfo,
    ) -> Result<Self, FaceError> {
        let regressor = ShapeRegressor::load(&cfg.regressor_path, session)?;
        if regressor.info.template != generator.template {
            return Err(FaceError::Config {
                path: cfg.regressor_path.clone(),
                problem: format!(
                    "the shape regressor expects faces aligned to the '{}' template, but the \
                     generator {} is aligned to '{}'",
                    regressor.info.template,
                    generator.path.display(),
                    generator.template
                ),
            });
        }
        let morphable = MorphableModel::load(&cfg.morphable_path)?;
        morphable.validate()?;
        let sha256 = sha256_file(&cfg.morphable_path)?;
        regressor.ensure_matches(&morphable, &cfg.morphable_path, &sha256)?;
        if let Some(k) = generator.coefficients
            && k != regressor.info.coefficients
        {
            return Err(FaceError::Config {
                path: cfg.regressor_path.clone(),
                problem: format!(
                    "the shape regressor outputs {} coefficients, but the generator {} takes {k}",
                    regressor.info.coefficients,
                    generator.path.display()
                ),
            });
        }
        let render_size = match regressor.info.crop {
            RegressorCrop::Resize => generator.size,
            RegressorCrop::D3dfr { .. } => d3dfr_crop::FRAME,
        };
        let camera = morphable.camera.at_size(render_size);
        camera.validate().map_err(|e| FaceError::Config {
            path: cfg.morphable_path.clone(),
            problem: format!(
                "its camera cannot render {}-pixel faces: {e}",
                generator.size
            ),
        })?;
        Ok(Self {
            regressor,
            morphable,
            morphable_path: cfg.morphable_path.clone(),
            camera,
            frames: Vec::new(),
        })
    }

    /// The regressor's file.
    pub fn regressor_path(&self) -> &Path {
        &self.regressor.info.path
    }

    /// Cuts every crop of `crops` to the regressor's 224×224 input and regresses all of them in
    /// one run; returns the coefficients `[N,K]`. `landmarks` are each face's five landmarks in
    /// its crop (used by the `d3dfr` crop). On the host: [`ShapePrior::regress_on`] with the CPU
    /// references.
    pub fn regress(
        &mut self,
        crops: &CropBatch,
        landmarks: &[[[f32; 2]; 5]],
    ) -> Result<Vec<f32>, FaceError> {
        let batch = crops.as_slice().to_vec();
        self.regress_on(&CpuKernels, &batch, (crops.len(), crops.size()), landmarks)
    }

    /// [`ShapePrior::regress`] on the crop batch `crops` (`count` crops of side `size`) where
    /// `kernels` compute: each crop is cut to the regressor's input there, and the regressor
    /// is bound to that buffer when it runs on a CUDA provider and the kernels keep device
    /// buffers; otherwise it reads the input on the host (copied there from a device).
    ///
    /// The `resize` crop is the crop warp with a pixel-centre-aligned scale (224-pixel x maps to
    /// `(x + 0.5)·S/224 − 0.5`, the same scaling `Camera` applies to the render); the `d3dfr` crop
    /// is [`d3dfr_crop::crop_to_frame`]. Both sample bilinearly, with a box over each pixel's
    /// footprint where it exceeds 1.5 crop pixels (`sgpn_kernels::warp`).
    pub fn regress_on<K: FaceKernels>(
        &mut self,
        kernels: &K,
        crops: &K::Buffer,
        (count, size): (usize, usize),
        landmarks: &[[[f32; 2]; 5]],
    ) -> Result<Vec<f32>, FaceError> {
        let transforms = self.regressor_crops(count, size, landmarks)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut faces = kernels.zeros(count * self.regressor.face_len())?;
        for (slot, to_crop) in transforms.iter().enumerate() {
            let region = kernels.crop_to_region(crops, slot, size)?;
            let one = std::slice::from_ref(to_crop);
            kernels.warp_face_crops(&region, size, size, one, INPUT_SIZE, &mut faces, slot)?;
        }
        if self.regressor.takes_device_memory()
            && let Some((ordinal, address)) = kernels.device_address(&faces)
        {
            let faces_on_device = DeviceTensor { ordinal, address };
            // SAFETY: `faces` holds `count·3·224·224` floats on the kernels' device (allocated
            // above) and lives past the call; the session runs on the kernels' stream.
            return Ok(unsafe { self.regressor.regress_on_device(faces_on_device, count) }?);
        }
        Ok(self.regressor.regress(&on_host(kernels, &faces)?, count)?)
    }

    /// Per face, the regressor's 224 input → the crop (and, for the `d3dfr` crop, the crop →
    /// D3DFR's frame kept for the render).
    fn regressor_crops(
        &mut self,
        count: usize,
        size: usize,
        landmarks: &[[[f32; 2]; 5]],
    ) -> Result<Vec<Affine2>, FaceError> {
        let r = size as f32 / INPUT_SIZE as f32;
        let resize = Affine2::scale_translate(r, 0.5 * r - 0.5, 0.5 * r - 0.5);
        self.frames.clear();
        (0..count)
            .map(|face| match &self.regressor.info.crop {
                RegressorCrop::Resize => Ok(resize),
                RegressorCrop::D3dfr {
                    landmarks: reference,
                } => {
                    let frame = landmarks
                        .get(face)
                        .and_then(|points| d3dfr_crop::crop_to_frame(points, reference, size))
                        .and_then(|m| m.inverse().map(|inv| (m, inv)));
                    let Some((m, inv)) = frame else {
                        return Err(FaceError::Config {
                            path: self.regressor.info.path.clone(),
                            problem: format!(
                                "face {face}: its landmarks give no crop into D3DFR's frame (degenerate points)"
                            ),
                        });
                    };
                    self.frames.push(m);
                    Ok(inv)
                }
            })
            .collect()
    }

    /// [`ShapePrior::render_on`] with the CPU references: `I_3d` of every face as the
    /// generator's `render` input, `[N,3,S,S]` in [-1, 1], on the host (evaluation).
    pub fn render(&self, coefficients: &[f32], size: usize) -> Result<Vec<f32>, FaceError> {
        Ok(self.render_on(&CpuKernels, &(), coefficients, size)?.0)
    }

    /// The 3DMM as the kernels render from it (`FaceKernels::load_morphable`).
    pub fn morphable_parts(&self) -> MorphableParts<'_> {
        let m = &self.morphable;
        MorphableParts {
            identity: part(&m.mean_shape, &m.id_basis),
            expression: part(&m.mean_shape, &m.exp_basis),
            albedo: part(&m.mean_albedo, &m.albedo_basis),
            triangles: &m.triangles,
        }
    }

    /// Renders every face from its coefficients (`[N,K]` from [`ShapePrior::regress`]) straight
    /// into the generator's `render` batch `[N,3,S,S]` where `kernels` compute, with each
    /// face's coverage `[N,S,S]` (1 where the mesh covers the pixel): shape, albedo, normals,
    /// raster and the mapping to [-1, 1] all on the device with `kernels=cuda`
    /// (`FaceKernels::render_crops`). `loaded` is [`ShapePrior::morphable_parts`] after
    /// `FaceKernels::load_morphable`. With the `d3dfr` crop the faces are rendered in D3DFR's
    /// frame and warped back into the crops there (`RenderTarget::Frame`, the transforms of the
    /// last [`ShapePrior::regress_on`]).
    pub fn render_on<K: FaceKernels>(
        &self,
        kernels: &K,
        loaded: &K::Morphable,
        coefficients: &[f32],
        size: usize,
    ) -> Result<(K::Buffer, K::Buffer), FaceError> {
        let k = self.morphable.coefficient_count();
        let split = coefficients
            .chunks_exact(k)
            .map(|values| Coefficients::split(values, &self.morphable))
            .collect::<Result<Vec<_>, _>>()?;
        let flat = |part: fn(&Coefficients) -> &[f32]| -> Vec<f32> {
            split.iter().flat_map(|c| part(c).iter().copied()).collect()
        };
        let (identity, expression, albedo) = (flat(|c| &c.id), flat(|c| &c.exp), flat(|c| &c.tex));
        let batch = CoefficientBatch {
            identity: &identity,
            expression: &expression,
            albedo: &albedo,
            poses: split
                .iter()
                .map(|c| FacePose {
                    angles: c.angles,
                    translation: c.translation,
                    gamma: &c.gamma,
                })
                .collect(),
        };
        let target = match self.regressor.info.crop {
            RegressorCrop::Resize => RenderTarget::Crop,
            RegressorCrop::D3dfr { .. } => RenderTarget::Frame {
                crop_to_frame: &self.frames,
                size,
            },
        };
        kernels
            .render_crops(
                &self.morphable_parts(),
                loaded,
                &batch,
                &self.camera,
                target,
            )
            .map_err(|e| self.render_error(e))
    }

    /// A face the renderer refused, named with the 3DMM file.
    fn render_error(&self, e: KernelError) -> FaceError {
        match e {
            KernelError::Render(RenderError::Face { face, source }) => FaceError::Render {
                face,
                path: self.morphable_path.clone(),
                source: *source,
            },
            other => FaceError::Kernel(other),
        }
    }
}

/// The rendered faces `renders` (`[N,3,S,S]`, with their `coverage` `[N,S,S]`, from
/// [`ShapePrior::render_on`]) over `lq`: `I_3d` where the mesh covers a pixel, the LQ crop
/// elsewhere, so that pasting it back shows the shape prior only where it exists.
pub fn composite_over(lq: &[f32], renders: &[f32], coverage: &[f32], size: usize) -> Vec<f32> {
    let plane = size * size;
    let mut out = lq.to_vec();
    for ((out, render), coverage) in out
        .chunks_exact_mut(3 * plane)
        .zip(renders.chunks_exact(3 * plane))
        .zip(coverage.chunks_exact(plane))
    {
        for c in 0..3 {
            let range = c * plane..(c + 1) * plane;
            for ((o, &r), &m) in out[range.clone()]
                .iter_mut()
                .zip(&render[range])
                .zip(coverage)
            {
                if m > 0.0 {
                    *o = r;
                }
            }
        }
    }
    out
}

/// A 3DMM part as the kernels take it.
fn part<'a>(mean: &'a [f32], basis: &'a Basis) -> LinearPart<'a> {
    LinearPart {
        mean,
        basis: &basis.values,
        components: basis.components,
    }
}
