//! Tests across the build and teacher steps on a synthetic 3DMM (a face-sized spherical cap
//! with known smooth bases): the fit recovers known coefficients, the cache refuses stale files.

use std::path::Path;

use sgpn_kernels::render::{Camera, rotate, rotation, vertex_normals};
use sgpn_models::morphable::{Basis, CameraParams, Coefficients, MorphableModel};

use super::albedo::{LitFace, shading};
use super::fit::{FitConfig, FitTarget, fit_face};
use super::teacher::{FILE_NAME, TeacherCache, write_cache};

const GRID: usize = 14;

/// A spherical cap of GRID×GRID vertices, about 1.6 dm across (a face in BFM units), with 4
/// id directions and 3 albedo directions, each a smooth pattern.
fn synthetic_model() -> MorphableModel {
    let mut mean = Vec::new();
    let mut albedo = Vec::new();
    for j in 0..GRID {
        for i in 0..GRID {
            let (u, v) = (
                i as f32 / (GRID - 1) as f32 * 2.0 - 1.0,
                j as f32 / (GRID - 1) as f32 * 2.0 - 1.0,
            );
            let (x, y) = (0.8 * u, 0.9 * v);
            let z = 0.5 * (1.0 - 0.6 * (u * u + v * v));
            mean.extend([x, -y, z]);
            albedo.extend([0.7 + 0.1 * u, 0.5 + 0.05 * v, 0.4]);
        }
    }
    let n = GRID * GRID;
    let c: f32 = mean.chunks(3).map(|p| p[2]).sum::<f32>() / n as f32;
    mean.chunks_mut(3).for_each(|p| p[2] -= c);
    let rows = 3 * n;
    let pattern = |k: usize, row: usize, scale: f32| {
        let (v, axis) = (row / 3, row % 3);
        let (u, w) = ((v % GRID) as f32, (v / GRID) as f32);
        scale * ((u * (k + 1) as f32 * 0.31 + w * 0.17 * (axis + 1) as f32 + k as f32).sin())
    };
    let id = (0..rows)
        .flat_map(|r| (0..4).map(move |k| pattern(k, r, 0.02)))
        .collect();
    let tex = (0..rows)
        .flat_map(|r| (0..3).map(move |k| pattern(k + 7, r, 0.05)))
        .collect();
    let mut triangles = Vec::new();
    for j in 0..GRID - 1 {
        for i in 0..GRID - 1 {
            let a = (j * GRID + i) as u32;
            let (b, c, d) = (a + 1, a + GRID as u32, a + GRID as u32 + 1);
            // Counter-clockwise seen from +z (y up: rows go down).
            triangles.push([a, c, b]);
            triangles.push([b, c, d]);
        }
    }
    MorphableModel {
        source: "synthetic test cap".into(),
        mean_shape: mean,
        id_basis: Basis {
            rows,
            components: 4,
            values: id,
        },
        exp_basis: Basis {
            rows,
            components: 0,
            values: Vec::new(),
        },
        mean_albedo: albedo,
        albedo_basis: Basis {
            rows,
            components: 3,
            values: tex,
        },
        triangles,
        landmarks: vec![0, 5],
        camera: CameraParams::D3DFR,
    }
}

