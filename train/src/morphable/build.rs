//! The project's default 3DMM from the landmarker's meshes of the training faces (
//! docs/shape-prior.md): screen faces → Procrustes-align shapes to the canonical mesh in
//! decimetres → shape PCA → factor SH lighting out of the vertex colours → albedo PCA →
//! MediaPipe topology, iBUG-68 landmark vertices and D3DFR's camera. Each step is a function
//! below; `cli::build` runs them on a prepared cache.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sgpn_kernels::render::vertex_normals;
use sgpn_models::face_mesh::{CanonicalMesh, MESH_VERTICES};
use sgpn_models::morphable::{Basis, CameraParams, MorphableModel};

use super::albedo::{LitFace, face_albedo, factor_lighting, fit_light};
use super::geometry::{centred, image_to_model_axes, procrustes};
use super::landmarks68::IBUG68;
use super::pca::{self, Pca};
use super::samples::{FaceSample, check_sample};

/// The canonical mesh is in centimetres; the 3DMM is in decimetres like BFM09 (so D3DFR's
/// camera at z = 10 frames it the same way).
pub const CENTIMETRES_TO_MODEL: f64 = 0.1;
/// One model unit (decimetre) in millimetres, for reported errors.
pub const MODEL_TO_MM: f64 = 100.0;
/// Generalised Procrustes passes: the first aligns to the canonical mesh, later ones to the
/// current mean (rescaled to the canonical size) so the reference's own shape does not bias it.
const PROCRUSTES_PASSES: usize = 3;
/// A face needs this many sampled, camera-facing vertices for its colours to be used.
const MIN_SEEN_VERTICES: usize = 150;

/// Choices of one build.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    pub id_components: usize,
    pub tex_components: usize,
    /// The last fraction of the (ordered) faces is held out of the PCA to measure how well the
    /// bases reconstruct unseen faces.
    pub held_out: f64,
    /// Faces whose presence logit is below this are dropped (0 = MediaPipe's probability 0.5).
    pub min_presence: f32,
    /// Written to the file's `source` metadata.
    pub source: String,
}

/// What a build measured.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub faces_in: usize,
    pub dropped: BTreeMap<&'static str, usize>,
    pub train_faces: usize,
    pub held_out_faces: usize,
    pub albedo_faces: usize,
    /// Explained shape variance at 5, 10, 20, … components.
    pub shape_curve: Vec<(usize, f64)>,
    pub albedo_curve: Vec<(usize, f64)>,
    pub shape_explained: f64,
    pub albedo_explained: f64,
    /// Held-out mean vertex error in mm: mean shape alone, and projected onto the id basis.
    pub held_out_mean_mm: f64,
    pub held_out_basis_mm: f64,
    /// Held-out albedo RMSE (0..1): mean alone and projected onto the albedo basis.
    pub held_out_albedo_mean: f64,
    pub held_out_albedo_basis: f64,
    pub lighting_rmse: f64,
}

/// A face that passed screening: its index in the cache and its points in model axes.
pub struct ScreenedFace<'a> {
    pub index: usize,
    pub sample: &'a FaceSample,
    pub points: Vec<[f64; 3]>,
}

/// Step 1: keep faces the landmarker is sure of (MediaPipe drops faces below presence 0.5) and
/// whose mesh is complete and finite; counts the reasons for the rest.
pub fn screen_faces<'a>(
    samples: &'a [FaceSample],
    min_presence: f32,
    dropped: &mut BTreeMap<&'static str, usize>,
) -> Vec<ScreenedFace<'a>> {
    let mut kept = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        if !check_sample(sample) {
            *dropped.entry("incomplete or non-finite mesh").or_default() += 1;
        } else if sample.presence.is_nan() || sample.presence < min_presence {
            *dropped.entry("low face presence").or_default() += 1;
        } else {
            kept.push(ScreenedFace {
                index,
                sample,
                points: image_to_model_axes(&sample.points),
            });
        }
    }
    kept
}

