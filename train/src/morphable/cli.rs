//! The 3DMM subcommands of `sgpn-train`: `morphable-build` (the default 3DMM from a prepared
//! cache) and `teacher-fit` (the frozen per-face reconstruction cache, Eq. 14's target).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use sgpn_kernels::render::{Camera, render_face};
use sgpn_models::SessionConfig;
use sgpn_models::contract::Template;
use sgpn_models::face_mesh::{CanonicalMesh, FaceMeshLandmarker};
use sgpn_models::morphable::MorphableModel;

use super::build::{BuildConfig, BuildReport, build_model};
use super::samples::{FaceSample, read_crop, sample_crops};
use crate::data::cli::deps_file;
use crate::data::prepare::prepared_crops;

/// Default MediaPipe landmarker (`scripts/setup-train.sh`).
pub fn default_landmarker() -> PathBuf {
    deps_file("models/face_landmark.onnx")
}

/// Default MediaPipe canonical mesh (`scripts/setup-train.sh`).
pub fn default_canonical() -> PathBuf {
    deps_file("models/canonical_face_mesh.binarypb")
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Prepared crop cache (crops/ and results.jsonl from `sgpn-train prepare`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output 3DMM (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Alignment template the crops were prepared with.
    #[arg(long, default_value = "sgpn")]
    pub template: Template,
    /// MediaPipe face landmarker ONNX.
    #[arg(long, default_value_os_t = default_landmarker())]
    pub landmarker: PathBuf,
    /// MediaPipe canonical face mesh (.binarypb).
    #[arg(long, default_value_os_t = default_canonical())]
    pub canonical: PathBuf,
    /// Identity components K_id.
    #[arg(long, default_value_t = 40)]
    pub id_components: usize,
    /// Albedo components K_tex.
    #[arg(long, default_value_t = 40)]
    pub tex_components: usize,
    /// Fraction of faces (the last ones) held out of the PCA for the reconstruction error.
    #[arg(long, default_value_t = 0.05)]
    pub held_out: f64,
    /// Use only the first N crops (for quick checks).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// The cache's crops (at most `limit`) and their side in pixels.
pub fn crops_of(data: &Path, limit: Option<usize>) -> Result<(Vec<PathBuf>, usize)> {
    let mut crops = prepared_crops(data)
        .with_context(|| format!("cannot list the prepared crops of {}", data.display()))?;
    if let Some(limit) = limit {
        crops.truncate(limit);
    }
    let first = crops
        .first()
        .with_context(|| format!("{} holds no prepared crops", data.display()))?;
    let size = read_crop(first)?.width;
    Ok((crops, size))
}

/// Landmarker meshes and colours of `crops` (2 intra-op threads), with progress on stderr.
pub fn landmark_crops(
    landmarker: &Path,
    crops: &[PathBuf],
    size: usize,
    template: Template,
) -> Result<Vec<FaceSample>> {
    let cfg = SessionConfig {
        intra_threads: 2,
        ..Default::default()
    };
    let mut landmarker = FaceMeshLandmarker::load(landmarker, &cfg)
        .with_context(|| format!("cannot load the face landmarker {}", landmarker.display()))?;
    let start = Instant::now();
    let samples = sample_crops(
        &mut landmarker,
        crops,
        size,
        &template.landmarks(size),
        |done, total| {
            if done % 1024 < super::samples::BATCH || done == total {
                eprintln!(
                    "landmarker: {done}/{total} crops ({:.0} s)",
                    start.elapsed().as_secs_f32()
                );
            }
        },
    )?;
    eprintln!(
        "landmarker: {:.1} ms per crop",
        start.elapsed().as_secs_f64() * 1e3 / crops.len().max(1) as f64
    );
    Ok(samples)
}

/// `sgpn-train morphable-build`.
pub fn build(args: BuildArgs) -> Result<()> {
    let canonical = CanonicalMesh::load(&args.canonical).with_context(|| {
        format!(
            "cannot load the canonical mesh {}",
            args.canonical.display()
        )
    })?;
    let (crops, size) = crops_of(&args.data, args.limit)?;
    let samples = landmark_crops(&args.landmarker, &crops, size, args.template)?;
    let start = Instant::now();
    let cfg = BuildConfig {
        id_components: args.id_components,
        tex_components: args.tex_components,
        held_out: args.held_out,
        min_presence: 0.0,
        source: format!(
            "sgpn-train morphable-build: MediaPipe canonical face mesh topology (Apache-2.0) with \
             PCA bases learned from the MediaPipe face landmarker's meshes and vertex colours of \
             {} aligned {size}-px All-Age-Faces training crops ({}; non-commercial research use \
             only); K_id {}, K_exp 0, K_tex {}; decimetres, D3DFR camera",
            crops.len(),
            args.data.display(),
            args.id_components,
            args.tex_components
        ),
    };
    let (model, report) = build_model(&samples, &canonical, &cfg)?;
    eprintln!(
        "build: {:.1} s after the landmarker",
        start.elapsed().as_secs_f32()
    );
    print_report(&report, &cfg);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    model
        .save_safetensors(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let back = MorphableModel::load(&args.out)
        .with_context(|| format!("cannot read back {}", args.out.display()))?;
    anyhow::ensure!(
        back == model,
        "{} does not read back equal",
        args.out.display()
    );
    let (bbox, coverage) = mean_face_coverage(&back)?;
    println!(
        "wrote {} ({} bytes, {} coefficients); mean face at angles 0, translation 0 rendered at \
         224: bbox x {}..{}, y {}..{}, {:.1} % of the image covered",
        args.out.display(),
        std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0),
        back.coefficient_count(),
        bbox[0],
        bbox[1],
        bbox[2],
        bbox[3],
        coverage * 100.0
    );
    Ok(())
}

fn print_report(r: &BuildReport, cfg: &BuildConfig) {
    println!("faces: {} crops", r.faces_in);
    if r.dropped.is_empty() {
        println!("  dropped: none");
    }
    for (why, n) in &r.dropped {
        println!("  dropped: {n} ({why})");
    }
    println!(
        "  shape PCA on {} faces, {} held out; albedo on {} faces",
        r.train_faces, r.held_out_faces, r.albedo_faces
    );
    let fmt = |c: &[(usize, f64)]| {
        c.iter()
            .map(|(k, e)| format!("{k}: {:.2} %", e * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  shape explained variance: {}", fmt(&r.shape_curve));
    println!("  albedo explained variance: {}", fmt(&r.albedo_curve));
    println!(
        "  K_id {} explains {:.2} %, K_tex {} explains {:.2} %",
        cfg.id_components,
        r.shape_explained * 100.0,
        cfg.tex_components,
        r.albedo_explained * 100.0
    );
    println!(
        "  held-out mean vertex error: {:.3} mm with the mean shape, {:.3} mm projected on the id basis",
        r.held_out_mean_mm, r.held_out_basis_mm
    );
    println!(
        "  held-out albedo RMSE (0..1): {:.4} mean, {:.4} projected on the albedo basis",
        r.held_out_albedo_mean, r.held_out_albedo_basis
    );
    println!("  lighting fit colour RMSE (0..1): {:.4}", r.lighting_rmse);
}

/// The mean face at angles 0, translation 0, D3DFR's initial light, rendered at 224: the
/// covered bounding box (x0, x1, y0, y1) and fraction, a check that the units and camera fit.
pub fn mean_face_coverage(model: &MorphableModel) -> Result<([usize; 4], f64)> {
    let shape = model.shape(
        &vec![0.0; model.id_components()],
        &vec![0.0; model.exp_components()],
    )?;
    let albedo = model.albedo(&vec![0.0; model.tex_components()])?;
    let render = render_face(
        &shape,
        &model.triangles,
        &albedo,
        [0.0; 3],
        [0.0; 3],
        &[0.0; 27],
        &Camera::d3dfr(),
    )?;
    let s = render.size;
    let mut bbox = [s, 0, s, 0];
    let mut covered = 0usize;
    for (i, &m) in render.mask.iter().enumerate() {
        if m > 0.5 {
            let (x, y) = (i % s, i / s);
            bbox = [
                bbox[0].min(x),
                bbox[1].max(x),
                bbox[2].min(y),
                bbox[3].max(y),
            ];
            covered += 1;
        }
    }
    Ok((bbox, covered as f64 / (s * s) as f64))
}

#[derive(Args, Debug)]
pub struct TeacherArgs {
    /// Prepared crop cache (crops/ and results.jsonl from `sgpn-train prepare`).
    #[arg(long)]
    pub data: PathBuf,
    /// The 3DMM to fit (.safetensors or .mat).
    #[arg(long)]
    pub morphable: PathBuf,
    /// Alignment template the crops were prepared with.
    #[arg(long, default_value = "sgpn")]
    pub template: Template,
    /// MediaPipe face landmarker ONNX.
    #[arg(long, default_value_os_t = default_landmarker())]
    pub landmarker: PathBuf,
    /// Fit only the first N crops (a timing check); the result then goes to
    /// `<data>/teacher-first<N>.safetensors`, never to the training cache.
    #[arg(long)]
    pub limit: Option<usize>,
    /// PNG of crop | teacher render | overlay for the first faces.
    #[arg(long, default_value = "runs/teacher/teacher_grid.png")]
    pub grid: PathBuf,
    /// Faces in the grid.
    #[arg(long, default_value_t = 8)]
    pub grid_faces: usize,
}

/// `sgpn-train teacher-fit`.
pub fn teacher_fit(args: TeacherArgs) -> Result<()> {
    let model = MorphableModel::load(&args.morphable)
        .with_context(|| format!("cannot load the 3DMM {}", args.morphable.display()))?;
    let (crops, size) = crops_of(&args.data, args.limit)?;
    let samples = landmark_crops(&args.landmarker, &crops, size, args.template)?;
    let start = Instant::now();
    let cfg = super::fit::FitConfig::default();
    let fits = super::teacher::fit_samples(&model, &samples, size, &cfg)?;
    let secs = start.elapsed().as_secs_f64();
    let k = model.coefficient_count();
    let landmark_px = fits.iter().map(|f| f.landmark_px).sum::<f64>() / fits.len() as f64;
    let mut sorted: Vec<f64> = fits.iter().map(|f| f.landmark_px).collect();
    sorted.sort_by(f64::total_cmp);
    let p95 = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
    let (sq, n) = fits
        .iter()
        .fold((0.0, 0usize), |(s, n), f| (s + f.colour_sq, n + f.colour_n));
    let colour_rmse = (sq / n.max(1) as f64).sqrt();
    let low_presence = samples
        .iter()
        .filter(|s| s.presence.is_nan() || s.presence < 0.0)
        .count();
    println!(
        "teacher: {} crops fitted in {secs:.1} s ({:.1} ms per face); mean landmark error \
         {landmark_px:.3} px in the 224 view (95th percentile {p95:.3}); colour RMSE {colour_rmse:.4} \
         (0..1, {:.1}/255); {low_presence} crops with landmarker presence < 0.5 (fitted anyway)",
        fits.len(),
        secs * 1e3 / fits.len() as f64,
        colour_rmse * 255.0
    );
    let names: Vec<String> = crops
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let out = match args.limit {
        Some(n) => args.data.join(format!("teacher-first{n}.safetensors")),
        None => args.data.join(super::teacher::FILE_NAME),
    };
    let coeffs: Vec<f32> = fits.iter().flat_map(|f| f.coeffs.iter().copied()).collect();
    super::teacher::write_cache(
        &out,
        &coeffs,
        k,
        &names,
        &args.morphable,
        &[
            ("sgpn.teacher.landmark_px", format!("{landmark_px:.4}")),
            ("sgpn.teacher.colour_rmse", format!("{colour_rmse:.5}")),
        ],
    )?;
    println!("wrote {} ({} × {k})", out.display(), fits.len());
    let shown: Vec<(PathBuf, Vec<f32>)> = crops
        .iter()
        .zip(&fits)
        .take(args.grid_faces)
        .map(|(p, f)| (p.clone(), f.coeffs.clone()))
        .collect();
    super::grid::teacher_grid(&model, &shown, &args.grid)?;
    println!("wrote {}", args.grid.display());
    Ok(())
}
