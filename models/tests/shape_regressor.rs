//! The shape regressor contract (`models/README.md`, "The shape regressor contract"): the
//! constant fixture loads and regresses any batch, broken files are named with their problem,
//! and a regressor refuses a 3DMM with another coefficient count or another SHA-256.

mod support;

use std::path::PathBuf;

use sgpn_models::Template;
use sgpn_models::fixtures::{ConstantRegressor, ellipsoid_cap_morphable, write_constant_regressor};
use sgpn_models::onnx::{Dim, ElemType, GraphBuilder, OPSET, write_model};
use sgpn_models::shape_regressor::{ShapeRegressor, sha256_file};
use support::cpu;

fn tmp(name: &str) -> PathBuf {
    support::tmp_path("shape_regressor", name)
}

/// The constant fixture at `path`, regressing `coefficients` for an FFHQ-aligned face, loaded
/// on the CPU.
fn constant_regressor(path: &std::path::Path, coefficients: &[f32]) -> ShapeRegressor {
    write_constant_regressor(
        path,
        &ConstantRegressor {
            template: Template::Ffhq,
            coefficients,
            morphable_name: "tiny.safetensors",
            morphable_sha256: SHA,
        },
    )
    .unwrap();
    ShapeRegressor::load(path, &cpu()).unwrap()
}

const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn the_constant_regressor_regresses_every_face_of_a_batch() {
    let path = tmp("constant.onnx");
    let coefficients: Vec<f32> = (0..40).map(|i| i as f32 * 0.25 - 3.0).collect();
    let mut r = constant_regressor(&path, &coefficients);
    assert_eq!(r.info.template, Template::Ffhq);
    assert_eq!(r.info.coefficients, 40);
    assert_eq!(r.info.morphable_name, "tiny.safetensors");
    assert_eq!(r.info.morphable_sha256, SHA);
    for batch in [1, 3] {
        let out = r.regress(&vec![0.3; batch * r.face_len()], batch).unwrap();
        assert_eq!(out, coefficients.repeat(batch), "batch {batch}");
    }
    let msg = r.regress(&[0.0; 10], 1).unwrap_err().to_string();
    assert!(
        msg.contains("constant.onnx") && msg.contains("input 'face' must be 150528 values"),
        "{msg}"
    );
}

/// A CPU session refuses device-bound faces with an error that says what it needs, before
/// touching the address (which here points nowhere).
#[test]
fn device_bound_faces_need_a_cuda_provider() {
    let path = tmp("constant_device.onnx");
    let coefficients = [0.5f32; 40];
    let mut r = constant_regressor(&path, &coefficients);
    assert!(!r.takes_device_memory());
    let nowhere = sgpn_models::device_memory::DeviceTensor {
        ordinal: 0,
        address: 0x1000,
    };
    // SAFETY: a CPU session refuses before the address is used.
    let err = unsafe { r.regress_on_device(nowhere, 2) }.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("constant_device.onnx"), "{msg}");
    assert!(msg.contains("device=cuda or tensorrt"), "{msg}");
}

#[test]
fn a_regressor_refuses_a_3dmm_it_was_not_trained_with() {
    let model = ellipsoid_cap_morphable(7, 0, [0.5; 3]);
    let model_path = tmp("tiny7.safetensors");
    model.save_safetensors(&model_path).unwrap();
    let sha = sha256_file(&model_path).unwrap();
    assert_eq!(sha.len(), 64);
    let write = |name: &str, k: usize, sha: &str| {
        let path = tmp(name);
        write_constant_regressor(
            &path,
            &ConstantRegressor {
                template: Template::Sgpn,
                coefficients: &vec![0.0; k],
                morphable_name: "tiny7.safetensors",
                morphable_sha256: sha,
            },
        )
        .unwrap();
        ShapeRegressor::load(&path, &cpu()).unwrap()
    };
    write("matching.onnx", 40, &sha)
        .ensure_matches(&model, &model_path, &sha)
        .unwrap();

    let msg = write("short.onnx", 39, &sha)
        .ensure_matches(&model, &model_path, &sha)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("short.onnx")
            && msg.contains("tiny7.safetensors")
            && msg.contains("outputs 39 coefficients")
            && msg.contains("takes 40 (7 id + 0 exp + 0 tex + 33 pose and light)"),
        "{msg}"
    );

    let msg = write("other_sha.onnx", 40, SHA)
        .ensure_matches(&model, &model_path, &sha)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("other_sha.onnx")
            && msg.contains(&model_path.display().to_string())
            && msg.contains(SHA)
            && msg.contains(&sha),
        "{msg}"
    );
}

/// A regressor-shaped graph with its own input size and metadata.
fn custom_regressor(name: &str, side: i64, meta: &[(&str, &str)]) -> PathBuf {
    let mut g = GraphBuilder::new(name);
    let dims = [
        Dim::named("N"),
        Dim::Fixed(3),
        Dim::Fixed(side),
        Dim::Fixed(side),
    ];
    g.input("face", ElemType::F32, &dims);
    let shape = g.initializer_i64("shape", &[2], &[-1, 3 * side * side]);
    g.node("Reshape", &["face", &shape], &["coeffs"], vec![]);
    g.output("coeffs", ElemType::F32, &[Dim::named("N"), Dim::named("K")]);
    let path = tmp(&format!("{name}.onnx"));
    write_model(&path, &g.finish(OPSET, meta)).unwrap();
    path
}

/// The contract metadata with `key` set to `value` (`None` leaves the key out).
fn metadata_with(key: &str, value: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    [
        ("sgpn.template", "sgpn"),
        ("sgpn.morphable.sha256", SHA),
        ("sgpn.morphable", "m.safetensors"),
        ("sgpn.coefficients", "257"),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        if k == key {
            value.map(|v| (k, v))
        } else {
            Some((k, v))
        }
    })
    .collect()
}

#[test]
fn broken_regressors_are_named_with_their_problem() {
    let cases = [
        (
            "wrong_size",
            112,
            metadata_with("", None),
            "input 'face' must be float32 [N,3,224,224] with a dynamic N, found float32 [N,3,112,112]",
        ),
        (
            "no_sha",
            224,
            metadata_with("sgpn.morphable.sha256", None),
            "metadata 'sgpn.morphable.sha256' is missing",
        ),
        (
            "bad_sha",
            224,
            metadata_with("sgpn.morphable.sha256", Some("abc")),
            "must be 64 hex digits, found 'abc'",
        ),
        (
            "bad_count",
            224,
            metadata_with("sgpn.coefficients", Some("ten")),
            "metadata 'sgpn.coefficients' must be a coefficient count above 33, found 'ten'",
        ),
    ];
    for (name, side, meta, expected) in cases {
        let path = custom_regressor(name, side, &meta);
        let msg = ShapeRegressor::load(&path, &cpu())
            .err()
            .expect("a broken regressor must not load")
            .to_string();
        assert!(
            msg.starts_with("shape regressor model ")
                && msg.contains(&path.display().to_string())
                && msg.contains(expected),
            "{name}: {msg}"
        );
    }
}
