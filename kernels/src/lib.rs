//! Compute kernels of the sgpn face pipeline (facexlib's steps between detector and network):
//! affine alignment, crop warp, feathered paste-back, and native-format frame regions.
//! Each kernel has a CPU reference; the CUDA twins live in `kernels/cuda/` behind the backend seam.

pub mod affine;

pub use affine::{Affine2, umeyama_similarity};
