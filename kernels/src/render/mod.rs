//! The face renderer of SGPN's shape branch (paper Sec. 3.1): a 3DMM face with D3DFR's pose,
//! spherical-harmonics lighting and perspective camera, rasterised with a z-buffer into the
//! image `I_3d` and its coverage mask that the generator's 3D branch takes. A CPU reference for
//! what Deep3DFaceRecon (`models/bfm.py`, `util/nvdiffrast.py`) computes with PyTorch and
//! nvdiffrast; the constants and conventions are D3DFR's, each module names its source.
//!
//! Steps, one module each: [`pose`] (rotation, translation), [`camera`] (to camera space,
//! projection, screen conventions), [`normals`], [`sh`] (shading), [`raster`] (visibility:
//! z-buffer, fill rule, perspective-correct barycentrics), [`mod@interpolate`] (colours, mask),
//! [`face`] (the whole chain in one call).
//!
//! GPU seam (docs/gpu-path.md): [`rasterize_triangles`] and [`interpolate()`] are functions over
//! plain buffers, the same split as nvdiffrast's `rasterize`/`interpolate`; a CUDA twin takes
//! the same arguments and returns the same [`Raster`]: the same coverage and triangle per pixel
//! (the integer edge functions and the tie rule are exact), barycentrics and depth to float
//! rounding.

pub mod batch;
pub mod camera;
pub mod error;
pub mod face;
pub mod fixtures;
pub mod interpolate;
pub mod morphable;
pub mod normals;
pub mod pose;
pub mod raster;
pub mod sh;

pub use batch::{BatchRender, FaceInput, PreparedBatch, render_batch};
pub use camera::{Camera, MAX_RENDER_SIZE};
pub use error::RenderError;
pub use face::{FacePose, ProjectedFace, project_and_shade, render_face};
pub use interpolate::{Render, interpolate, rasterize};
pub use morphable::{
    CoefficientBatch, LinearPart, MorphableParts, RenderTarget, render_crops, to_generator_input,
    warp_back,
};
pub use normals::{VertexAdjacency, vertex_normals};
pub use pose::{rotate, rotation};
pub use raster::{NO_TRIANGLE, Raster, rasterize_triangles};
pub use sh::{GAMMA_LEN, sh_basis, sh_shade};
