//! The shape branch in training (paper Sec. 3.1 and the mesh-level losses of Sec. 3.3,
//! Eq. 13–15; conventions in docs/shape-prior.md): the shape regressor reads the LQ face (resized
//! to D3DFR's 224 view), the 3DMM turns its coefficients into a posed, lit mesh, the
//! differentiable renderer draws `I_3d` at the generator's size, and two losses tie it down:
//!
//! - `L_mesh` (Eq. 14): the regressor's reconstruction from the LQ face against the frozen
//!   teacher's reconstruction of the HQ face, per vertex: the shape, the shaded colours
//!   (albedo × SH lighting) and the projected positions in the 224 view (so the pose and
//!   placement the render depends on are supervised too).
//! - `L_lm` (Eq. 13): the 68 landmarks that a **frozen** regressor predicts from the restored
//!   and from the HQ face, projected into the 224 view; the generator's gradient flows through
//!   the restored face.
//!
//! Both are mean Euclidean distances; landmark distances are in units of the 224 view's width so
//! that `100·L_lm` is of the order of the L1 loss (paper weights λ_lm = λ_mesh = 100).

use std::path::Path;

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::Int;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use sgpn_models::morphable::{Coefficients, MorphableModel};

use super::source::PairOrigin;
use crate::model::regressor::{REGRESSOR_SIZE, ShapeRegressor};
use crate::morphable::teacher::TeacherCache;
use crate::render::normals::vertex_normals;
use crate::render::pose::rotation;
use crate::render::sh::sh_shade;
use crate::render::{FaceBatch, FaceRenderer, Mesh};

/// The aligned faces `[N,3,S,S]` resized to the regressor's 224 view: bilinear with half-pixel
/// centres (`align_corners = false`), the sampling the element's warp uses.
pub fn regressor_view(faces: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = faces.dims();
    if h == REGRESSOR_SIZE && w == REGRESSOR_SIZE {
        return faces;
    }
    interpolate(
        faces,
        InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size([REGRESSOR_SIZE, REGRESSOR_SIZE]),
    )
}

/// The linear 3DMM as constant tensors: `S = S̄ + B_id·α (+ B_exp·β)`, `T = T̄ + B_t·δ`.
#[derive(Clone, Debug)]
pub struct MorphableTensors {
    vertices: usize,
    k_id: usize,
    k_exp: usize,
    k_tex: usize,
    /// [1, 3V]
    mean_shape: Tensor<2>,
    /// [K_id + K_exp, 3V]: identity then expression rows (the coefficient order).
    shape_basis: Tensor<2>,
    /// [1, 3V]
    mean_albedo: Tensor<2>,
    /// [K_tex, 3V]
    albedo_basis: Tensor<2>,
}

/// Basis columns (`[3V, K]`, row-major) as rows `[K, 3V]`.
fn basis_rows(values: &[f32], rows: usize, components: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * components];
    for r in 0..rows {
        for k in 0..components {
            out[k * rows + r] = values[r * components + k];
        }
    }
    out
}

impl MorphableTensors {
    pub fn new(model: &MorphableModel, device: &Device) -> Self {
        let v = model.vertex_count();
        let rows = 3 * v;
        let (k_id, k_exp, k_tex) = (
            model.id_components(),
            model.exp_components(),
            model.tex_components(),
        );
        let mut shape = basis_rows(&model.id_basis.values, rows, k_id);
        shape.extend(basis_rows(&model.exp_basis.values, rows, k_exp));
        let tensor = |data: Vec<f32>, k: usize| {
            Tensor::<2>::from_data(TensorData::new(data, [k, rows]), device)
        };
        Self {
            vertices: v,
            k_id,
            k_exp,
            k_tex,
            mean_shape: tensor(model.mean_shape.clone(), 1),
            shape_basis: tensor(shape, k_id + k_exp),
            mean_albedo: tensor(model.mean_albedo.clone(), 1),
            albedo_basis: tensor(basis_rows(&model.albedo_basis.values, rows, k_tex), k_tex),
        }
    }

    /// Length of a coefficient vector.
    pub fn coefficient_count(&self) -> usize {
        self.k_id + self.k_exp + self.k_tex + Coefficients::POSE_AND_LIGHT
    }

