//! The exported shape regressor computes what burn computes in eval mode: ONNX Runtime's
//! `coeffs` equal `ShapeRegressor::forward` (relative error ≤ 1e-4) at batch 1 and 3 once the
//! BatchNorms hold non-trivial running statistics and affines (so the folding is exercised);
//! the file passes the element's contract check (`sgpn_models::ShapeRegressor::load`) with the
//! metadata of docs/shape-prior.md; bad input and bad metadata are typed errors; checkpoints
//! round-trip; `export-regressor` stamps the 3DMM's SHA-256; ResNet-50 builds and exports.

mod support;

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use sgpn_models::morphable::Basis;
use sgpn_models::shape_regressor::sha256_file;
use sgpn_models::{CameraParams, MorphableModel, SessionConfig, Template};
use sgpn_train::export::regressor::{RegressorExportError, RegressorExportMeta, export_regressor};
use sgpn_train::export::regressor_cli::{self, ExportRegressorArgs};
use sgpn_train::model::ModelError;
use sgpn_train::model::init::ParamInit;
use sgpn_train::model::regressor::{ConvBn, REGRESSOR_SIZE, RegressorConfig, ShapeRegressor};
use support::{images, max_rel_err, tmp};

const S: usize = REGRESSOR_SIZE;
/// K of the tests' regressors (any count works; BFM09 has 257).
const K: usize = 40;

fn meta() -> RegressorExportMeta {
    RegressorExportMeta {
        template: Template::Sgpn,
        morphable_name: "test-3dmm.safetensors".into(),
        morphable_sha256: "0123456789abcdef".repeat(4),
    }
}

