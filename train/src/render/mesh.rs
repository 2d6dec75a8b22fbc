//! The fixed topology of the rendered face: triangles over a known number of vertices, checked
//! once so that every per-batch gather stays in bounds.

use super::error::DiffRenderError;
use burn::prelude::*;
use sgpn_kernels::render::{NO_TRIANGLE, RenderError};

/// A triangle mesh's connectivity (e.g. BFM's `face_buf` or the 468-point landmarker mesh).
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    triangles: Vec<[u32; 3]>,
    vertices: usize,
}

impl Mesh {
    /// Checks that there is a triangle, that every index in `triangles` lies below `vertices`
    /// (the kernels' own error names the first that does not) and that the count leaves the
    /// rasteriser's "uncovered" marker free.
    pub fn new(triangles: Vec<[u32; 3]>, vertices: usize) -> Result<Self, DiffRenderError> {
        if triangles.is_empty() {
            return Err(DiffRenderError::EmptyMesh);
        }
        for (triangle, tri) in triangles.iter().enumerate() {
            if let Some(&index) = tri.iter().find(|&&i| i as usize >= vertices) {
                return Err(RenderError::TriangleIndex {
                    triangle,
                    index,
                    vertices,
                }
                .into());
            }
        }
        if triangles.len() >= NO_TRIANGLE as usize {
            return Err(RenderError::Length {
                what: "triangles (one index is reserved for uncovered pixels)",
                expected: NO_TRIANGLE as usize - 1,
                found: triangles.len(),
            }
            .into());
        }
        Ok(Self {
            triangles,
            vertices,
        })
    }

    pub fn triangles(&self) -> &[[u32; 3]] {
        &self.triangles
    }

    pub fn vertices(&self) -> usize {
        self.vertices
    }

    /// Vertex k of every triangle as an index tensor [T], k = 0, 1, 2.
    pub(crate) fn corners(&self, device: &Device) -> [Tensor<1, Int>; 3] {
        std::array::from_fn(|k| {
            let index: Vec<i64> = self.triangles.iter().map(|t| i64::from(t[k])).collect();
            Tensor::from_data(TensorData::new(index, [self.triangles.len()]), device)
        })
    }
}