    /// Splits `coeffs` [N, K] (Deep3DFaceRecon order) into the mesh the renderer takes.
    pub fn reconstruct(&self, coeffs: Tensor<2>) -> FaceBatch {
        let [n, _] = coeffs.dims();
        let k_shape = self.k_id + self.k_exp;
        let part = |start: usize, len: usize| coeffs.clone().narrow(1, start, len);
        let linear = |mean: &Tensor<2>, basis: &Tensor<2>, c: Tensor<2>, k: usize| {
            let flat = if k == 0 {
                mean.clone().repeat_dim(0, n)
            } else {
                c.matmul(basis.clone()) + mean.clone()
            };
            flat.reshape([n, self.vertices, 3])
        };
        let tex_start = k_shape;
        let pose_start = tex_start + self.k_tex;
        FaceBatch {
            vertices: linear(
                &self.mean_shape,
                &self.shape_basis,
                part(0, k_shape.max(1)),
                k_shape,
            ),
            albedo: linear(
                &self.mean_albedo,
                &self.albedo_basis,
                part(tex_start, self.k_tex.max(1)),
                self.k_tex,
            ),
            angles: part(pose_start, 3),
            gamma: part(pose_start + 3, 27),
            translation: part(pose_start + 30, 3),
        }
    }
}

/// Each vertex's mirror partner: the vertex nearest to its reflection `x → −x` on the mean
/// shape. A horizontally flipped training pair (Eq. 16's flips) has the teacher's mesh
/// reflected and re-indexed with it.
pub fn mirror_map(model: &MorphableModel) -> Vec<u32> {
    let points: Vec<[f32; 3]> = model
        .mean_shape
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    points
        .iter()
        .map(|p| {
            let target = [-p[0], p[1], p[2]];
            let dist = |q: &[f32; 3]| {
                (0..3)
                    .map(|k| (q[k] - target[k]) * (q[k] - target[k]))
                    .sum::<f32>()
            };
            (0..points.len())
                .min_by(|&a, &b| dist(&points[a]).total_cmp(&dist(&points[b])))
                .unwrap_or(0) as u32
        })
        .collect()
}

/// Per-vertex quantities the mesh loss compares.
#[derive(Clone, Debug)]
pub struct MeshTargets {
    /// [N, V, 3]: the model-space shape `S` (decimetres), before pose.
    pub shape: Tensor<3>,
    /// [N, V, 3]: albedo · SH lighting (D3DFR `compute_color`), 0..1.
    pub colours: Tensor<3>,
    /// [N, V, 2]: the projected vertices in the 224 view, in units of its width: pose and
    /// translation as far as they move the render. (Camera-space positions would weigh the
    /// depth, which a single image barely shows and the render barely depends on, as much as
    /// x and y: measured on the teacher, translation z varies with std 0.28 dm, x and y 0.015.)
    pub screen: Tensor<3>,
}

impl MeshTargets {
    /// The same targets without autodiff history (constants for a loss).
    pub fn detach(self) -> Self {
        Self {
            shape: self.shape.detach(),
            colours: self.colours.detach(),
            screen: self.screen.detach(),
        }
    }

    /// The mirror image of these targets (x → −x in the model, x → 1 − x on the screen,
    /// vertices re-indexed by `mirror`): what the teacher would have fitted to the flipped face.
    pub fn mirrored(self, mirror: &Tensor<1, Int>) -> Self {
        let flip_x = |t: Tensor<3>, about: f32| {
            let t = t.select(1, mirror.clone());
            let [_, _, d] = t.dims();
            let x = t.clone().narrow(2, 0, 1).neg().add_scalar(about);
            Tensor::cat(vec![x, t.narrow(2, 1, d - 1)], 2)
        };
        Self {
            shape: flip_x(self.shape, 0.0),
            colours: self.colours.select(1, mirror.clone()),
            screen: flip_x(self.screen, 1.0),
        }
    }

    /// `L_mesh` (Eq. 14): mean per-vertex distance of shapes, colours and screen positions,
    /// the shape term weighted by `shape_weight` (1: the paper's plain sum). In decimetres the
    /// shape term is ~10× smaller than the colour term, and at weight 1 a regressor learns pose
    /// and colour but no face shape (docs/shape-prior.md, "Balancing L_mesh").
    pub fn distance(&self, other: &MeshTargets, shape_weight: f32) -> Tensor<1> {
        let [shape, colours, screen] = self.term_distances(other);
        shape.mul_scalar(shape_weight) + colours + screen
    }

    /// The unweighted terms of `L_mesh`: shape (decimetres), colours (0..1) and screen
    /// positions (widths of the 224 view).
    pub fn term_distances(&self, other: &MeshTargets) -> [Tensor<1>; 3] {
        [
            per_point_distance(self.shape.clone(), other.shape.clone()),
            per_point_distance(self.colours.clone(), other.colours.clone()),
            per_point_distance(self.screen.clone(), other.screen.clone()),
        ]
    }
}

