//! Visibility without gradient, interpolation with it — nvdiffrast's `rasterize` + `interpolate`
//! without antialiasing, as D3DFR renders (Deep3DFaceRecon `util/nvdiffrast.py`).
//!
//! The z-buffer pass is the CPU reference ([`rasterize_triangles`]) on detached screen positions:
//! it only decides *which* triangle each pixel centre sees. The barycentrics are then recomputed
//! with tensor ops from the screen positions of that triangle's three vertices, so gradients
//! reach vertex positions (through the weights) and colours (through the blend). Moving a
//! silhouette or an occlusion boundary has no gradient, as in nvdiffrast without `antialias`.
//!
//! Perspective-correct weights as the reference computes them: `b_k ∝ e_k / z_k`, `e_k` the
//! screen-space area of the sub-triangle opposite vertex k, normalised to sum to 1. The areas
//! are taken relative to the pixel centre (`(v1 − p) × (v2 − p)` etc.), whose operands are only
//! as large as the triangle, so f32 keeps them accurate at any screen position. The reference
//! snaps vertices to 1/256 px before its edge functions; the weights here use the unsnapped
//! positions (a function smooth in the vertices), so they differ from the reference's by at most
//! that snap relative to the triangle's size.

use super::error::DiffRenderError;
use super::mesh::Mesh;
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use sgpn_kernels::render::{NO_TRIANGLE, rasterize_triangles};

/// What every pixel of a batch of `size × size` renders sees, as index tensors over the covered
/// pixels (M of them, all faces together) for the differentiable interpolation.
pub struct Visibility {
    /// Per covered pixel, vertex k of its visible triangle, as an index into the batch's
    /// vertices flattened to [N·V] (`face·V + vertex`).
    corners: [Tensor<1, Int>; 3],
    /// Per covered pixel, its index in the batch's pixels flattened to [N·S·S] (row-major).
    pixels: Tensor<1, Int>,
    /// Per covered pixel, its centre (x + 0.5, y + 0.5) in screen coordinates, [M, 2].
    centres: Tensor<2>,
    /// Coverage [N, 1, S, S]: 1 where a triangle covers the pixel centre.
    pub mask: Tensor<4>,
    covered: usize,
}

/// Runs the reference z-buffer on `screen` [N, V, 3] (detached: no gradient through
/// visibility) for every face of the batch.
pub fn visibility(
    screen: &Tensor<3>,
    mesh: &Mesh,
    size: usize,
) -> Result<Visibility, DiffRenderError> {
    let [n, v, _] = screen.dims();
    let device = screen.device();
    let coords = screen
        .clone()
        .detach()
        .into_data()
        .try_into_vec::<f32>()
        .expect("a float tensor reads back as f32");
    let pixels_per_face = size * size;
    let mut corners: [Vec<i64>; 3] = Default::default();
    let mut pixels = Vec::new();
    let mut centres = Vec::new();
    let mut mask = vec![0.0f32; n * pixels_per_face];
    for (face, points) in coords.chunks_exact(3 * v).enumerate() {
        let points: Vec<[f32; 3]> = points.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        let raster = rasterize_triangles(&points, mesh.triangles(), size)?;
        let offset = (face * v) as i64;
        for (p, &t) in raster.triangle.iter().enumerate() {
            if t == NO_TRIANGLE {
                continue;
            }
            let tri = mesh.triangles()[t as usize];
            for (list, &vertex) in corners.iter_mut().zip(&tri) {
                list.push(offset + i64::from(vertex));
            }
            let pixel = face * pixels_per_face + p;
            pixels.push(pixel as i64);
            mask[pixel] = 1.0;
            centres.push((p % size) as f32 + 0.5);
            centres.push((p / size) as f32 + 0.5);
        }
    }
    let covered = pixels.len();
    let index =
        |data: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(data, [covered]), &device);
    Ok(Visibility {
        corners: corners.map(index),
        pixels: index(pixels),
        centres: Tensor::from_data(TensorData::new(centres, [covered, 2]), &device),
        mask: Tensor::from_data(TensorData::new(mask, [n, 1, size, size]), &device),
        covered,
    })
}

/// Blends `colours` [N, V, C] over each covered pixel's triangle with perspective-correct
/// barycentrics recomputed from `screen` [N, V, 3]; [N, C, S, S], zero where uncovered.
pub fn interpolate(
    screen: Tensor<3>,
    colours: Tensor<3>,
    visibility: &Visibility,
    size: usize,
) -> Tensor<4> {
    let [n, v, _] = screen.dims();
    let [_, _, channels] = colours.dims();
    let device = screen.device();
    if visibility.covered == 0 {
        return Tensor::zeros([n, channels, size, size], &device);
    }
    // One gather per triangle corner fetches position and colour together.
    let attributes = Tensor::cat(vec![screen, colours], 2).reshape([n * v, 3 + channels]);
    let corner = |k: usize| attributes.clone().select(0, visibility.corners[k].clone());
    let [a0, a1, a2] = [corner(0), corner(1), corner(2)];
    let offset = |a: &Tensor<2>| a.clone().narrow(1, 0, 2) - visibility.centres.clone();
    let (d0, d1, d2) = (offset(&a0), offset(&a1), offset(&a2));
    // Perspective-correct weight of vertex k: the area opposite it over its depth.
    let weight =
        |a: &Tensor<2>, b: &Tensor<2>, own: &Tensor<2>| area(a, b) / own.clone().narrow(1, 2, 1);
    let q0 = weight(&d1, &d2, &a0);
    let q1 = weight(&d2, &d0, &a1);
    let q2 = weight(&d0, &d1, &a2);
    let colour = |a: Tensor<2>| a.narrow(1, 3, channels);
    let total = q0.clone() + q1.clone() + q2.clone();
    let blended = (q0 * colour(a0) + q1 * colour(a1) + q2 * colour(a2)) / total;
    Tensor::<2>::zeros([n * size * size, channels], &device)
        .select_assign(0, visibility.pixels.clone(), blended, IndexingUpdateOp::Add)
        .reshape([n, size, size, channels])
        .permute([0, 3, 1, 2])
}

/// Twice the signed area of the triangle (p, p + a, p + b) for offsets `a`, `b` [M, 2].
fn area(a: &Tensor<2>, b: &Tensor<2>) -> Tensor<2> {
    let c = |t: &Tensor<2>, k| t.clone().narrow(1, k, 1);
    c(a, 0) * c(b, 1) - c(a, 1) * c(b, 0)
}
