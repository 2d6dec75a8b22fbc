//! Vertex normals as D3DFR computes them (Deep3DFaceRecon `models/bfm.py`: `compute_norm`):
//! per triangle `normalize((v1 − v2) × (v2 − v3))`, summed over the triangles around each vertex
//! and normalised again. Each triangle counts once whatever its area (unit face normals), and a
//! vertex that no triangle uses, or whose normals cancel, gets the zero vector, as
//! `F.normalize` gives.

use super::error::{RenderError, check_finite, check_triangles};
use rayon::prelude::*;

/// Below this length a vector counts as zero (`F.normalize`'s `eps`).
const NORMALIZE_EPS: f32 = 1e-12;

/// Unit normals of `vertices`, outward for triangles wound counter-clockwise when seen from
/// outside. Fails on a triangle index past the vertex list or a non-finite vertex.
pub fn vertex_normals(
    vertices: &[[f32; 3]],
    triangles: &[[u32; 3]],
) -> Result<Vec<[f32; 3]>, RenderError> {
    check_finite("vertices", vertices)?;
    check_triangles(triangles, vertices.len())?;
    let mut sums = vec![[0.0f32; 3]; vertices.len()];
    // Serial scatter in triangle order: the sum order, and so the result, never changes.
    for tri in triangles {
        let [v1, v2, v3] = tri.map(|i| vertices[i as usize]);
        let n = normalize(cross(sub(v1, v2), sub(v2, v3)));
        for &i in tri {
            let s = &mut sums[i as usize];
            *s = [s[0] + n[0], s[1] + n[1], s[2] + n[2]];
        }
    }
    sums.par_iter_mut().for_each(|s| *s = normalize(*s));
    Ok(sums)
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalize(v: [f32; 3]) -> [f32; 3] {
    let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let inv = 1.0 / len.max(NORMALIZE_EPS);
    v.map(|c| c * inv)
}

/// For each vertex, the triangles around it in ascending order, a triangle once per corner that
/// names the vertex (compressed rows: vertex `v`'s list is `triangles[offsets[v]..offsets[v +
/// 1]]`). Summing the triangles' unit normals in this order is [`vertex_normals`]' serial
/// scatter, sum for sum: the layout of the GPU's vertex pass (`kernels/cuda/normals.cu`), built
/// once per topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VertexAdjacency {
    pub offsets: Vec<u32>,
    pub triangles: Vec<u32>,
}

impl VertexAdjacency {
    /// The adjacency of `triangles` over `vertices` vertices. Fails on an index past the vertex
    /// list, as [`vertex_normals`] does.
    pub fn new(triangles: &[[u32; 3]], vertices: usize) -> Result<Self, RenderError> {
        check_triangles(triangles, vertices)?;
        let mut counts = vec![0u32; vertices + 1];
        for &i in triangles.iter().flatten() {
            counts[i as usize + 1] += 1;
        }
        let mut offsets = counts;
        for v in 0..vertices {
            offsets[v + 1] += offsets[v];
        }
        let mut next = offsets.clone();
        let mut adjacent = vec![0u32; offsets[vertices] as usize];
        for (t, tri) in triangles.iter().enumerate() {
            for &i in tri {
                adjacent[next[i as usize] as usize] = t as u32;
                next[i as usize] += 1;
            }
        }
        Ok(Self {
            offsets,
            triangles: adjacent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacency_lists_each_vertex_triangles_in_order_once_per_corner() {
        // Vertex 3 is unused; triangle 2 names vertex 0 twice (degenerate).
        let triangles = [[0, 1, 2], [2, 1, 4], [0, 0, 4]];
        let adjacency = VertexAdjacency::new(&triangles, 5).unwrap();
        assert_eq!(adjacency.offsets, [0, 3, 5, 7, 7, 9]);
        assert_eq!(adjacency.triangles, [0, 2, 2, 0, 1, 0, 1, 1, 2]);
        assert!(
            VertexAdjacency::new(&triangles, 4).is_err(),
            "index 4 of 4 vertices"
        );
    }
}
