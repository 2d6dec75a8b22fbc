//! The differentiable face renderer of SGPN's shape branch (paper Sec. 3.1): a batch of
//! 3DMM faces with D3DFR's pose, SH lighting and perspective camera, rendered to the image
//! `I_3d` [N, 3, S, S] and its coverage mask [N, 1, S, S] for the generator's 3D branch, with
//! gradients to vertex positions, albedo, lighting and pose for the mesh-level losses.
//!
//! The twin of the CPU reference [`sgpn_kernels::render`], step for step, one module each:
//! [`pose`] (rotation, camera, projection), [`normals`], [`sh`] (shading), [`raster`]
//! (visibility from the reference z-buffer, barycentric interpolation with autodiff), [`face`]
//! (the whole chain, landmarks); [`mesh`] holds the checked topology, [`error`] the typed errors.

pub mod error;
pub mod face;
pub mod mesh;
pub mod normals;
pub mod pose;
pub mod raster;
pub mod sh;

#[cfg(test)]
pub(crate) mod tests;

pub use error::DiffRenderError;
pub use face::{FaceBatch, FaceRender, FaceRenderer};
pub use mesh::Mesh;