/// Default weight of `L_mesh`'s shape term (`fit-regressor --shape-weight`, `train
/// --mesh-shape-weight`): brings the shape term (~0.018 dm for the mean face) to the size of the
/// colour term (~0.1–0.2).
pub const DEFAULT_SHAPE_WEIGHT: f32 = 10.0;

/// The shape weight of runs and fits saved before the option existed: the paper's plain sum.
pub fn plain_sum_shape_weight() -> f32 {
    1.0
}

/// Mean over points of the Euclidean distance along the last axis.
fn per_point_distance(a: Tensor<3>, b: Tensor<3>) -> Tensor<1> {
    (a - b).square().sum_dim(2).add_scalar(1e-12).sqrt().mean()
}

/// The renderer, mesh and 3DMM of one training run's shape branch.
#[derive(Clone, Debug)]
pub struct ShapeBranch {
    pub morphable: MorphableTensors,
    /// Renders `I_3d` at the generator's size (the 3DMM's camera scaled to S).
    renderer: FaceRenderer,
    /// The 224 view, for landmark projections.
    view: FaceRenderer,
    landmarks: Vec<u32>,
    mirror: Tensor<1, Int>,
    corners: [Tensor<1, Int>; 3],
}

impl ShapeBranch {
    pub fn new(model: &MorphableModel, size: usize, device: &Device) -> anyhow::Result<Self> {
        model.validate()?;
        anyhow::ensure!(
            model.landmarks.len() >= 5,
            "3DMM {}: the landmark loss needs landmark vertices, the file lists {}",
            model.source,
            model.landmarks.len()
        );
        let mesh = Mesh::new(model.triangles.clone(), model.vertex_count())?;
        let corners = mesh.corners(device);
        // The 3DMM's own camera, as the element renders with (`CameraParams::at_size`).
        let renderer = FaceRenderer::new(mesh.clone(), model.camera.at_size(size))?;
        let view = FaceRenderer::new(mesh, model.camera.at_size(REGRESSOR_SIZE))?;
        let mirror: Vec<i64> = mirror_map(model).into_iter().map(i64::from).collect();
        let n = mirror.len();
        Ok(Self {
            morphable: MorphableTensors::new(model, device),
            renderer,
            view,
            landmarks: model.landmarks.clone(),
            mirror: Tensor::from_data(TensorData::new(mirror, [n]), device),
            corners,
        })
    }

    /// Coefficients [N, K] the `regressor` predicts for aligned faces `[N,3,S,S]`.
    pub fn regress(
        &self,
        regressor: &ShapeRegressor,
        faces: Tensor<4>,
    ) -> anyhow::Result<Tensor<2>> {
        Ok(regressor.forward(regressor_view(faces))?)
    }

    /// `I_3d` for the generator: the rendered faces' colours clamped to 0..1 and mapped to
    /// [-1, 1]; uncovered pixels are −1 (the renderer leaves them 0). docs/shape-prior.md.
    pub fn render_input(&self, faces: &FaceBatch) -> anyhow::Result<Tensor<4>> {
        let render = self.renderer.render(faces)?;
        Ok(render.image.clamp(0.0, 1.0).mul_scalar(2.0).sub_scalar(1.0))
    }

    /// Shape, shaded colours and 224-view screen positions of `faces`.
    pub fn mesh_targets(&self, faces: &FaceBatch) -> anyhow::Result<MeshTargets> {
        let rot = rotation(faces.angles.clone());
        let normals = vertex_normals(faces.vertices.clone(), &self.corners).matmul(rot);
        let screen = self.view.project(
            faces.vertices.clone(),
            faces.angles.clone(),
            faces.translation.clone(),
        )?;
        Ok(MeshTargets {
            shape: faces.vertices.clone(),
            colours: sh_shade(faces.albedo.clone(), normals, faces.gamma.clone()),
            screen: screen.narrow(2, 0, 2).div_scalar(REGRESSOR_SIZE as f32),
        })
    }

    /// [`Self::mesh_targets`] of the faces that 3DMM coefficients `coeffs` describe.
    pub fn coefficient_targets(&self, coeffs: Tensor<2>) -> anyhow::Result<MeshTargets> {
        self.mesh_targets(&self.morphable.reconstruct(coeffs))
    }