/// Step 2: similarity-align every face to the canonical mesh in model units (centimetres ×
/// 0.1, centred on its centroid), removing pose, position and size so the PCA sees only shape
/// (Generalised Procrustes analysis). Returns `[V·3]` per face and the final reference.
pub fn align_shapes(faces: &[ScreenedFace], canonical: &CanonicalMesh) -> Result<Vec<Vec<f32>>> {
    let reference: Vec<[f64; 3]> = canonical
        .vertices
        .iter()
        .map(|v| v.map(|c| c as f64 * CENTIMETRES_TO_MODEL))
        .collect();
    let mut reference = centred(&reference);
    let size = rms_size(&reference);
    let mut aligned = Vec::new();
    for pass in 0..PROCRUSTES_PASSES {
        aligned = faces
            .iter()
            .map(|f| {
                let sim = procrustes(&f.points, &reference)
                    .with_context(|| format!("face {} has a degenerate mesh", f.index))?;
                Ok(f.points.iter().map(|&p| sim.apply(p)).collect::<Vec<_>>())
            })
            .collect::<Result<Vec<Vec<[f64; 3]>>>>()?;
        if pass + 1 < PROCRUSTES_PASSES {
            let n = aligned.len().max(1) as f64;
            let mean: Vec<[f64; 3]> = (0..reference.len())
                .map(|v| std::array::from_fn(|k| aligned.iter().map(|a| a[v][k]).sum::<f64>() / n))
                .collect();
            let mean = centred(&mean);
            let k = size / rms_size(&mean).max(1e-12);
            reference = mean.iter().map(|p| p.map(|c| c * k)).collect();
        }
    }
    Ok(aligned
        .into_iter()
        .map(|a| {
            centred(&a)
                .into_iter()
                .flatten()
                .map(|c| c as f32)
                .collect()
        })
        .collect())
}

