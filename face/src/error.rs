use std::path::PathBuf;

use sgpn_models::error::ModelError;

/// What can go wrong in the face pipeline. Every message names the file or frame property at fault.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A model failed to load, violated its contract, or failed to run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A kernel was handed buffers of the wrong size.
    #[error(transparent)]
    Kernel(#[from] sgpn_kernels::KernelError),
    /// The detector and the generator disagree on something the pipeline needs.
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },
}