/// What the landmarker would report for `coeffs` in the 224 view: screen x, y and relative
/// depth (smaller nearer), and the shaded colours of camera-facing vertices.
fn observe(model: &MorphableModel, coeffs: &[f32]) -> (Vec<[f32; 3]>, Vec<Option<[f32; 3]>>) {
    let c = Coefficients::split(coeffs, model).unwrap();
    let camera = Camera::d3dfr();
    let shape = model.shape(&c.id, &c.exp).unwrap();
    let albedo = model.albedo(&c.tex).unwrap();
    let rot = rotation(c.angles);
    let scale = camera.focal / (camera.distance - c.translation[2]);
    let points = shape
        .iter()
        .map(|&p| {
            let r = rotate(p, &rot);
            let world: [f32; 3] = std::array::from_fn(|k| r[k] + c.translation[k]);
            let s = camera.project(camera.to_camera(world));
            [s[0], s[1], -world[2] * scale + 3.0]
        })
        .collect();
    let normals: Vec<[f32; 3]> = vertex_normals(&shape, &model.triangles)
        .unwrap()
        .into_iter()
        .map(|n| rotate(n, &rot))
        .collect();
    let gamma: [f32; 27] = c.gamma;
    let colours = normals
        .iter()
        .zip(&albedo)
        .map(|(n, a)| {
            let s = shading(*n, &gamma);
            Some(std::array::from_fn(|k| (a[k] as f64 * s[k]) as f32))
        })
        .collect();
    (points, colours)
}

fn known_coefficients(model: &MorphableModel) -> Vec<f32> {
    let mut gamma = [0.0f32; 27];
    for ch in 0..3 {
        gamma[ch * 9] = 0.1;
        gamma[ch * 9 + 1] = -0.15;
        gamma[ch * 9 + 3] = 0.1;
    }
    let c = Coefficients {
        id: vec![1.0, -0.7, 0.4, 1.5],
        exp: vec![],
        tex: vec![0.8, -1.2, 0.5],
        angles: [0.1, -0.25, 0.05],
        gamma,
        translation: [0.05, -0.1, -2.5],
    };
    let v = c.to_vec();
    assert_eq!(v.len(), model.coefficient_count());
    v
}

#[test]
fn teacher_fit_recovers_known_coefficients_of_a_synthetic_face() {
    let model = synthetic_model();
    model.validate().unwrap();
    let truth = known_coefficients(&model);
    let (points, colours) = observe(&model, &truth);
    let cfg = FitConfig {
        id_prior: 1e-4,
        tex_prior: 1e-6,
        ..FitConfig::default()
    };
    let fit = fit_face(
        &model,
        &Camera::d3dfr(),
        &FitTarget {
            points: &points,
            colours: &colours,
        },
        &cfg,
    )
    .unwrap();
    let (t, f) = (
        Coefficients::split(&truth, &model).unwrap(),
        Coefficients::split(&fit.coeffs, &model).unwrap(),
    );
    assert!(
        fit.landmark_px < 0.01,
        "landmark residual {} px",
        fit.landmark_px
    );
    for (a, b) in t.id.iter().zip(&f.id) {
        assert!((a - b).abs() < 0.02, "id {:?} vs {:?}", f.id, t.id);
    }
    for k in 0..3 {
        assert!(
            (t.angles[k] - f.angles[k]).abs() < 1e-3,
            "angles {:?} vs {:?}",
            f.angles,
            t.angles
        );
        assert!(
            (t.translation[k] - f.translation[k]).abs() < 5e-3,
            "translation {:?} vs {:?}",
            f.translation,
            t.translation
        );
    }
    for (a, b) in t.tex.iter().zip(&f.tex) {
        assert!((a - b).abs() < 0.05, "tex {:?} vs {:?}", f.tex, t.tex);
    }
    for k in [0, 1, 3, 9, 18] {
        assert!(
            (t.gamma[k] - f.gamma[k]).abs() < 0.02,
            "gamma {k}: {} vs {}",
            f.gamma[k],
            t.gamma[k]
        );
    }
    let rmse = (fit.colour_sq / fit.colour_n.max(1) as f64).sqrt();
    assert!(rmse < 1e-3, "colour RMSE {rmse}");
}

#[test]
fn lit_face_uses_only_camera_facing_vertices() {
    let colours = [Some([0.5f32; 3]), Some([0.5; 3]), None];
    let normals = [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]];
    let f = LitFace {
        colours: &colours,
        normals: &normals,
    };
    assert!(f.seen(0).is_some() && f.seen(1).is_none() && f.seen(2).is_none());
}

