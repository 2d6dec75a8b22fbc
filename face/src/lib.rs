//! The per-frame face pipeline of sgpn, without GStreamer.
//!
//! One face goes through the steps of facexlib's `FaceRestoreHelper`, in this order and under these
//! names: [`detect`] → [`track`] → [`align`] → warp (in `sgpn_kernels::warp`) → [`shape`] (3DMM
//! regressor and render, paper Sec. 3.1; with a shape prior only) → [`restore`] → [`colour`] fix
//! (the input's coarse colour kept) → [`paste`] (inverse warp + feathered mask,
//! `sgpn_kernels::paste`; each tracked face's pasted change averaged over frames where the input
//! holds still, [`stabilise`]). [`FaceRestorer`] runs them on one frame in its native pixel
//! format, the steps from the warp on over buffers where the kernels compute (host memory, or
//! the GPU with `kernels=cuda`); the GStreamer element and the batch tool both call it.
//! [`RestorerPool`] keeps loaded pipelines between the streams of one process.

pub mod align;
mod chain;
pub mod colour;
pub mod d3dfr_crop;
pub mod detect;
mod error;
pub mod paste;
mod pipeline;
pub mod pool;
pub mod restore;
pub mod shape;
pub mod stabilise;
pub mod timings;
pub mod track;

pub use error::FaceError;
pub use paste::PasteMode;
pub use pipeline::{
    FaceRestorer, KernelDevice, OutputMode, RestoreParams, RestoredFace, RestorerConfig,
};
pub use pool::{PooledRestorer, RestorerPool};
pub use shape::ShapeConfig;
pub use timings::StageTimings;