    /// The teacher's targets for a batch, mirrored where the pair was flipped.
    pub fn teacher_targets(
        &self,
        coeffs: Tensor<2>,
        flipped: &[bool],
    ) -> anyhow::Result<MeshTargets> {
        let targets = self.coefficient_targets(coeffs)?;
        if !flipped.iter().any(|&f| f) {
            return Ok(targets);
        }
        let mirrored = targets.clone().mirrored(&self.mirror);
        let device = targets.shape.device();
        let pick: Vec<f32> = flipped.iter().map(|&f| f32::from(u8::from(f))).collect();
        let pick = Tensor::<1>::from_data(TensorData::new(pick, [flipped.len()]), &device)
            .reshape([flipped.len(), 1, 1]);
        let blend = |a: Tensor<3>, b: Tensor<3>| a.clone() + (b - a) * pick.clone();
        Ok(MeshTargets {
            shape: blend(targets.shape, mirrored.shape),
            colours: blend(targets.colours, mirrored.colours),
            screen: blend(targets.screen, mirrored.screen),
        })
    }

    /// The 68 (or however many the 3DMM lists) landmarks of `coeffs` in the 224 view, in units
    /// of the view's width.
    pub fn landmarks(&self, coeffs: Tensor<2>) -> anyhow::Result<Tensor<3>> {
        let faces = self.morphable.reconstruct(coeffs);
        let screen = self
            .view
            .project(faces.vertices, faces.angles, faces.translation)?;
        Ok(self
            .view
            .landmarks(screen, &self.landmarks)?
            .div_scalar(REGRESSOR_SIZE as f32))
    }

    /// `L_lm` (Eq. 13): mean landmark distance between what the `frozen` regressor sees in the
    /// restored faces and in the HQ faces (the HQ side carries no gradient).
    pub fn landmark_loss(
        &self,
        frozen: &ShapeRegressor,
        restored: Tensor<4>,
        hq: Tensor<4>,
    ) -> anyhow::Result<Tensor<1>> {
        let target = self.landmarks(self.regress(frozen, hq)?.detach())?.detach();
        let seen = self.landmarks(self.regress(frozen, restored)?)?;
        Ok(per_point_distance(seen, target))
    }
}

/// The shape branch of a run with its teacher: the frozen HQ reconstructions `L_mesh` aims at.
pub struct ShapeTeacher {
    pub branch: ShapeBranch,
    cache: TeacherCache,
    device: Device,
}

impl ShapeTeacher {
    /// The 3DMM `morphable`, and the teacher cache of `data` fitted with it (an error names a
    /// missing or stale cache); renders at `size`.
    pub fn open(
        data: &Path,
        morphable: &Path,
        size: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let model = MorphableModel::load(morphable)
            .with_context(|| format!("cannot load the 3DMM {}", morphable.display()))?;
        let cache = TeacherCache::open(data, morphable, &model)?;
        Ok(Self {
            branch: ShapeBranch::new(&model, size, device)?,
            cache,
            device: device.clone(),
        })
    }

    /// SHA-256 of the 3DMM file the teacher was fitted with (what a checkpoint records).
    pub fn morphable_sha256(&self) -> &str {
        self.cache.morphable_sha256()
    }

    /// The teacher's coefficients of the crops of `origins` [N, K].
    pub fn coefficients(&self, origins: &[PairOrigin]) -> anyhow::Result<Tensor<2>> {
        anyhow::ensure!(
            !origins.is_empty(),
            "the shape teacher needs pairs made from prepared crops (the synthetic source has none)"
        );
        let k = self.branch.morphable.coefficient_count();
        let mut values = Vec::with_capacity(origins.len() * k);
        for o in origins {
            let c = self.cache.coeffs(o.crop)?;
            anyhow::ensure!(
                c.len() == k,
                "teacher coefficients of crop {} have {} values, the 3DMM takes {k}",
                o.crop,
                c.len()
            );
            values.extend_from_slice(c);
        }
        Ok(Tensor::from_data(
            TensorData::new(values, [origins.len(), k]),
            &self.device,
        ))
    }

    /// `L_mesh`'s targets for a batch: the teacher's meshes, mirrored for flipped pairs.
    pub fn targets(&self, origins: &[PairOrigin]) -> anyhow::Result<MeshTargets> {
        let flipped: Vec<bool> = origins.iter().map(|o| o.flipped).collect();
        Ok(self
            .branch
            .teacher_targets(self.coefficients(origins)?, &flipped)?
            .detach())
    }

    /// The mean of the teacher's coefficients over all crops: where a fresh regressor starts.
    pub fn mean_coefficients(&self) -> Vec<f32> {
        let k = self.branch.morphable.coefficient_count();
        let mut sum = vec![0f64; k];
        let n = self.cache.len();
        for c in (0..n).filter_map(|i| self.cache.coeffs(i).ok()) {
            for (s, v) in sum.iter_mut().zip(c) {
                *s += f64::from(*v);
            }
        }
        sum.into_iter()
            .map(|s| (s / n.max(1) as f64) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests;
