//! The project's default 3D morphable model and the teacher reconstructions (
//! docs/shape-prior.md; paper Sec. 3.1 and Eq. 14).
//!
//! `morphable-build` learns a linear face model on MediaPipe's 468-vertex topology from the
//! landmarker's meshes and colours of the prepared training crops ([`build`]: screening,
//! Procrustes alignment, shape PCA, SH lighting factored out of the colours, albedo PCA; the
//! iBUG-68 landmark vertices in [`landmarks68`]). `teacher-fit` fits every HQ crop's full D3DFR
//! coefficient vector in the crop's 224 view and caches it for the mesh-level losses.

pub mod albedo;
pub mod build;
pub mod cli;
pub mod fit;
pub mod geometry;
pub mod grid;
pub mod landmarks68;
pub mod pca;
pub mod samples;
pub mod teacher;

#[cfg(test)]
mod tests;
