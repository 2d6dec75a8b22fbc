//! Loader for the BFM09 face model in Deep3DFaceRecon's `BFM_model_front.mat` layout (written by
//! `util/load_mats.py::transferBFM09` with scipy `savemat`; the official SGPN code reads the same
//! keys from its `BFM09_model_info.mat`). It reads exactly what `ParametricFaceModel.__init__`
//! (`models/bfm.py`) reads for inference, with the same conversions:
//!
//! | key | dimensions | becomes |
//! |---|---|---|
//! | `meanshape` | 1×3V (or 3V×1) | `mean_shape`, recentred on its centroid (`recenter=True`) |
//! | `idBase`, `exBase` | 3V×80, 3V×64 | `id_basis`, `exp_basis` |
//! | `meantex` | 1×3V (or 3V×1), 0..255 | `mean_albedo` ÷ 255 (`compute_texture(normalize=True)`) |
//! | `texBase` | 3V×80, 0..255 scale | `albedo_basis` ÷ 255 |
//! | `tri` | F×3, 1-based | `triangles` − 1 |
//! | `keypoints` | 68×1 (or 1×68), 1-based | `landmarks` − 1 |
//!
//! Not kept: `point_buf` (each vertex's adjacent triangles, 1-based; derivable from `tri`),
//! and the training-only `frontmask2_idx`, `tri_mask2`, `skinmask` (photometric and skin losses
//! of Deep3DFaceRecon, which SGPN's losses do not use). The camera is Deep3DFaceRecon's default.

use std::path::Path;

use super::{Basis, CameraParams, MorphableError, MorphableModel};
use crate::mat::{MatArray, parse_mat};

/// The keys this loader requires, for the "missing key" message.
const REQUIRED_KEYS: &str = "meanshape, idBase, exBase, meantex, texBase, tri, keypoints";

/// Albedo values in the file are 8-bit colour levels.
const COLOUR_LEVELS: f64 = 255.0;

impl MorphableModel {
    /// Loads `BFM_model_front.mat` (Deep3DFaceRecon) or `BFM09_model_info.mat` (official SGPN).
    pub fn load_bfm09_front(path: &Path) -> Result<Self, MorphableError> {
        let bytes = std::fs::read(path).map_err(|source| MorphableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let arrays = parse_mat(&bytes).map_err(|source| MorphableError::Mat {
            path: path.to_path_buf(),
            source,
        })?;
        let file = MatFile {
            origin: path.display().to_string(),
            arrays,
        };

        let mut mean_shape = file.vertex_vector("meanshape")?;
        let rows = mean_shape.len();
        recenter(&mut mean_shape);
        let mean_shape = mean_shape.iter().map(|&v| v as f32).collect();
        let id_basis = file.basis("idBase", rows, 1.0)?;
        let exp_basis = file.basis("exBase", rows, 1.0)?;
        let mean_albedo = file.vertex_vector("meantex")?;
        if mean_albedo.len() != rows {
            return Err(file.shape_error(
                "meantex",
                &format!("{rows} values like meanshape (3 × {} vertices)", rows / 3),
                &format!("{} values", mean_albedo.len()),
            ));
        }
        let mean_albedo = mean_albedo
            .iter()
            .map(|&v| (v / COLOUR_LEVELS) as f32)
            .collect();
        let albedo_basis = file.basis("texBase", rows, 1.0 / COLOUR_LEVELS)?;
        let vertices = rows / 3;

        let tri = file.array("tri")?;
        if tri.dims.len() != 2 || tri.dims[1] != 3 {
            return Err(file.shape_error(
                "tri",
                "F×3 (one row per triangle)",
                &dims_text(&tri.dims),
            ));
        }
        let mut triangles = Vec::with_capacity(tri.dims[0]);
        for t in 0..tri.dims[0] {
            let mut triangle = [0u32; 3];
            for (corner, slot) in triangle.iter_mut().enumerate() {
                *slot =
                    file.vertex_index(&format!("tri[{t}, {corner}]"), tri.at(t, corner), vertices)?;
            }
            triangles.push(triangle);
        }

        let keypoints = file.array("keypoints")?;
        if !is_vector(&keypoints.dims) {
            return Err(file.shape_error(
                "keypoints",
                "a vector of landmark vertex indices (68×1 for BFM09)",
                &dims_text(&keypoints.dims),
            ));
        }
        let landmarks = keypoints
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| file.vertex_index(&format!("keypoints[{i}]"), v, vertices))
            .collect::<Result<Vec<_>, _>>()?;

        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.origin.clone());
        let model = MorphableModel {
            source: format!("{file_name} (BFM09, Deep3DFaceRecon BFM_model_front.mat layout)"),
            mean_shape,
            id_basis,
            exp_basis,
            mean_albedo,
            albedo_basis,
            triangles,
            landmarks,
            camera: CameraParams::D3DFR,
        };
        model.validate_as(&file.origin)?;
        Ok(model)
    }
}

