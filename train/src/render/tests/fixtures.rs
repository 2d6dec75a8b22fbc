//! Procedural meshes and scenes shared by the renderer tests.

use crate::render::{FaceBatch, FaceRender, FaceRenderer, Mesh};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
pub use sgpn_kernels::render::fixtures::uv_sphere;
use sgpn_kernels::render::{Camera, GAMMA_LEN, NO_TRIANGLE, rasterize_triangles};

pub fn device() -> Device {
    crate::train::training_device()
}

/// A face-like height field facing +z on a `cols × rows` grid: a rounded forehead-to-chin dome
/// with a nose ridge. 26 × 18 gives the 468 vertices of the landmarker mesh (850 triangles).
pub fn face_field(cols: u32, rows: u32) -> (Vec<[f32; 3]>, Vec<[u32; 3]>) {
    let mut vertices = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let x = 1.6 * (c as f32 / (cols - 1) as f32 - 0.5);
            let y = 2.0 * (0.5 - r as f32 / (rows - 1) as f32);
            let dome = 0.6 * (-(x * x) / 0.5 - (y * y) / 0.9).exp();
            let nose = 0.3 * (-(x * x) / 0.01 - (y + 0.1).powi(2) / 0.12).exp();
            vertices.push([x, y, dome + nose]);
        }
    }
    let mut triangles = Vec::new();
    for r in 0..rows - 1 {
        for c in 0..cols - 1 {
            let (a, b) = (r * cols + c, r * cols + c + 1);
            let (d, e) = ((r + 1) * cols + c, (r + 1) * cols + c + 1);
            // Counter-clockwise seen from +z (y up in the model).
            triangles.extend([[a, d, e], [a, e, b]]);
        }
    }
    (vertices, triangles)
}

/// One face's inputs on the CPU, in the reference's types.
#[derive(Clone, Debug)]
pub struct Scene {
    pub vertices: Vec<[f32; 3]>,
    pub albedo: Vec<[f32; 3]>,
    pub angles: [f32; 3],
    pub translation: [f32; 3],
    pub gamma: [f32; GAMMA_LEN],
}

impl Scene {
    /// `vertices` with a smoothly varying albedo in 0..1 (D3DFR's units) and a light with all
    /// nine bands non-zero, so every SH term and every vertex colour matters.
    pub fn lit(
        vertices: Vec<[f32; 3]>,
        angles: [f32; 3],
        translation: [f32; 3],
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let albedo = vertices
            .iter()
            .map(|_| std::array::from_fn(|_| 0.3 + 0.6 * rng.random::<f32>()))
            .collect();
        let gamma = std::array::from_fn(|i| {
            let scale = if i % 9 == 0 { 0.2 } else { 0.15 };
            scale * (2.0 * rng.random::<f32>() - 1.0)
        });
        Self {
            vertices,
            albedo,
            angles,
            translation,
            gamma,
        }
    }
}

/// Rows of `[f32; 3]` as a flat vector.
pub fn flat(rows: &[[f32; 3]]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

/// The scenes stacked into one batch (leaves without gradient).
pub fn batch(scenes: &[Scene], device: &Device) -> FaceBatch {
    let n = scenes.len();
    let v = scenes[0].vertices.len();
    let collect = |f: &dyn Fn(&Scene) -> Vec<f32>| scenes.iter().flat_map(f).collect::<Vec<f32>>();
    FaceBatch {
        vertices: Tensor::from_data(
            TensorData::new(collect(&|s| flat(&s.vertices)), [n, v, 3]),
            device,
        ),
        albedo: Tensor::from_data(
            TensorData::new(collect(&|s| flat(&s.albedo)), [n, v, 3]),
            device,
        ),
        angles: Tensor::from_data(
            TensorData::new(collect(&|s| s.angles.to_vec()), [n, 3]),
            device,
        ),
        translation: Tensor::from_data(
            TensorData::new(collect(&|s| s.translation.to_vec()), [n, 3]),
            device,
        ),
        gamma: Tensor::from_data(
            TensorData::new(collect(&|s| s.gamma.to_vec()), [n, GAMMA_LEN]),
            device,
        ),
    }
}

pub fn renderer(triangles: &[[u32; 3]], vertices: usize, size: usize) -> FaceRenderer {
    FaceRenderer::new(
        Mesh::new(triangles.to_vec(), vertices).unwrap(),
        Camera::scaled(size),
    )
    .unwrap()
}

pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone()
        .detach()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
}

/// The triangle each pixel of each face sees, from the render's own screen positions and the
/// reference z-buffer (what the renderer rasterised with).
pub fn visible_triangles(renderer: &FaceRenderer, render: &FaceRender) -> Vec<u32> {
    let [_, v, _] = render.screen.dims();
    values(&render.screen)
        .chunks_exact(3 * v)
        .flat_map(|face| {
            let points: Vec<[f32; 3]> = face.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
            rasterize_triangles(&points, renderer.mesh().triangles(), renderer.camera().size)
                .unwrap()
                .triangle
        })
        .collect()
}

/// Number of covered pixels (triangle ids other than NO_TRIANGLE).
pub fn covered(ids: &[u32]) -> usize {
    ids.iter().filter(|&&t| t != NO_TRIANGLE).count()
}