fn rms_size(points: &[[f64; 3]]) -> f64 {
    (points
        .iter()
        .map(|p| p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
        .sum::<f64>()
        / points.len().max(1) as f64)
        .sqrt()
}

/// Camera-frame unit normals of a landmarker mesh (model axes), as D3DFR computes normals.
pub fn mesh_normals(points: &[[f64; 3]], triangles: &[[u32; 3]]) -> Result<Vec<[f32; 3]>> {
    let p: Vec<[f32; 3]> = points.iter().map(|p| p.map(|c| c as f32)).collect();
    vertex_normals(&p, triangles).context("normals of a landmarker mesh")
}

/// Mean vertex distance between two `[V·3]` shapes, in mm.
pub fn mean_vertex_error_mm(a: &[f64], b: &[f32]) -> f64 {
    let v = a.len() / 3;
    (0..v)
        .map(|i| {
            (0..3)
                .map(|k| (a[3 * i + k] - b[3 * i + k] as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .sum::<f64>()
        / v.max(1) as f64
        * MODEL_TO_MM
}

fn rms(a: &[f64], b: &[f32]) -> f64 {
    (a.iter()
        .zip(b)
        .map(|(x, &y)| (x - y as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64)
        .sqrt()
}

/// Explained variance at 5, 10, 20, 30, … components (up to what was computed).
fn curve(p: &Pca) -> Vec<(usize, f64)> {
    [5, 10, 20, 30, 40, 60, 80]
        .into_iter()
        .filter(|&k| k <= p.variances.len())
        .map(|k| (k, p.explained(k)))
        .collect()
}

/// Steps 1–6 on the landmarker samples of a prepared cache.
pub fn build_model(
    samples: &[FaceSample],
    canonical: &CanonicalMesh,
    cfg: &BuildConfig,
) -> Result<(MorphableModel, BuildReport)> {
    let mut report = BuildReport {
        faces_in: samples.len(),
        ..Default::default()
    };
    let faces = screen_faces(samples, cfg.min_presence, &mut report.dropped);
    let shapes = align_shapes(&faces, canonical)?;
    let held = ((faces.len() as f64 * cfg.held_out).round() as usize).min(faces.len());
    let split = faces.len() - held;
    anyhow::ensure!(
        split >= 2,
        "only {split} usable faces: too few to build a model"
    );
    report.train_faces = split;
    report.held_out_faces = held;

    // Step 3: shape PCA. Extra directions are computed for the explained-variance curve.
    let curve_k = cfg
        .id_components
        .max(cfg.tex_components)
        .clamp(80, 3 * MESH_VERTICES);
    let shape_pca = pca::fit(&shapes[..split], curve_k)?;
    report.shape_curve = curve(&shape_pca);
    report.shape_explained = shape_pca.explained(cfg.id_components);
    let (mut mean_err, mut basis_err) = (0.0, 0.0);
    for s in &shapes[split..] {
        mean_err += mean_vertex_error_mm(&shape_pca.mean, s);
        let rec = shape_pca.reconstruct(&shape_pca.project(s, cfg.id_components));
        basis_err += mean_vertex_error_mm(&rec, s);
    }
    report.held_out_mean_mm = mean_err / held.max(1) as f64;
    report.held_out_basis_mm = basis_err / held.max(1) as f64;

    // Step 4: albedo with the lighting factored out (see `albedo`).
    let normals = faces
        .iter()
        .map(|f| mesh_normals(&f.points, &canonical.triangles))
        .collect::<Result<Vec<_>>>()?;
    let lit: Vec<(usize, LitFace)> = faces
        .iter()
        .zip(&normals)
        .enumerate()
        .map(|(i, (f, n))| {
            (
                i,
                LitFace {
                    colours: &f.sample.colours,
                    normals: n,
                },
            )
        })
        .filter(|(_, f)| {
            (0..MESH_VERTICES).filter(|&v| f.seen(v).is_some()).count() >= MIN_SEEN_VERTICES
        })
        .collect();
    let dropped_colour = faces.len() - lit.len();
    if dropped_colour > 0 {
        *report
            .dropped
            .entry("too few seen vertices for albedo (shape kept)")
            .or_default() += dropped_colour;
    }
    let (train_lit, held_lit): (Vec<_>, Vec<_>) = lit.into_iter().partition(|(i, _)| *i < split);
    let train_lit: Vec<LitFace> = train_lit.into_iter().map(|(_, f)| f).collect();
    let held_lit: Vec<LitFace> = held_lit.into_iter().map(|(_, f)| f).collect();
    report.albedo_faces = train_lit.len();
    let factored = factor_lighting(&train_lit, MESH_VERTICES);
    report.lighting_rmse = factored.rmse;

    // Step 5: albedo PCA.
    let albedo_pca = pca::fit(&factored.faces, curve_k)?;
    report.albedo_curve = curve(&albedo_pca);
    report.albedo_explained = albedo_pca.explained(cfg.tex_components);
    if !held_lit.is_empty() {
        let held_albedo = factor_lighting_given_mean(&held_lit, &factored.mean);
        let (mut m, mut b) = (0.0, 0.0);
        for a in &held_albedo {
            m += rms(&albedo_pca.mean, a);
            let rec = albedo_pca.reconstruct(&albedo_pca.project(a, cfg.tex_components));
            b += rms(&rec, a);
        }
        report.held_out_albedo_mean = m / held_albedo.len() as f64;
        report.held_out_albedo_basis = b / held_albedo.len() as f64;
    }

    // Step 6: the model file's content.
    let rows = 3 * MESH_VERTICES;
    let model = MorphableModel {
        source: cfg.source.clone(),
        mean_shape: shape_pca.mean.iter().map(|&v| v as f32).collect(),
        id_basis: Basis {
            rows,
            components: cfg.id_components,
            values: shape_pca.scaled_basis(cfg.id_components),
        },
        exp_basis: Basis {
            rows,
            components: 0,
            values: Vec::new(),
        },
        mean_albedo: albedo_pca.mean.iter().map(|&v| v as f32).collect(),
        albedo_basis: Basis {
            rows,
            components: cfg.tex_components,
            values: albedo_pca.scaled_basis(cfg.tex_components),
        },
        triangles: canonical.triangles.clone(),
        landmarks: IBUG68.to_vec(),
        camera: CameraParams::D3DFR,
    };
    model.validate().context("the built morphable model")?;
    Ok((model, report))
}

/// Held-out faces' albedo: their own lighting fitted against the training mean albedo, then
/// colours divided by shading (the same estimate the training faces get).
fn factor_lighting_given_mean(faces: &[LitFace], mean: &[[f32; 3]]) -> Vec<Vec<f32>> {
    faces
        .iter()
        .map(|f| face_albedo(f, &fit_light(f, mean), mean).0)
        .collect()
}
