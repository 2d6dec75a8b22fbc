//! Importing the official SGPN release (Zhu et al., CVPR 2022; PyTorch, inference only) into the
//! element's ONNX contracts (`models/README.md`), for users who have its checkpoints:
//!
//! - `sgpn.pth` (`FullGenerator_SGPN`, 512-px faces) → a `full` generator with the coefficient
//!   input (`sgpn-paper512-official.onnx`, `official/generator.rs`);
//! - `d3dfr_finetune_ours.pth` (the fine-tuned Deep3DFaceRecon ResNet-50) → a shape regressor
//!   with the official crop into D3DFR's 224-px frame (`d3dfr-official-regressor.onnx`,
//!   `official/regressor.rs`), stamped with the SHA-256 of the BFM09 file it must render with
//!   and the five 3D reference landmarks of that crop (from `similarity_Lm3D_all.mat`).
//!
//! The architecture is written here from the paper and the release's module structure; the
//! checkpoints are read with a maintained PyTorch reader ([`checkpoint`]) and checked tensor by
//! tensor against [`spec`]. The project ships no official weights: they stay under the
//! authors' terms (academic research only). [`fixture`] writes test checkpoints with the
//! official names and shapes.

pub mod checkpoint;
pub mod cli;
pub mod fixture;
mod generator;
mod layers;
mod regressor;
pub mod spec;

use std::path::{Path, PathBuf};

use sgpn_models::contract::{META_SIZE, META_TEMPLATE, META_VARIANT};
use sgpn_models::morphable::MorphableModel;
use sgpn_models::onnx::{ModelProto, write_model};
use sgpn_models::shape_regressor::{
    META_COEFFICIENTS, META_CROP, META_D3DFR_LANDMARKS, META_MORPHABLE, META_MORPHABLE_SHA256,
    sha256_file,
};

use crate::export::graph::{AffbExport, OnnxGraph};
use checkpoint::Checkpoint;
use layers::Layers;
use spec::{COEFFICIENTS, SIZE};

