//! The teacher cache (docs/shape-prior.md, "Teacher cache"): every prepared HQ crop's D3DFR
//! coefficients, fitted once with [`super::fit`] in the crop's 224 view, so `L_mesh` (paper
//! Eq. 14) compares the regressor's reconstruction from the LQ face with a frozen one.
//!
//! File: `<prepared cache>/teacher.safetensors`, tensor `coeffs` F32 [N, K] in
//! `prepare::prepared_crops` order; metadata `sgpn.morphable.sha256` (the 3DMM it was fitted
//! with) and `crops` (crop file names, newline-separated), so [`TeacherCache::open`] refuses a
//! cache of another 3DMM or another crop list.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sgpn_kernels::render::Camera;
use sgpn_models::morphable::MorphableModel;
use sgpn_models::shape_regressor::sha256_file;

use super::fit::{FitConfig, FitResult, FitTarget, fit_face};
use super::samples::FaceSample;
use crate::data::prepare::prepared_crops;

/// The cache file's name inside the prepared cache folder.
pub const FILE_NAME: &str = "teacher.safetensors";
const TENSOR: &str = "coeffs";
const KEY_SHA256: &str = "sgpn.morphable.sha256";
const KEY_CROPS: &str = "crops";
const KEY_MORPHABLE: &str = "sgpn.morphable";

/// The cache of a prepared folder, checked against the 3DMM and the crops.
#[derive(Debug)]
pub struct TeacherCache {
    path: PathBuf,
    k: usize,
    values: Vec<f32>,
    /// SHA-256 of the 3DMM file it was checked against (and fitted with).
    morphable_sha256: String,
}

impl TeacherCache {
    /// Opens `<data_dir>/teacher.safetensors` and checks that it was fitted with the 3DMM file
    /// `morphable_path` (same SHA-256, K coefficients; `morphable` is that file, already
    /// loaded) for exactly the crops `prepared_crops(data_dir)` lists, in that order. Errors
    /// name the file and say how to refresh it.
    pub fn open(
        data_dir: &Path,
        morphable_path: &Path,
        morphable: &MorphableModel,
    ) -> Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let refresh = format!(
            "re-run `sgpn-train teacher-fit --data {} --morphable {}`",
            data_dir.display(),
            morphable_path.display()
        );
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read the teacher cache {} ({refresh})",
                path.display()
            )
        })?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let get = |key: &str| {
            meta.get(key).with_context(|| {
                format!(
                    "{}: metadata '{key}' is missing ({refresh})",
                    path.display()
                )
            })
        };
        let sha = sha256_file(morphable_path)?;
        if get(KEY_SHA256)? != &sha {
            bail!(
                "{} is stale: it was fitted with a 3DMM of SHA-256 {}, but {} has {sha} ({refresh})",
                path.display(),
                get(KEY_SHA256)?,
                morphable_path.display()
            );
        }
        let crops = crop_names(data_dir)?;
        let cached: Vec<&str> = get(KEY_CROPS)?
            .split('\n')
            .filter(|s| !s.is_empty())
            .collect();
        if cached != crops.iter().map(String::as_str).collect::<Vec<_>>() {
            let first = cached
                .iter()
                .zip(&crops)
                .position(|(a, b)| *a != b.as_str())
                .unwrap_or(cached.len().min(crops.len()));
            bail!(
                "{} is stale: it holds {} crops, {} now lists {} (first difference at index \
                 {first}: {:?} vs {:?}) ({refresh})",
                path.display(),
                cached.len(),
                data_dir.display(),
                crops.len(),
                cached.get(first),
                crops.get(first)
            );
        }
        let k = morphable.coefficient_count();
        let tensors = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        let view = tensors
            .tensor(TENSOR)
            .with_context(|| format!("{}: tensor '{TENSOR}' is missing", path.display()))?;
        if view.dtype() != Dtype::F32 || view.shape() != [crops.len(), k] {
            bail!(
                "{}: tensor '{TENSOR}' must be F32 [{}, {k}] ({} crops × the 3DMM's K), found {:?} {:?} ({refresh})",
                path.display(),
                crops.len(),
                crops.len(),
                view.dtype(),
                view.shape()
            );
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            path,
            k,
            values,
            morphable_sha256: sha,
        })
    }

    /// SHA-256 of the 3DMM file the cache was fitted with (checked by [`Self::open`]).
    pub fn morphable_sha256(&self) -> &str {
        &self.morphable_sha256
    }

    /// Number of crops.
    pub fn len(&self) -> usize {
        self.values.len() / self.k.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Coefficients per crop (the 3DMM's K).
    pub fn coefficient_count(&self) -> usize {
        self.k
    }

    /// The coefficients of crop `crop_index` (its index in `prepared_crops` order).
    pub fn coeffs(&self, crop_index: usize) -> Result<&[f32]> {
        self.values
            .chunks_exact(self.k)
            .nth(crop_index)
            .with_context(|| {
                format!(
                    "{}: no crop {crop_index} (the cache holds {})",
                    self.path.display(),
                    self.len()
                )
            })
    }
}

/// File names of the prepared crops, in `prepared_crops` order (what `crops` records).
pub fn crop_names(data_dir: &Path) -> Result<Vec<String>> {
    Ok(prepared_crops(data_dir)
        .with_context(|| format!("cannot list the prepared crops of {}", data_dir.display()))?
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect())
}

/// Writes a cache: `coeffs` [N, K] with the metadata above (and the 3DMM's file name plus
/// extra `notes` for people reading it).
pub fn write_cache(
    path: &Path,
    coeffs: &[f32],
    k: usize,
    crops: &[String],
    morphable_path: &Path,
    notes: &[(&str, String)],
) -> Result<()> {
    anyhow::ensure!(
        coeffs.len() == crops.len() * k,
        "{} coefficient values for {} crops of K = {k}",
        coeffs.len(),
        crops.len()
    );
    let bytes: Vec<u8> = coeffs.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![crops.len(), k], &bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert(KEY_SHA256.into(), sha256_file(morphable_path)?);
    meta.insert(KEY_CROPS.into(), crops.join("\n"));
    meta.insert(
        KEY_MORPHABLE.into(),
        morphable_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    for (key, value) in notes {
        meta.insert((*key).into(), value.clone());
    }
    safetensors::serialize_to_file([(TENSOR, view)], Some(meta), path)
        .map_err(|e| anyhow::anyhow!("cannot write the teacher cache {}: {e}", path.display()))
}

/// A landmarker sample in the 224 view of a `size` crop (docs/shape-prior.md: coordinates
/// scaled by 224/size). The landmarker's pixel-centre coordinates become D3DFR screen
/// coordinates (pixel edges at integers) by +0.5 before scaling.
pub fn view_224(sample: &FaceSample, size: usize, camera: &Camera) -> Vec<[f32; 3]> {
    let s = camera.size as f32 / size as f32;
    sample
        .points
        .iter()
        .map(|p| [(p[0] + 0.5) * s, (p[1] + 0.5) * s, p[2] * s])
        .collect()
}

/// Fits every sample in parallel (rayon); one result per sample, in order.
pub fn fit_samples(
    model: &MorphableModel,
    samples: &[FaceSample],
    size: usize,
    cfg: &FitConfig,
) -> Result<Vec<FitResult>> {
    let camera = Camera::d3dfr();
    samples
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let points = view_224(s, size, &camera);
            fit_face(
                model,
                &camera,
                &FitTarget {
                    points: &points,
                    colours: &s.colours,
                },
                cfg,
            )
            .with_context(|| format!("teacher fit of crop {i}"))
        })
        .collect()
}