/// The numeric arrays of one MAT file, with its path for messages.
struct MatFile {
    origin: String,
    arrays: Vec<MatArray>,
}

impl MatFile {
    fn array(&self, key: &str) -> Result<&MatArray, MorphableError> {
        self.arrays
            .iter()
            .find(|a| a.name == key)
            .ok_or_else(|| MorphableError::Missing {
                origin: self.origin.clone(),
                what: "numeric array",
                key: key.to_string(),
                hint: format!("a BFM_model_front.mat holds {REQUIRED_KEYS}"),
            })
    }

    fn shape_error(&self, key: &str, expected: &str, found: &str) -> MorphableError {
        MorphableError::Shape {
            origin: self.origin.clone(),
            what: key.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// A 1×3V or 3V×1 array of per-vertex triples, in file order (f64, converted by the caller).
    fn vertex_vector(&self, key: &str) -> Result<Vec<f64>, MorphableError> {
        let a = self.array(key)?;
        if !is_vector(&a.dims) || a.data.is_empty() || !a.data.len().is_multiple_of(3) {
            return Err(self.shape_error(
                key,
                "a 1×3V vector (x, y, z or r, g, b per vertex)",
                &dims_text(&a.dims),
            ));
        }
        Ok(a.data.clone())
    }

    /// A `rows`×K basis, transposed from MATLAB's column-major order and scaled by `scale`.
    fn basis(&self, key: &str, rows: usize, scale: f64) -> Result<Basis, MorphableError> {
        let a = self.array(key)?;
        if a.dims.len() != 2 || a.dims[0] != rows {
            return Err(self.shape_error(
                key,
                &format!(
                    "{rows}×K (3 × {} vertices of meanshape, K components)",
                    rows / 3
                ),
                &dims_text(&a.dims),
            ));
        }
        let components = a.dims[1];
        let mut values = Vec::with_capacity(rows * components);
        for row in 0..rows {
            values.extend((0..components).map(|col| (a.at(row, col) * scale) as f32));
        }
        Ok(Basis {
            rows,
            components,
            values,
        })
    }

    /// A MATLAB (1-based) vertex index as a 0-based one.
    fn vertex_index(&self, what: &str, value: f64, vertices: usize) -> Result<u32, MorphableError> {
        if value.fract() == 0.0 && value >= 1.0 && value <= vertices as f64 {
            Ok(value as u32 - 1)
        } else {
            Err(MorphableError::Index {
                origin: self.origin.clone(),
                what: what.to_string(),
                expected: format!("a 1-based vertex index in 1..={vertices}"),
                found: value.to_string(),
            })
        }
    }
}

/// Subtracts the centroid of the points, as `ParametricFaceModel(recenter=True)` does (here in
/// f64, before the conversion to f32; Deep3DFaceRecon converts first, which can differ in the
/// last bit).
fn recenter(xyz: &mut [f64]) {
    let n = (xyz.len() / 3) as f64;
    let mut centroid = [0.0f64; 3];
    for p in xyz.chunks_exact(3) {
        for axis in 0..3 {
            centroid[axis] += p[axis];
        }
    }
    for p in xyz.chunks_exact_mut(3) {
        for axis in 0..3 {
            p[axis] -= centroid[axis] / n;
        }
    }
}

/// At most one dimension differs from 1.
fn is_vector(dims: &[usize]) -> bool {
    dims.iter().filter(|&&d| d != 1).count() <= 1
}

fn dims_text(dims: &[usize]) -> String {
    let joined: Vec<String> = dims.iter().map(usize::to_string).collect();
    joined.join("×")
}