/// ONNX opset of the imported graphs.
const OPSET: i64 = 17;
/// File names the import writes.
pub const GENERATOR_FILE: &str = "sgpn-paper512-official.onnx";
pub const REGRESSOR_FILE: &str = "d3dfr-official-regressor.onnx";
/// Informative metadata: which checkpoint a file was imported from (its SHA-256).
pub const META_SOURCE: &str = "sgpn.source";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("3DMM {path}: {problem}")]
    Morphable { path: PathBuf, problem: String },
    #[error("3D reference landmarks {path}: {problem}")]
    Landmarks { path: PathBuf, problem: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading a file to hash it (its message names the file).
    #[error(transparent)]
    Read(#[from] sgpn_models::error::ModelError),
}

/// The official generator checkpoint as an ONNX model of the `full` contract.
pub fn import_generator(checkpoint: &Path) -> Result<ModelProto, ImportError> {
    let mut l = open_layers(
        checkpoint,
        "official generator checkpoint",
        spec::generator_spec(),
        "sgpn_official_512",
    )?;
    generator::build(&mut l)?;
    let source = source_note(checkpoint)?;
    let size = SIZE.to_string();
    let Layers { g, ck, .. } = l;
    ck.finish()?;
    Ok(g.builder.finish(
        OPSET,
        &[
            (META_TEMPLATE, "sgpn"),
            (META_SIZE, &size),
            (META_VARIANT, "full"),
            (META_SOURCE, &source),
        ],
    ))
}

/// The official D3DFR checkpoint as an ONNX shape regressor for the 3DMM at `morphable`, with the
/// five 3D landmarks of the official crop read from `landmarks` (`similarity_Lm3D_all.mat`).
pub fn import_regressor(
    checkpoint: &Path,
    morphable: &Path,
    landmarks: &Path,
) -> Result<ModelProto, ImportError> {
    let model = MorphableModel::load(morphable).map_err(|e| ImportError::Morphable {
        path: morphable.to_owned(),
        problem: e.to_string(),
    })?;
    if model.coefficient_count() != COEFFICIENTS {
        return Err(ImportError::Morphable {
            path: morphable.to_owned(),
            problem: format!(
                "takes {} coefficients ({} id + {} exp + {} tex + 33 pose and light), but the official \
                 regressor predicts {COEFFICIENTS} (80 + 64 + 80 + 33): use BFM09 as Deep3DFaceRecon \
                 converts it (BFM_model_front.mat)",
                model.coefficient_count(),
                model.id_components(),
                model.exp_components(),
                model.tex_components()
            ),
        });
    }
    let sha = sha256_file(morphable).map_err(|e| ImportError::Morphable {
        path: morphable.to_owned(),
        problem: e.to_string(),
    })?;
    let lm3d = reference_landmarks(landmarks)?;
    let mut l = open_layers(
        checkpoint,
        "official D3DFR regressor checkpoint",
        spec::regressor_spec(),
        "d3dfr_official",
    )?;
    regressor::build(&mut l)?;
    let source = source_note(checkpoint)?;
    let name = morphable
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lm3d_text = lm3d
        .iter()
        .map(|v| format!("{v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let count = COEFFICIENTS.to_string();
    let Layers { g, ck, .. } = l;
    ck.finish()?;
    Ok(g.builder.finish(
        OPSET,
        &[
            (META_TEMPLATE, "sgpn"),
            (META_MORPHABLE_SHA256, &sha),
            (META_MORPHABLE, &name),
            (META_COEFFICIENTS, &count),
            (META_CROP, "d3dfr"),
            (META_D3DFR_LANDMARKS, &lm3d_text),
            (META_SOURCE, &source),
        ],
    ))
}

/// Writes both models into `dir` under [`GENERATOR_FILE`] and [`REGRESSOR_FILE`].
pub fn import_all(
    generator_ck: &Path,
    regressor_ck: &Path,
    morphable: &Path,
    landmarks: &Path,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), ImportError> {
    let write = |name: &str, model: &ModelProto| -> Result<PathBuf, ImportError> {
        let path = dir.join(name);
        write_model(&path, model).map_err(|source| ImportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    // One model in memory at a time: the generator alone is 300 MB.
    let regressor = write(
        REGRESSOR_FILE,
        &import_regressor(regressor_ck, morphable, landmarks)?,
    )?;
    let generator = write(GENERATOR_FILE, &import_generator(generator_ck)?)?;
    Ok((generator, regressor))
}

/// The checkpoint at `path`, checked against `spec`, and an empty graph named `graph`.
fn open_layers(
    path: &Path,
    what: &'static str,
    spec: Vec<spec::TensorSpec>,
    graph: &str,
) -> Result<Layers, ImportError> {
    let ck = Checkpoint::open(path, what, spec)?;
    Ok(Layers::new(
        OnnxGraph::new(graph, AffbExport::StandardOps),
        ck,
    ))
}

/// `<file name> (SHA-256 <hex>)` of a checkpoint.
fn source_note(checkpoint: &Path) -> Result<String, ImportError> {
    let sha = sha256_file(checkpoint)?;
    let name = checkpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!("{name} (SHA-256 {sha})"))
}

/// The five 3D landmarks of D3DFR's alignment (left eye, right eye, nose, left and right mouth
/// corner), from the 68 of `similarity_Lm3D_all.mat` (key `lm`, 68×3): the eyes as the means of
/// their corners (37/40 and 43/46, 1-based), the nose tip 31, the mouth corners 49 and 55.
pub fn reference_landmarks(path: &Path) -> Result<[f32; 15], ImportError> {
    let problem = |p: String| ImportError::Landmarks {
        path: path.to_owned(),
        problem: p,
    };
    let arrays = sgpn_models::mat::read_mat_file(path).map_err(|e| problem(e.to_string()))?;
    let lm = sgpn_models::mat::find(&arrays, "lm").map_err(|e| problem(e.to_string()))?;
    if lm.dims != [68, 3] {
        return Err(problem(format!(
            "'lm' has dimensions {:?}, expected 68×3 (Deep3DFaceRecon's similarity_Lm3D_all.mat)",
            lm.dims
        )));
    }
    let point = |i: usize| [lm.at(i - 1, 0), lm.at(i - 1, 1), lm.at(i - 1, 2)];
    let mean = |a: usize, b: usize| {
        let (p, q) = (point(a), point(b));
        [
            (p[0] + q[0]) / 2.0,
            (p[1] + q[1]) / 2.0,
            (p[2] + q[2]) / 2.0,
        ]
    };
    let five = [mean(37, 40), mean(43, 46), point(31), point(49), point(55)];
    let mut out = [0.0f32; 15];
    for (i, p) in five.iter().enumerate() {
        for (k, v) in p.iter().enumerate() {
            out[3 * i + k] = *v as f32;
        }
    }
    Ok(out)
}
