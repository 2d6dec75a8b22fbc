//! `sgpn-train import-official` on test fixtures in the official checkpoint format (the official
//! tensor names and full shapes, a deterministic pattern instead of weights;
//! `sgpn_train::official::fixture`): the imported ONNX models pass the element's contract
//! checks and agree within 1e-4 with the official PyTorch code run once on the same fixture
//! (`train/official/reference.py` wrote `train/tests/official/expected.json`), and broken
//! checkpoints get errors that name the problem.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use sgpn_models::contract::{Template, Variant};
use sgpn_models::generator::Generator;
use sgpn_models::morphable::MorphableModel;
use sgpn_models::runtime::SessionConfig;
use sgpn_models::shape_regressor::{RegressorCrop, ShapeRegressor, sha256_file};
use sgpn_train::official::fixture::{ImportedFixture, write_checkpoint, write_imported_fixture};
use sgpn_train::official::spec::{TensorSpec, generator_spec, regressor_spec};
use sgpn_train::official::{ImportError, import_generator, import_regressor};

/// Agreement asked of the import against the official forward pass.
const TOLERANCE: f32 = 1e-4;

fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("official_import");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn imported() -> &'static ImportedFixture {
    static FIXTURE: OnceLock<ImportedFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        write_imported_fixture(&scratch().join("imported")).expect("import of the fixture")
    })
}

fn expected() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official/expected.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The closed-form inputs of `reference.py`, in f64 then rounded as torch's `.float()` does.
fn pattern(batch: usize, size: usize, f: impl Fn(usize, usize, f64, f64) -> f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch * 3 * size * size);
    for n in 0..batch {
        for c in 0..3 {
            for y in 0..size {
                for x in 0..size {
                    out.push(f(n, c, x as f64, y as f64) as f32);
                }
            }
        }
    }
    out
}

fn lq_pattern(batch: usize, size: usize) -> Vec<f32> {
    pattern(batch, size, |n, c, x, y| {
        0.8 * (0.031 * (c + 1) as f64 * x + 0.017 * y + 0.5 * n as f64).sin()
    })
}

fn render_pattern(batch: usize, size: usize) -> Vec<f32> {
    let s = size as f64;
    pattern(batch, size, |n, c, x, y| {
        let inside =
            ((x - s / 2.0) / (0.35 * s)).powi(2) + ((y - s / 2.0) / (0.45 * s)).powi(2) < 1.0;
        if inside {
            0.6 * (0.023 * x - 0.029 * (c + 1) as f64 * y + n as f64).cos()
        } else {
            -1.0
        }
    })
}

fn max_abs_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_imported_generator_passes_the_contract_and_matches_the_official_network() {
    let fixture = imported();
    let mut generator = Generator::load(&fixture.generator, &SessionConfig::default()).unwrap();
    assert_eq!(generator.info.size, 512);
    assert_eq!(generator.info.variant, Variant::Full);
    assert_eq!(generator.info.template, Template::Sgpn);
    assert_eq!(generator.info.coefficients, Some(257));

    let want = expected();
    let want = &want["generator"];
    let batch = want["batch"].as_u64().unwrap() as usize;
    let coeffs: Vec<f32> = (0..batch)
        .flat_map(|n| (0..257).map(move |k| (0.3 * (0.37 * k as f64 + n as f64).sin()) as f32))
        .collect();
    let out = generator
        .restore_with_shape(
            &lq_pattern(batch, 512),
            &render_pattern(batch, 512),
            &coeffs,
            batch,
        )
        .unwrap();
    let (stride, offset) = (16, 8);
    let mut samples = Vec::new();
    for plane in out.chunks_exact(512 * 512) {
        for y in (offset..512).step_by(stride) {
            for x in (offset..512).step_by(stride) {
                samples.push(plane[y * 512 + x]);
            }
        }
    }
    let want_samples = floats(&want["restored_samples"]);
    // Most samples are inside (-1, 1), so the comparison is not decided by the clip.
    let inside = want_samples.iter().filter(|v| v.abs() < 0.999).count();
    assert!(
        inside > want_samples.len() / 2,
        "{inside} of {}",
        want_samples.len()
    );
    let diff = max_abs_diff(&samples, &want_samples);
    eprintln!(
        "generator: largest difference {diff:.2e} over {} samples",
        samples.len()
    );
    assert!(
        diff <= TOLERANCE,
        "largest difference to the official output: {diff}"
    );
    let means: Vec<f32> = out
        .chunks_exact(512 * 512)
        .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / p.len() as f64) as f32)
        .collect();
    let diff = max_abs_diff(&means, &floats(&want["restored_channel_means"]));
    assert!(diff <= TOLERANCE, "channel means differ by {diff}");
}

