//! The shape step end to end (paper Fig. 2, Sec. 3.1): detect → align → warp → shape regressor →
//! 3DMM → render → generator → paste back, on a real photo, with test fixtures: a regressor that
//! returns known coefficients (a frontal face at the origin under ambient light only, so its
//! render has one known colour), a synthetic 3DMM (`fixtures::ellipsoid_cap_morphable`, 441
//! vertices, saved as safetensors) and generators written by the project's ONNX writer.
//!
//! - `OutputMode::Render` paints the render where the mesh covers the crop and leaves the frame
//!   alone elsewhere; every frame comes out.
//! - A `full` generator computing `(lq + render) / 2` moves the face halfway to the render's
//!   colour: the render reaches it aligned with the crop.
//! - A 3DMM of another coefficient count or another SHA-256, a `full` generator without a shape
//!   prior, a shape prior nothing uses, and a regressor of another template fail at start.

mod support;

use std::path::{Path, PathBuf};

use sgpn_face::align::align_to_template;
use sgpn_face::{
    FaceRestorer, OutputMode, PasteMode, RestoreParams, RestoredFace, RestorerConfig, ShapeConfig,
};
use sgpn_kernels::render::{Camera, render_face};
use sgpn_models::contract::Template;
use sgpn_models::fixtures::{
    ellipsoid_cap_morphable, write_frontal_shape_prior, write_identity_generator,
    write_render_blend_generator,
};
use sgpn_models::morphable::{Coefficients, MorphableModel};
use sgpn_models::shape_regressor::sha256_file;
use support::{photo, process_rgb, temp_dir};

/// The generator's crop size.
const SIZE: usize = 256;
/// Mean albedo of the synthetic 3DMM: a red far from any skin tone.
const ALBEDO: [f32; 3] = [0.9, 0.2, 0.2];
/// K_id and K_tex of the synthetic 3DMM (no expression basis, as the project's own 3DMM).
const K_ID: usize = 4;
const K_TEX: usize = 2;

/// What the regressor fixture of `write_frontal_shape_prior` returns: mean shape and albedo,
/// frontal, at the origin, ambient light only (D3DFR adds 0.8 to the first SH band, so every
/// pixel gets `albedo · 0.8 · π/√(4π)`).
fn frontal_coefficients(model: &MorphableModel) -> Vec<f32> {
    vec![0.0; model.coefficient_count()]
}

/// The render's colour in frame levels (0..255).
fn render_level(albedo: f32) -> f32 {
    let ambient = 0.8 * std::f32::consts::PI / (4.0 * std::f32::consts::PI).sqrt();
    (albedo * ambient).clamp(0.0, 1.0) * 255.0
}

/// A 3DMM file and a regressor fixture trained (by its metadata) with it.
struct ShapeFiles {
    regressor: PathBuf,
    morphable: PathBuf,
    model: MorphableModel,
}

fn shape_files(dir: &Path, template: Template) -> ShapeFiles {
    let model = ellipsoid_cap_morphable(K_ID, K_TEX, ALBEDO);
    let morphable = dir.join("cap.safetensors");
    let regressor = dir.join(format!("regressor-{template}.onnx"));
    write_frontal_shape_prior(&model, &morphable, &regressor, template).unwrap();
    ShapeFiles {
        regressor,
        morphable,
        model,
    }
}

fn shape_config(files: &ShapeFiles) -> ShapeConfig {
    ShapeConfig {
        regressor_path: files.regressor.clone(),
        morphable_path: files.morphable.clone(),
    }
}

/// The test's restorer settings: `generator`, the shape prior of `shape`, `output_mode`.
fn config(generator: &Path, shape: Option<&ShapeFiles>, output_mode: OutputMode) -> RestorerConfig {
    support::config(generator, shape.map(shape_config), output_mode)
}

fn start_error(cfg: &RestorerConfig) -> String {
    FaceRestorer::new(cfg)
        .err()
        .expect("the restorer must not start")
        .to_string()
}

/// Runs `frames` copies of the photo through one restorer; every frame must come out with its
/// face. Returns the input and the last output. Without the colour fix: the fixtures paint flat
/// render colours, which it would take out again.
fn run_frames(
    cfg: &RestorerConfig,
    frames: usize,
    paste_mode: PasteMode,
) -> (usize, usize, Vec<u8>, Vec<u8>, RestoredFace) {
    let params = RestoreParams {
        paste_mode,
        colour_fix: false,
        ..RestoreParams::default()
    };
    let (w, h, original) = photo("obama.jpg", 0.4);
    let mut restorer = FaceRestorer::new(cfg).unwrap();
    let mut last = None;
    for i in 0..frames {
        let mut pixels = original.clone();
        let faces = process_rgb(&mut restorer, w, h, &mut pixels, &params)
            .unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!(
            faces.len(),
            1,
            "frame {i}: one face expected, found {faces:?}"
        );
        let t = restorer.timings();
        assert!(t.regress > 0.0 && t.render > 0.0, "frame {i}: {t:?}");
        last = Some((pixels, faces[0].clone()));
    }
    let (out, face) = last.expect("at least one frame");
    (w, h, original, out, face)
}

