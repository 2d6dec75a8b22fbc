//! Errors of the morphable-model loaders and of the model's own checks. Each names where the
//! model came from (the file path, or the model's `source` for an in-memory model) and says what
//! was expected and what was found.

use std::path::PathBuf;

use crate::mat::MatError;

#[derive(Debug, thiserror::Error)]
pub enum MorphableError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `.mat` file that the MAT v5 reader refuses (HDF5 / -v7.3, truncated, not a MAT file).
    #[error("{path}: {source}")]
    Mat {
        path: PathBuf,
        #[source]
        source: MatError,
    },

    /// A `.safetensors` file whose container is broken (header, offsets, length).
    #[error("{path} is not a readable safetensors file: {reason}")]
    Safetensors { path: PathBuf, reason: String },

    /// The file's extension names no format this crate reads.
    #[error(
        "{path}: unknown morphable model format (expected a .mat file in the BFM_model_front.mat \
         layout or a .safetensors file written by MorphableModel::save_safetensors)"
    )]
    UnknownFormat { path: PathBuf },

    /// A required array, tensor or metadata key is absent.
    #[error("{origin}: no {what} named '{key}' ({hint})")]
    Missing {
        origin: String,
        what: &'static str,
        key: String,
        hint: String,
    },

    /// An array has the wrong dimensions or element type.
    #[error("{origin}: {what} is {found}, expected {expected}")]
    Shape {
        origin: String,
        what: String,
        expected: String,
        found: String,
    },

    /// A vertex index (triangle corner or landmark) does not name a vertex of the model.
    #[error("{origin}: {what} is {found}, expected {expected}")]
    Index {
        origin: String,
        what: String,
        expected: String,
        found: String,
    },

    /// A NaN or infinity in the model's values.
    #[error("{origin}: {what} holds a non-finite value ({value}) at element {at}")]
    NonFinite {
        origin: String,
        what: &'static str,
        at: usize,
        value: f32,
    },

    /// A metadata entry of a stored model is malformed or of an unsupported version.
    #[error("{origin}: metadata '{key}' {problem}")]
    Metadata {
        origin: String,
        key: String,
        problem: String,
    },

    /// A coefficient vector (or one of its parts) does not fit the model.
    #[error("{origin}: {what} has {found} values, expected {expected}")]
    Coefficients {
        origin: String,
        what: &'static str,
        expected: String,
        found: usize,
    },
}
