//! Compute kernels of the sgpn face pipeline (facexlib's steps between detector and network):
//! affine alignment, crop warp, feathered paste-back, native-format frame regions, the 3D face
//! renderer and the AFFB fusion.
//! Each kernel has a CPU reference; the CUDA twins live in `kernels/cuda/` behind the backend seam.

pub mod affb;
pub mod affine;
pub mod backend;
pub mod colour;
pub mod cuda;
pub mod error;
pub mod frame;
pub mod image;
pub mod morph;
pub mod paste;
pub mod render;
pub mod stabilise;
pub mod warp;

pub use affine::{Affine2, umeyama_similarity};
pub use backend::{CpuKernels, FaceKernels};
pub use error::KernelError;
pub use frame::{
    Colorimetry, FrameError, FrameMut, FrameRef, PixelFormat, YuvMatrix, read_region,
    resize_to_rgb, write_region,
};
pub use image::{Rect, RgbImage};
pub use paste::{PasteParams, paste_back};
pub use render::{Camera, Render, RenderError, render_face};
pub use warp::{BORDER_FILL, crop_bounds, warp_face_crop};