fn faces(n: usize, seed: u64, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(images(n, S, seed), [n, 3, S, S]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// γ = 1 + 0.2·N(0,1), β = 0.1·N(0,1): BatchNorm affines that folding must carry.
fn perturb(conv: &mut ConvBn, init: &mut ParamInit) {
    let c = conv.out_channels();
    conv.bn.gamma = init.normal([c], 0.2).map(|g| g.add_scalar(1.0));
    conv.bn.beta = init.normal([c], 0.1);
}

/// A `cfg` regressor as training leaves it: random final layer and BatchNorm affines, running
/// statistics from three training-mode passes; returned in eval mode on the plain CPU device.
fn trained_like(cfg: &RegressorConfig, seed: u64) -> ShapeRegressor {
    let train_device = Device::flex().autodiff();
    let mut model = ShapeRegressor::new(cfg, K, seed, &train_device).unwrap();
    let mut init = ParamInit::new(seed + 1, &train_device);
    perturb(&mut model.stem, &mut init);
    for block in &mut model.blocks {
        for conv in block.convs.iter_mut().chain(block.downsample.as_mut()) {
            perturb(conv, &mut init);
        }
    }
    let features = cfg.feature_channels();
    model.fc_weight = init.normal([features, K], 0.1);
    let bias: Vec<f32> = (0..K).map(|i| i as f32 * 0.01 - 0.2).collect();
    model.set_output_bias(&bias).unwrap();
    for step in 0..3 {
        model
            .forward(faces(2, 100 + step, &train_device).add_scalar(0.3))
            .unwrap();
    }
    let mean = values(model.stem.bn.running_mean.value());
    assert!(
        mean.iter().any(|m| m.abs() > 1e-3),
        "running mean did not move: {mean:?}"
    );
    model.valid()
}

fn eval_forward(model: &ShapeRegressor, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let input = images(n, S, seed);
    let t = Tensor::from_data(
        TensorData::new(input.clone(), [n, 3, S, S]),
        &Device::flex(),
    );
    (input, values(model.forward(t).unwrap()))
}

/// The exported file through the element's loader (which checks the contract) on `threads`
/// CPU threads.
fn load_in_ort(path: &Path, threads: usize) -> sgpn_models::ShapeRegressor {
    let cfg = SessionConfig {
        intra_threads: threads,
        ..Default::default()
    };
    sgpn_models::ShapeRegressor::load(path, &cfg).unwrap()
}

#[test]
fn tiny_onnx_matches_burn_eval_forward_at_batch_1_and_3() {
    let model = trained_like(&RegressorConfig::tiny(), 7);
    let path = tmp("regressor_tiny.onnx");
    export_regressor(&model, &meta(), &path).unwrap();
    let mut loaded = load_in_ort(&path, 1);
    for n in [1usize, 3] {
        let (input, want) = eval_forward(&model, n, 10 + n as u64);
        assert_eq!(want.len(), n * K);
        // An untrained-looking (near-constant) output would prove little.
        let spread = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(spread > 1e-2, "burn output is ~0 (max |y| = {spread})");
        let got = loaded.regress(&input, n).unwrap();
        let err = max_rel_err(&got, &want);
        assert!(err <= 1e-4, "batch {n}: relative error {err}");
    }
}

#[test]
fn export_has_the_shape_prior_metadata_and_only_folded_standard_ops() {
    let model = ShapeRegressor::new(&RegressorConfig::tiny(), K, 1, &Device::flex()).unwrap();
    let proto = model.export_onnx(&meta());
    let mut keys: Vec<(&str, &str)> = proto
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    keys.sort();
    let sha = meta().morphable_sha256;
    assert_eq!(
        keys,
        [
            ("sgpn.coefficients", "40"),
            ("sgpn.morphable", "test-3dmm.safetensors"),
            ("sgpn.morphable.sha256", sha.as_str()),
            ("sgpn.template", "sgpn"),
        ]
    );
    assert_eq!(proto.opset_import[0].version, 17);
    let graph = proto.graph.as_ref().unwrap();
    let allowed = [
        "Conv",
        "Relu",
        "MaxPool",
        "Add",
        "GlobalAveragePool",
        "Reshape",
        "MatMul",
    ];
    for node in &graph.node {
        assert!(allowed.contains(&node.op_type.as_str()), "{}", node.op_type);
    }

    // The element's loader reads the same back (and checks `face` [N,3,224,224] → `coeffs`).
    let path = tmp("regressor_meta.onnx");
    export_regressor(&model, &meta(), &path).unwrap();
    let loaded = load_in_ort(&path, 1);
    assert_eq!(loaded.info.template, Template::Sgpn);
    assert_eq!(loaded.info.morphable_sha256, sha);
    assert_eq!(loaded.info.morphable_name, "test-3dmm.safetensors");
    assert_eq!(loaded.info.coefficients, K);
}

#[test]
fn a_hash_that_is_not_sha256_is_refused() {
    let model = ShapeRegressor::new(&RegressorConfig::tiny(), K, 1, &Device::flex()).unwrap();
    let bad = RegressorExportMeta {
        morphable_sha256: "not-a-hash".into(),
        ..meta()
    };
    let err = export_regressor(&model, &bad, &tmp("regressor_bad.onnx")).unwrap_err();
    assert!(matches!(err, RegressorExportError::BadSha256(_)), "{err}");
}

#[test]
fn wrong_input_shapes_are_typed_errors() {
    let device = Device::flex();
    let model = ShapeRegressor::new(&RegressorConfig::tiny(), K, 1, &device).unwrap();
    for dims in [[1, 3, 112, 112], [1, 1, S, S], [0, 3, S, S], [2, 3, S, 200]] {
        let err = model.forward(Tensor::zeros(dims, &device)).unwrap_err();
        assert!(
            matches!(err, ModelError::InputShape { name: "face", .. }),
            "{dims:?}: {err}"
        );
        assert!(err.to_string().contains("224"), "{err}");
    }
}

#[test]
fn untrained_regressor_predicts_its_output_bias() {
    let device = Device::flex();
    let mut model = ShapeRegressor::new(&RegressorConfig::tiny(), K, 1, &device).unwrap();
    let (_, zeros) = eval_forward(&model, 2, 3);
    assert!(zeros.iter().all(|&v| v == 0.0), "zero-initialised head");
    let bias: Vec<f32> = (0..K).map(|i| i as f32).collect();
    model.set_output_bias(&bias).unwrap();
    let (_, out) = eval_forward(&model, 2, 3);
    assert_eq!(out, [bias.clone(), bias].concat());
    assert!(matches!(
        model.set_output_bias(&[0.0; 3]),
        Err(ModelError::BadConfig(_))
    ));
}

#[test]
fn checkpoint_round_trips_weights_and_running_statistics() {
    let model = trained_like(&RegressorConfig::tiny(), 3);
    let dir = tmp("regressor_ckpt");
    model.save(&dir).unwrap();
    let loaded = ShapeRegressor::load(&dir, &Device::flex()).unwrap();
    assert_eq!(loaded.config, model.config);
    assert_eq!(loaded.coefficients(), K);
    assert_eq!(eval_forward(&loaded, 2, 4), eval_forward(&model, 2, 4));
    let missing = ShapeRegressor::load(&tmp("no_regressor_here"), &Device::flex()).unwrap_err();
    assert!(
        format!("{missing:#}").contains("regressor.json"),
        "{missing:#}"
    );
}

/// A minimal valid 3DMM: 3 vertices, one triangle, K_id 2, K_exp 0, K_tex 1 (K = 36).
fn write_small_3dmm(path: &Path) -> MorphableModel {
    let basis = |components: usize| Basis {
        rows: 9,
        components,
        values: (0..9 * components).map(|i| i as f32 * 0.01).collect(),
    };
    let model = MorphableModel {
        source: "test".into(),
        mean_shape: vec![0.0, 1.0, 0.0, -1.0, -1.0, 0.0, 1.0, -1.0, 0.0],
        id_basis: basis(2),
        exp_basis: basis(0),
        mean_albedo: vec![0.5; 9],
        albedo_basis: basis(1),
        triangles: vec![[0, 1, 2]],
        landmarks: vec![0, 1, 2],
        camera: CameraParams::D3DFR,
    };
    model.save_safetensors(path).unwrap();
    model
}

#[test]
fn export_regressor_command_stamps_the_3dmm_and_checks_its_coefficient_count() {
    let mm_path = tmp("small-3dmm.safetensors");
    let mm = write_small_3dmm(&mm_path);
    let k = mm.coefficient_count();
    let args = |checkpoint: Option<&Path>, out: &str| ExportRegressorArgs {
        checkpoint: checkpoint.map(Path::to_owned),
        init_preset: checkpoint.is_none().then(|| "tiny".to_owned()),
        morphable: mm_path.clone(),
        template: "ffhq".into(),
        out: tmp(out),
    };

    let dir = tmp("regressor_cli_ckpt");
    ShapeRegressor::new(&RegressorConfig::tiny(), k, 2, &Device::flex())
        .unwrap()
        .save(&dir)
        .unwrap();
    for (checkpoint, out) in [
        (Some(dir.as_path()), "cli_ckpt.onnx"),
        (None, "cli_init.onnx"),
    ] {
        regressor_cli::export(args(checkpoint, out)).unwrap();
        let loaded = load_in_ort(&tmp(out), 1);
        assert_eq!(loaded.info.template, Template::Ffhq);
        assert_eq!(loaded.info.morphable_name, "small-3dmm.safetensors");
        let sha = sha256_file(&mm_path).unwrap();
        loaded.ensure_matches(&mm, &mm_path, &sha).unwrap();
    }

    // A regressor trained for another 3DMM (other K) is refused before anything is written.
    let other = tmp("regressor_cli_other_k");
    ShapeRegressor::new(&RegressorConfig::tiny(), k + 1, 2, &Device::flex())
        .unwrap()
        .save(&other)
        .unwrap();
    let err = regressor_cli::export(args(Some(&other), "cli_other.onnx")).unwrap_err();
    assert!(err.to_string().contains("coefficients"), "{err}");
    assert!(!tmp("cli_other.onnx").exists());
}

/// torchvision's ResNet-50 with a 257-value head, D3DFR's network: 23,508,032 backbone
/// parameters (25,557,032 with the 1000-class ImageNet head) + 2048·257 + 257 = 24,034,625, which
/// is the paper's "22.92 M" counted in units of 2^20 (24,034,625 / 1,048,576 = 22.921). burn's
/// `num_params` also counts the BatchNorm running mean and variance (2 · 26,560 values).
#[test]
fn paper512_is_resnet50_exports_and_runs() {
    let cfg = RegressorConfig::paper512();
    let mut model = ShapeRegressor::new(&cfg, 257, 0, &Device::flex()).unwrap();
    let trainable = 23_508_032 + 2048 * 257 + 257;
    assert_eq!(trainable, 24_034_625);
    assert_eq!(model.num_params(), trainable + 2 * 26_560);
    model.fc_weight = ParamInit::new(1, &Device::flex()).normal([2048, 257], 0.01);
    let path = tmp("regressor_paper512.onnx");
    export_regressor(&model, &meta(), &path).unwrap();
    let mut loaded = load_in_ort(&path, 2);
    let (input, want) = eval_forward(&model, 1, 5);
    let got = loaded.regress(&input, 1).unwrap();
    let err = max_rel_err(&got, &want);
    assert!(err <= 1e-4, "relative error {err}");
}
