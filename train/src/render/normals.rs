//! Vertex normals as D3DFR computes them (Deep3DFaceRecon `models/bfm.py`: `compute_norm`), on
//! tensors: per triangle `normalize((v1 − v2) × (v2 − v3))`, gathered with `select`, summed onto
//! the vertices with an additive `select_assign` (its backward is a gather, so the gradient
//! reaches every vertex of every adjacent triangle) and normalised again. The CPU reference is
//! [`sgpn_kernels::render::vertex_normals`].

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

/// Below this length a vector counts as zero (`F.normalize`'s `eps`, as the kernels use).
const NORMALIZE_EPS: f32 = 1e-12;

/// Unit normals [N, V, 3] of `vertices` [N, V, 3]; `corners[k]` `[T]` holds vertex k of every
/// triangle. A vertex no triangle uses gets the zero vector.
pub fn vertex_normals(vertices: Tensor<3>, corners: &[Tensor<1, Int>; 3]) -> Tensor<3> {
    let [v1, v2, v3] = corners.clone().map(|c| vertices.clone().select(1, c));
    let faces = normalize((v1 - v2.clone()).cross(v2 - v3, 2));
    let sums = corners.iter().fold(vertices.zeros_like(), |sum, c| {
        sum.select_assign(1, c.clone(), faces.clone(), IndexingUpdateOp::Add)
    });
    normalize(sums)
}

/// `v / max(|v|, eps)` along the last axis. The clamp acts on the squared length so that a zero
/// vector gets a zero gradient instead of `sqrt`'s infinite slope at 0 (which would give NaN).
fn normalize(v: Tensor<3>) -> Tensor<3> {
    let len = v
        .clone()
        .square()
        .sum_dim(2)
        .clamp_min(NORMALIZE_EPS * NORMALIZE_EPS)
        .sqrt();
    v / len
}