#[test]
fn the_imported_regressor_passes_the_contract_and_matches_the_official_network() {
    let fixture = imported();
    let mut regressor =
        ShapeRegressor::load(&fixture.regressor, &SessionConfig::default()).unwrap();
    assert_eq!(regressor.info.coefficients, 257);
    assert_eq!(regressor.info.template, Template::Sgpn);
    let RegressorCrop::D3dfr { landmarks } = regressor.info.crop else {
        panic!(
            "the official regressor takes D3DFR's crop, found {:?}",
            regressor.info.crop
        );
    };
    // The eyes are the means of their corners, as the official preprocessing takes them.
    assert_eq!(landmarks[0], [-0.3, 0.3, 0.125]);
    assert_eq!(landmarks[2], [0.0, -0.05, 0.5]);
    let model = MorphableModel::load(&fixture.morphable).unwrap();
    regressor
        .ensure_matches(
            &model,
            &fixture.morphable,
            &sha256_file(&fixture.morphable).unwrap(),
        )
        .unwrap();

    let want = expected();
    let want = &want["regressor"];
    let batch = want["batch"].as_u64().unwrap() as usize;
    let coeffs = regressor.regress(&lq_pattern(batch, 224), batch).unwrap();
    let want = floats(&want["coefficients"]);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.5,
        "the reference coefficients are not trivially small ({scale})"
    );
    let diff = max_abs_diff(&coeffs, &want);
    eprintln!(
        "regressor: largest difference {diff:.2e} over {} coefficients",
        coeffs.len()
    );
    assert!(
        diff <= TOLERANCE,
        "largest difference to the official coefficients: {diff}"
    );
}

/// The regressor spec with `edit` applied, written as a checkpoint; the import's error.
fn broken_regressor(name: &str, edit: impl FnOnce(&mut Vec<TensorSpec>)) -> String {
    let mut spec = regressor_spec();
    edit(&mut spec);
    let path = scratch().join(name);
    write_checkpoint(&path, &spec).unwrap();
    let f = imported();
    let message = import_regressor(&path, &f.morphable, &f.landmarks)
        .unwrap_err()
        .to_string();
    std::fs::remove_file(&path).unwrap();
    message
}

#[test]
fn broken_checkpoints_get_errors_that_name_the_tensor() {
    let missing = broken_regressor("missing.pth", |s| {
        s.retain(|t| t.name != "backbone.layer3.2.bn2.running_var")
    });
    assert!(
        missing.contains("missing 1 tensor(s): 'backbone.layer3.2.bn2.running_var'")
            && missing.contains("missing.pth"),
        "{missing}"
    );
    let extra = broken_regressor("extra.pth", |s| {
        let mut t = s[0].clone();
        t.name = "backbone.fc.weight".into();
        s.push(t);
    });
    assert!(
        extra.contains("1 unexpected tensor(s): 'backbone.fc.weight'"),
        "{extra}"
    );
    let misshaped = broken_regressor("misshaped.pth", |s| {
        let t = s
            .iter_mut()
            .find(|t| t.name == "final_layers.4.weight")
            .unwrap();
        t.shape = vec![30, 2048, 1, 1];
    });
    assert!(
        misshaped.contains(
            "'final_layers.4.weight' has shape [30, 2048, 1, 1], expected [27, 2048, 1, 1]"
        ),
        "{misshaped}"
    );
}

#[test]
fn wrong_files_get_clear_errors() {
    let f = imported();
    // The generator's checkpoint given as the regressor's: names the role and the mismatch.
    let swapped = import_regressor(&f.generator_checkpoint, &f.morphable, &f.landmarks)
        .unwrap_err()
        .to_string();
    assert!(
        swapped.contains("official D3DFR regressor checkpoint")
            && swapped.contains("swapped?")
            && swapped.contains("missing")
            && swapped.contains("unexpected tensor(s): 'netE.ecd0.0.0.weight'"),
        "{swapped}"
    );
    // A truncated checkpoint and a file that is not a checkpoint at all.
    let truncated = scratch().join("truncated.pth");
    let bytes = std::fs::read(&f.regressor_checkpoint).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let message = import_generator(&truncated).unwrap_err().to_string();
    assert!(
        message.contains("official generator checkpoint")
            && message.contains("cannot be read as a PyTorch checkpoint"),
        "{message}"
    );
    let text = scratch().join("notes.pth");
    std::fs::write(&text, "not a checkpoint\n").unwrap();
    let message = import_generator(&text).unwrap_err().to_string();
    assert!(
        message.contains("cannot be read as a PyTorch checkpoint"),
        "{message}"
    );
    // A 3DMM with another coefficient layout, and a landmarks file without 'lm'.
    let other = scratch().join("other-3dmm.safetensors");
    sgpn_models::fixtures::ellipsoid_cap_morphable(4, 2, [0.5; 3])
        .save_safetensors(&other)
        .unwrap();
    let message = import_regressor(&f.regressor_checkpoint, &other, &f.landmarks)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("takes 39 coefficients") && message.contains("257"),
        "{message}"
    );
    let message =
        import_regressor(&f.regressor_checkpoint, &f.morphable, &f.morphable).unwrap_err();
    assert!(
        matches!(message, ImportError::Landmarks { .. }),
        "{message}"
    );
}

#[test]
fn a_wrong_blur_filter_is_named() {
    let mut spec = generator_spec();
    let t = spec
        .iter_mut()
        .find(|t| t.name == "netE.ecd1.0.0.kernel")
        .unwrap();
    t.role = sgpn_train::official::spec::Role::Bias;
    let path = scratch().join("wrong-blur.pth");
    write_checkpoint(&path, &spec).unwrap();
    let message = import_generator(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        message.contains("'netE.ecd1.0.0.kernel'")
            && message.contains("not the [1,3,3,1] blur filter"),
        "{message}"
    );
}
