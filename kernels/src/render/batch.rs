//! Many faces of one topology (a 3DMM) rendered together: the layout of the GPU renderer
//! (`kernels/cuda/render.cu`) and its CPU reference. [`PreparedBatch`] flattens the per-vertex
//! inputs and computes what the kernels take per face with the reference's own functions
//! (normals, rotation, SH weights), so both sides start from the same numbers; [`render_batch`]
//! is the reference: [`super::project_and_shade`], [`super::rasterize_triangles`] and
//! [`super::interpolate()`] per face, in the batch layout.

use super::camera::Camera;
use super::error::RenderError;
use super::face::{CheckedFace, FacePose, checked_inputs, project_and_shade};
use super::interpolate::interpolate;
use super::raster::{NO_TRIANGLE, rasterize_triangles};
use super::sh::{GAMMA_LEN, sh_weights};

/// Floats per face of [`PreparedBatch::poses`]: rotation (3×3 row-major), translation (3), SH
/// weights (3 channels × 9 bands, D3DFR's ambient 0.8 added).
pub const POSE_LEN: usize = 39;

/// One face of a batch: its shaped vertices and albedo (from the 3DMM) and its pose and light.
#[derive(Clone, Copy, Debug)]
pub struct FaceInput<'a> {
    pub vertices: &'a [[f32; 3]],
    pub albedo: &'a [[f32; 3]],
    pub pose: FacePose<'a>,
}

/// A batch in the GPU renderer's layout; every per-vertex array is `[N, V, 3]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedBatch {
    pub faces: usize,
    pub vertices_per_face: usize,
    pub vertices: Vec<f32>,
    /// Unrotated unit vertex normals ([`super::vertex_normals`]).
    pub normals: Vec<f32>,
    pub albedo: Vec<f32>,
    /// `[N, POSE_LEN]`.
    pub poses: Vec<f32>,
    /// `[T, 3]`, shared by every face.
    pub triangles: Vec<u32>,
    pub camera: Camera,
}

impl PreparedBatch {
    /// Checks every face as [`super::render_face`] does; all faces must have the same vertex
    /// count (one topology). An error names the face ([`RenderError::Face`]).
    pub fn new(
        faces: &[FaceInput<'_>],
        triangles: &[[u32; 3]],
        camera: &Camera,
    ) -> Result<Self, RenderError> {
        let v = faces.first().map_or(0, |f| f.vertices.len());
        let mut batch = Self {
            faces: faces.len(),
            vertices_per_face: v,
            vertices: Vec::with_capacity(faces.len() * v * 3),
            normals: Vec::with_capacity(faces.len() * v * 3),
            albedo: Vec::with_capacity(faces.len() * v * 3),
            poses: Vec::with_capacity(faces.len() * POSE_LEN),
            triangles: triangles.iter().flatten().copied().collect(),
            camera: *camera,
        };
        for (i, face) in faces.iter().enumerate() {
            if face.vertices.len() != v {
                return Err(RenderError::Length {
                    what: "vertices (every face of a batch has the same topology)",
                    expected: v,
                    found: face.vertices.len(),
                }
                .in_face(i));
            }
            let CheckedFace {
                normals,
                rotation,
                gamma,
            } = checked_inputs(face.vertices, triangles, face.albedo, &face.pose, camera)
                .map_err(|e| e.in_face(i))?;
            batch.vertices.extend(face.vertices.iter().flatten());
            batch.normals.extend(normals.iter().flatten());
            batch.albedo.extend(face.albedo.iter().flatten());
            push_pose(&mut batch.poses, &rotation, face.pose.translation, gamma);
        }
        Ok(batch)
    }

    pub fn triangle_count(&self) -> usize {
        self.triangles.len() / 3
    }
}

/// Appends one face's [`POSE_LEN`] floats to `poses`: rotation, translation, SH weights.
pub(crate) fn push_pose(
    poses: &mut Vec<f32>,
    rotation: &[[f32; 3]; 3],
    translation: [f32; 3],
    gamma: &[f32; GAMMA_LEN],
) {
    poses.extend(rotation.iter().flatten());
    poses.extend(translation);
    poses.extend(sh_weights(gamma).iter().flatten());
}

/// Every face's visibility and colour, `[N, S, S]` per pixel (`[N, S, S, 3]` for the triples).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRender {
    pub faces: usize,
    pub size: usize,
    /// Visible triangle, [`NO_TRIANGLE`] where none.
    pub triangle: Vec<u32>,
    pub barycentric: Vec<f32>,
    pub depth: Vec<f32>,
    /// Interpolated vertex colours, not clamped; 0 where uncovered.
    pub image: Vec<f32>,
    /// Coverage: 1 where a triangle covers the pixel centre.
    pub mask: Vec<f32>,
}

/// The CPU reference of the batch renderer. An error names the face ([`RenderError::Face`]).
pub fn render_batch(
    faces: &[FaceInput<'_>],
    triangles: &[[u32; 3]],
    camera: &Camera,
) -> Result<BatchRender, RenderError> {
    let size = camera.size;
    let mut out = BatchRender {
        faces: faces.len(),
        size,
        triangle: Vec::with_capacity(faces.len() * size * size),
        barycentric: Vec::new(),
        depth: Vec::new(),
        image: Vec::new(),
        mask: Vec::new(),
    };
    for (i, face) in faces.iter().enumerate() {
        let in_face = |e: RenderError| e.in_face(i);
        let projected =
            project_and_shade(face.vertices, triangles, face.albedo, &face.pose, camera)
                .map_err(in_face)?;
        let raster = rasterize_triangles(&projected.screen, triangles, size).map_err(in_face)?;
        let image = interpolate(&raster, triangles, &projected.colours).map_err(in_face)?;
        out.mask.extend(
            raster
                .triangle
                .iter()
                .map(|&t| if t == NO_TRIANGLE { 0.0 } else { 1.0 }),
        );
        out.triangle.extend(&raster.triangle);
        out.barycentric.extend(raster.barycentric.iter().flatten());
        out.depth.extend(&raster.depth);
        out.image.extend(&image.data);
    }
    Ok(out)
}
