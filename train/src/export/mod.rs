//! ONNX export of the trained generator with the project's own writer (`sgpn_models::onnx`).
//!
//! Each model part exports itself next to its own file here (`impl <Part> { fn export_onnx }`),
//! mirroring `crate::model`; the AFFB is a separately named piece. Noise injection is left out
//! of the exported graph: the export computes exactly [`crate::model::Generator::restore`]
//! (the noise-free forward pass), so ONNX outputs are deterministic and comparable.
//! [`import`] reads an exported generator back into burn, to fine-tune it.

mod affb;
pub mod cli;
mod decoder;
mod encoder;
mod equal;
pub mod generator;
pub mod graph;
pub mod import;
pub mod onnx_run;
pub mod regressor;
pub mod regressor_cli;
mod styleconv;

use std::path::{Path, PathBuf};

use crate::model::Generator;

pub use generator::{INPUT_LQ, INPUT_RENDER, OUTPUT_RESTORED};
pub use graph::AffbExport;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write ONNX model {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the generator as ONNX (standard operators) to `path`.
pub fn write_generator(generator: &Generator, path: &Path) -> Result<(), ExportError> {
    write_generator_with(generator, path, AffbExport::StandardOps)
}

/// Writes the generator as ONNX to `path`, the AFFBs as `affb` says.
pub fn write_generator_with(
    generator: &Generator,
    path: &Path,
    affb: AffbExport,
) -> Result<(), ExportError> {
    let model = generator.export_onnx_with(affb);
    sgpn_models::onnx::write_model(path, &model).map_err(|source| ExportError::Write {
        path: path.to_owned(),
        source,
    })
}