/// Where the frame's pixels fall on the render: for each frame pixel, `Some(true)` when every
/// render pixel within `margin` crop pixels is covered by the mesh, `Some(false)` when none is,
/// `None` near the silhouette; the crop border's 40 pixels (the paste's feathered band) count
/// as `None` for covered pixels.
fn coverage_map(
    model: &MorphableModel,
    face: &RestoredFace,
    w: usize,
    h: usize,
    margin: i64,
) -> Vec<Option<bool>> {
    let coefficients = Coefficients::split(&frontal_coefficients(model), model).unwrap();
    let vertices = model.shape(&coefficients.id, &coefficients.exp).unwrap();
    let albedo = model.albedo(&coefficients.tex).unwrap();
    let render = render_face(
        &vertices,
        &model.triangles,
        &albedo,
        coefficients.angles,
        coefficients.translation,
        &coefficients.gamma,
        &Camera::scaled(SIZE),
    )
    .unwrap();
    let covered = |x: i64, y: i64| {
        (0..SIZE as i64).contains(&x)
            && (0..SIZE as i64).contains(&y)
            && render.mask[y as usize * SIZE + x as usize] > 0.0
    };
    let alignment = align_to_template(&face.landmarks, Template::Sgpn, SIZE).unwrap();
    let mut map = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (cx, cy) = alignment.frame_to_crop.apply(x as f32, y as f32);
            let (cx, cy) = (cx.round() as i64, cy.round() as i64);
            let around: Vec<bool> = (-margin..=margin)
                .flat_map(|dy| (-margin..=margin).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| covered(cx + dx, cy + dy))
                .collect();
            let inner =
                (40..SIZE as i64 - 40).contains(&cx) && (40..SIZE as i64 - 40).contains(&cy);
            map.push(if around.iter().all(|&c| c) && inner {
                Some(true)
            } else if around.iter().all(|&c| !c) {
                Some(false)
            } else {
                None
            });
        }
    }
    map
}

/// Checks that the errors (output − expected, in levels) are small on average and for 95 % of
/// the values.
fn assert_close(errors: &[f32], what: &str, mean_max: f32, p95_max: f32) {
    let mut abs: Vec<f32> = errors.iter().map(|e| e.abs()).collect();
    abs.sort_by(f32::total_cmp);
    let mean = abs.iter().sum::<f32>() / abs.len() as f32;
    let p95 = abs[abs.len() * 95 / 100];
    let max = abs[abs.len() - 1];
    println!("{what}: mean |error| {mean:.2}, 95th percentile {p95:.1}, max {max:.1} levels");
    assert!(
        mean <= mean_max && p95 <= p95_max,
        "{what}: mean |error| {mean:.2}, 95th percentile {p95:.1} levels"
    );
}

#[test]
fn render_mode_paints_the_shape_prior_where_the_mesh_covers_the_face_and_nowhere_else() {
    let dir = temp_dir("render-mode");
    let shape = shape_files(&dir, Template::Sgpn);
    // The shipped generator is `no3d`: the render mode must work with it.
    let generator = dir.join("identity.onnx");
    write_identity_generator(&generator, SIZE, Template::Sgpn).unwrap();
    let cfg = config(&generator, Some(&shape), OutputMode::Render);
    let expected = ALBEDO.map(render_level);

    // Residual paste (the default): the render's change is added, so pixels away from the mesh
    // keep every bit, and those under it show the render plus the frame's detail finer than the
    // crop (`in − lq`, up to tens of levels on single edge pixels).
    let (w, h, original, out, face) = run_frames(&cfg, 3, PasteMode::Residual);
    let map = coverage_map(&shape.model, &face, w, h, 3);
    let (mut errors, mut outside) = (Vec::new(), 0);
    for (i, place) in map.iter().enumerate() {
        let (before, after) = (&original[3 * i..3 * i + 3], &out[3 * i..3 * i + 3]);
        match place {
            Some(true) => errors.extend((0..3).map(|c| f32::from(after[c]) - expected[c])),
            Some(false) => {
                outside += 1;
                assert_eq!(before, after, "pixel {i} away from the mesh was changed");
            }
            None => {}
        }
    }
    let inside = errors.len() / 3;
    assert!(inside > 2000, "{inside} pixels under the mesh");
    assert!(outside > 10 * inside, "{outside} pixels away from it");
    assert_close(&errors, "render mode, residual paste", 2.5, 8.0);

    // Replace paste: under the mesh the frame shows the render itself.
    let (w, h, _, out, face) = run_frames(&cfg, 1, PasteMode::Replace);
    let map = coverage_map(&shape.model, &face, w, h, 3);
    let errors: Vec<f32> = (0..w * h)
        .filter(|&i| map[i] == Some(true))
        .flat_map(|i| (0..3).map(move |c| (i, c)))
        .map(|(i, c)| f32::from(out[3 * i + c]) - expected[c])
        .collect();
    assert_close(&errors, "render mode, replace paste", 0.6, 1.0);
}

