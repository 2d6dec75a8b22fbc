use std::path::PathBuf;

use sgpn_kernels::render::RenderError;
use sgpn_models::error::ModelError;
use sgpn_models::morphable::MorphableError;

/// What can go wrong in the face pipeline. Every message names the file or frame property at fault.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A model failed to load, violated its contract, or failed to run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A kernel was handed buffers of the wrong size.
    #[error(transparent)]
    Kernel(#[from] sgpn_kernels::KernelError),
    /// The 3D morphable model failed to load or does not fit the coefficients.
    #[error(transparent)]
    Morphable(#[from] MorphableError),
    /// The renderer refused a face of the shape prior (e.g. non-finite coefficients).
    #[error("shape prior: cannot render face {face} with the 3DMM {path}: {source}")]
    Render {
        face: usize,
        path: PathBuf,
        #[source]
        source: RenderError,
    },
    /// The models disagree on something the pipeline needs (the file at fault is `path`).
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },
    /// The settings ask for something the loaded models cannot do.
    #[error("{0}")]
    Settings(String),
    /// The GPU face kernels were asked for and cannot run.
    #[error("kernels=cuda: {0}")]
    Kernels(String),
}
