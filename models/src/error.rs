//! The crate's one error type. Every variant names the file it is about and says what was
//! expected and what was found, so a user can act on the message without a debugger.

use std::path::PathBuf;

use crate::device::Device;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The ONNX Runtime shared library could not be found or loaded.
    #[error(
        "cannot load the ONNX Runtime library {path}: {reason} \
         (run ./scripts/setup.sh, or set ORT_DYLIB_PATH to a libonnxruntime.so of version >= 1.31)"
    )]
    Library { path: PathBuf, reason: String },

    /// The model file does not exist.
    #[error("model file {path} does not exist")]
    Missing { path: PathBuf },

    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not an ONNX model ONNX Runtime can load (not protobuf, truncated, bad graph).
    #[error("{path} is not a valid ONNX model: {reason}")]
    Invalid { path: PathBuf, reason: String },

    /// The model loads but breaks the contract its role requires (names, dtypes, ranks, metadata).
    #[error("{role} model {path}: {problem}")]
    Contract {
        role: &'static str,
        path: PathBuf,
        problem: String,
    },

    /// An explicitly requested execution device is not available in this ONNX Runtime.
    #[error("cannot run {path} on device '{device}': {reason}")]
    Device {
        path: PathBuf,
        device: Device,
        reason: String,
    },

    /// A caller passed a buffer whose size does not match the model's tensor, or the model
    /// returned a tensor of an unexpected shape.
    #[error("{path}: {what} must be {expected}, found {found}")]
    Shape {
        path: PathBuf,
        what: String,
        expected: String,
        found: String,
    },

    /// ONNX Runtime failed while running a loaded model.
    #[error("ONNX Runtime failed running {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
}