#[test]
fn a_full_generator_gets_each_face_rendered_in_its_own_alignment() {
    let dir = temp_dir("full");
    let shape = shape_files(&dir, Template::Sgpn);
    let generator = dir.join("render-blend.onnx");
    write_render_blend_generator(&generator, SIZE, Template::Sgpn).unwrap();
    let cfg = config(&generator, Some(&shape), OutputMode::Restored);
    let (w, h, original, out, face) = run_frames(&cfg, 2, PasteMode::Residual);

    // restored = (lq + render) / 2, pasted as a change: the face moves halfway to the render.
    let map = coverage_map(&shape.model, &face, w, h, 3);
    let expected = ALBEDO.map(render_level);
    let mut errors = Vec::new();
    for (i, place) in map.iter().enumerate() {
        if *place == Some(true) {
            errors.extend((0..3).map(|c| {
                let before = f32::from(original[3 * i + c]);
                f32::from(out[3 * i + c]) - (before + expected[c]) / 2.0
            }));
        }
    }
    let checked = errors.len() / 3;
    // As in the render mode's residual paste, with the detail term halved.
    assert_close(&errors, "full generator", 1.5, 4.0);
    assert!(checked > 2000, "{checked} pixels under the mesh");
}

#[test]
fn a_3dmm_the_regressor_was_not_trained_with_is_refused_at_start() {
    let dir = temp_dir("mismatch");
    let shape = shape_files(&dir, Template::Sgpn);
    let generator = dir.join("render-blend.onnx");
    write_render_blend_generator(&generator, SIZE, Template::Sgpn).unwrap();

    // Another coefficient count.
    let wider = dir.join("cap-wider.safetensors");
    ellipsoid_cap_morphable(K_ID + 1, K_TEX, ALBEDO)
        .save_safetensors(&wider)
        .unwrap();
    let mut files = ShapeFiles {
        morphable: wider.clone(),
        regressor: shape.regressor.clone(),
        model: shape.model.clone(),
    };
    let msg = start_error(&config(&generator, Some(&files), OutputMode::Restored));
    assert!(
        msg.contains(&shape.regressor.display().to_string())
            && msg.contains(&wider.display().to_string())
            && msg.contains("outputs 39 coefficients")
            && msg.contains("takes 40"),
        "{msg}"
    );

    // Same coefficient count, another file.
    let other = dir.join("cap-other.safetensors");
    ellipsoid_cap_morphable(K_ID, K_TEX, [0.5, 0.5, 0.5])
        .save_safetensors(&other)
        .unwrap();
    files.morphable = other.clone();
    let msg = start_error(&config(&generator, Some(&files), OutputMode::Restored));
    assert!(
        msg.contains(&shape.regressor.display().to_string())
            && msg.contains(&other.display().to_string())
            && msg.contains("SHA-256")
            && msg.contains(&sha256_file(&shape.morphable).unwrap())
            && msg.contains(&sha256_file(&other).unwrap()),
        "{msg}"
    );

    // A missing 3DMM file is named.
    files.morphable = dir.join("no-such-3dmm.safetensors");
    let msg = start_error(&config(&generator, Some(&files), OutputMode::Restored));
    assert!(msg.contains("no-such-3dmm.safetensors"), "{msg}");
}

#[test]
fn shape_settings_that_do_not_fit_the_generator_fail_at_start() {
    let dir = temp_dir("settings");
    let shape = shape_files(&dir, Template::Sgpn);
    let full = dir.join("render-blend.onnx");
    write_render_blend_generator(&full, SIZE, Template::Sgpn).unwrap();
    let no3d = dir.join("identity.onnx");
    write_identity_generator(&no3d, SIZE, Template::Sgpn).unwrap();

    let msg = start_error(&config(&full, None, OutputMode::Restored));
    assert!(
        msg.contains("render-blend.onnx")
            && msg.contains("variant 'full'")
            && msg.contains("shape-regressor"),
        "{msg}"
    );
    let msg = start_error(&config(&no3d, Some(&shape), OutputMode::Restored));
    assert!(
        msg.contains("identity.onnx")
            && msg.contains("variant 'no3d'")
            && msg.contains(&shape.regressor.display().to_string()),
        "{msg}"
    );
    let msg = start_error(&config(&no3d, None, OutputMode::Render));
    assert!(
        msg.contains("output mode 'render'") && msg.contains("shape-regressor"),
        "{msg}"
    );
    let ffhq = shape_files(&dir, Template::Ffhq);
    let msg = start_error(&config(&full, Some(&ffhq), OutputMode::Restored));
    assert!(
        msg.contains(&ffhq.regressor.display().to_string())
            && msg.contains("'ffhq'")
            && msg.contains("render-blend.onnx"),
        "{msg}"
    );
}