/// A prepared-cache folder with `names` as accepted crops (empty files: the cache only lists them).
fn prepared_folder(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir.join("crops")).unwrap();
    let mut lines = String::new();
    for n in names {
        std::fs::write(dir.join("crops").join(n), b"").unwrap();
        lines.push_str(&format!(
            "{{\"source\":\"{n}.jpg\",\"crop\":\"{n}\",\"rejection\":null,\"face\":null,\"fill_fraction\":null}}\n"
        ));
    }
    std::fs::write(dir.join("results.jsonl"), lines).unwrap();
}

#[test]
fn teacher_cache_round_trips_and_refuses_stale_files() {
    let dir = std::env::temp_dir().join(format!("sgpn-teacher-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    prepared_folder(&dir, &["a.png", "b.png"]);
    let model = synthetic_model();
    let morphable = dir.join("m.safetensors");
    model.save_safetensors(&morphable).unwrap();
    let k = model.coefficient_count();
    let coeffs: Vec<f32> = (0..2 * k).map(|i| i as f32).collect();
    let names = vec!["a.png".to_string(), "b.png".to_string()];
    write_cache(&dir.join(FILE_NAME), &coeffs, k, &names, &morphable, &[]).unwrap();

    let cache = TeacherCache::open(&dir, &morphable, &model).unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.coeffs(1).unwrap()[0], k as f32);
    let err = cache.coeffs(2).unwrap_err().to_string();
    assert!(err.contains("no crop 2"), "{err}");

    // Another crop list: stale.
    prepared_folder(&dir, &["a.png", "b.png", "c.png"]);
    let err = format!(
        "{:#}",
        TeacherCache::open(&dir, &morphable, &model).unwrap_err()
    );
    assert!(
        err.contains("stale") && err.contains("teacher-fit"),
        "{err}"
    );
    prepared_folder(&dir, &["a.png", "b.png"]);

    // Another 3DMM file: stale.
    let mut other = model.clone();
    other.mean_shape[0] += 0.01;
    other.save_safetensors(&morphable).unwrap();
    let err = format!(
        "{:#}",
        TeacherCache::open(&dir, &morphable, &model).unwrap_err()
    );
    assert!(err.contains("stale") && err.contains("SHA-256"), "{err}");

    // No cache at all: names the file.
    std::fs::remove_file(dir.join(FILE_NAME)).unwrap();
    let err = format!(
        "{:#}",
        TeacherCache::open(&dir, &morphable, &model).unwrap_err()
    );
    assert!(err.contains(FILE_NAME), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped 3DMM's teacher cache of the prepared training crops, when this checkout has run
/// `teacher-fit` (runs/ is git-ignored): it opens, holds one 113-value row per crop, and its
/// rows are plausible faces (translation z puts the face behind the origin, as in the 224 view
/// of an aligned crop).
#[test]
fn teacher_cache_of_the_prepared_training_crops_opens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("runs/data/aaf256");
    let morphable = root.join("models/sgpn-mediapipe-3dmm.safetensors");
    if !data.join(FILE_NAME).is_file() {
        println!(
            "skipped: {} is absent (run `sgpn-train teacher-fit --data runs/data/aaf256 --morphable models/sgpn-mediapipe-3dmm.safetensors`)",
            data.join(FILE_NAME).display()
        );
        return;
    }
    let model = MorphableModel::load(&morphable).unwrap();
    let cache = TeacherCache::open(&data, &morphable, &model).unwrap();
    assert_eq!(cache.coefficient_count(), model.coefficient_count());
    assert!(cache.len() > 1000);
    for i in [0, cache.len() / 2, cache.len() - 1] {
        let c = Coefficients::split(cache.coeffs(i).unwrap(), &model).unwrap();
        assert!(
            (-8.0..0.0).contains(&c.translation[2]),
            "crop {i}: translation {:?}",
            c.translation
        );
        assert!(
            c.angles.iter().all(|a| a.abs() < 1.0),
            "crop {i}: angles {:?}",
            c.angles
        );
    }
}
