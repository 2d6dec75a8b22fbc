//! The generator contract end to end: fixtures written with our writer load (or fail with a
//! message naming the file and the problem), and `Generator::restore` runs batches.

mod support;

use std::path::PathBuf;

use sgpn_models::fixtures::{
    BrokenGenerator, write_affine_generator, write_broken_generator, write_identity_generator,
    write_render_blend_generator,
};
use sgpn_models::{Device, Generator, ModelError, SessionConfig, Template, Variant};
use support::cpu;

fn tmp(name: &str) -> PathBuf {
    support::tmp_path("generator", name)
}

fn faces(batch: usize, size: usize) -> Vec<f32> {
    (0..batch * 3 * size * size)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

#[test]
fn identity_generator_restores_any_batch_to_its_input() {
    let path = tmp("identity_32.onnx");
    write_identity_generator(&path, 32, Template::Ffhq).unwrap();
    let mut g = Generator::load(&path, &cpu()).unwrap();
    assert_eq!(g.info.size, 32);
    assert_eq!(g.info.template, Template::Ffhq);
    assert_eq!(g.info.variant, Variant::No3d);
    assert_eq!(g.info.path, path);
    for batch in [1, 3] {
        let lq = faces(batch, 32);
        assert_eq!(g.restore(&lq, batch).unwrap(), lq, "batch {batch}");
    }
}

#[test]
fn affine_generator_changes_faces_predictably() {
    let path = tmp("affine_16.onnx");
    write_affine_generator(&path, 16, Template::Sgpn, -1.0, 0.25).unwrap();
    let mut g = Generator::load(&path, &cpu()).unwrap();
    let lq = faces(2, 16);
    let out = g.restore(&lq, 2).unwrap();
    for (o, x) in out.iter().zip(&lq) {
        assert!((o - (0.25 - x).clamp(-1.0, 1.0)).abs() < 1e-6);
    }
}

#[test]
fn restore_rejects_a_buffer_of_the_wrong_size() {
    let path = tmp("identity_16.onnx");
    write_identity_generator(&path, 16, Template::Sgpn).unwrap();
    let mut g = Generator::load(&path, &cpu()).unwrap();
    let err = g.restore(&faces(1, 16), 2).unwrap_err();
    assert!(matches!(err, ModelError::Shape { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("identity_16.onnx"), "{msg}");
    assert!(
        msg.contains("1536 values ([2,3,16,16])") && msg.contains("found 768 values"),
        "{msg}"
    );
    assert!(g.restore(&[], 0).is_err());
}

/// Loads a broken fixture and returns the error message.
/// A session on the CPU provider refuses device-bound tensors with an error that says what it
/// needs, before touching the addresses (which here point nowhere).
#[test]
fn device_bound_runs_need_a_cuda_provider() {
    use sgpn_models::device_memory::DeviceTensor;
    use sgpn_models::generator::DeviceBatch;
    let path = tmp("identity_16_device.onnx");
    write_identity_generator(&path, 16, Template::Sgpn).unwrap();
    let mut g = Generator::load(&path, &cpu()).unwrap();
    assert!(!g.takes_device_memory());
    let nowhere = DeviceTensor {
        ordinal: 0,
        address: 0x1000,
    };
    let batch = DeviceBatch {
        lq: nowhere,
        render: None,
        coefficients: None,
        restored: nowhere,
        batch: 1,
    };
    // SAFETY: a CPU session refuses before any address is used.
    let err = unsafe { g.restore_on_device(batch) }.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("identity_16_device.onnx"), "{msg}");
    assert!(msg.contains("device=cuda or tensorrt"), "{msg}");
}

fn load_error(kind: BrokenGenerator) -> (PathBuf, String) {
    let path = tmp(&format!("broken_{kind:?}.onnx"));
    write_broken_generator(&path, kind).unwrap();
    let err = Generator::load(&path, &cpu())
        .err()
        .expect("broken fixture must not load");
    let msg = err.to_string();
    println!("{kind:?}: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "message must name the file: {msg}"
    );
    (path, msg)
}

#[test]
fn wrong_input_name_is_reported_with_what_was_found() {
    let (_, msg) = load_error(BrokenGenerator::WrongInputName);
    assert!(msg.starts_with("generator model "), "{msg}");
    assert!(
        msg.contains("has no input 'lq'") && msg.contains("'x' float32 [N,3,64,64]"),
        "{msg}"
    );
}

#[test]
fn wrong_rank_is_reported_with_expected_and_found_shapes() {
    let (_, msg) = load_error(BrokenGenerator::WrongRank);
    assert!(
        msg.contains("input 'lq' must be float32 [N,3,64,64]")
            && msg.contains("found float32 [N,3,4096]"),
        "{msg}"
    );
}

#[test]
fn wrong_dtype_is_reported() {
    let (_, msg) = load_error(BrokenGenerator::WrongDtype);
    assert!(msg.contains("found int64 [N,3,64,64]"), "{msg}");
}

#[test]
fn missing_or_unknown_metadata_is_reported() {
    let (_, msg) = load_error(BrokenGenerator::MissingSize);
    assert!(msg.contains("metadata 'sgpn.size' is missing"), "{msg}");
    let (_, msg) = load_error(BrokenGenerator::UnknownTemplate);
    assert!(
        msg.contains("metadata 'sgpn.template'") && msg.contains("'arcface'"),
        "{msg}"
    );
}

#[test]
fn truncated_and_non_onnx_files_are_not_valid_models() {
    for kind in [BrokenGenerator::Truncated, BrokenGenerator::NotOnnx] {
        let (_, msg) = load_error(kind);
        assert!(msg.contains("is not a valid ONNX model"), "{kind:?}: {msg}");
    }
}

#[test]
fn a_missing_file_is_named() {
    let path = tmp("does_not_exist.onnx");
    let err = Generator::load(&path, &cpu()).err().unwrap();
    assert!(matches!(err, ModelError::Missing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("model file {} does not exist", path.display())
    );
}

/// Without a GPU, device cuda or tensorrt is one clear error that names the missing piece: the
/// GPU build of ONNX Runtime (a plain `scripts/setup.sh`, as CI runs it) or the NVIDIA driver
/// (after `scripts/setup.sh --gpu` on a machine without a GPU).
#[test]
fn gpu_devices_fail_loudly_without_a_gpu() {
    let path = tmp("identity_gpu.onnx");
    write_identity_generator(&path, 16, Template::Sgpn).unwrap();
    for device in [Device::Cuda, Device::TensorRt] {
        let cfg = SessionConfig {
            device,
            intra_threads: 1,
            ..Default::default()
        };
        let err = Generator::load(&path, &cfg)
            .err()
            .expect("no GPU provider in this ONNX Runtime");
        let msg = err.to_string();
        println!("{device}: {msg}");
        assert!(matches!(err, ModelError::Device { .. }), "{err:?}");
        assert!(
            msg.contains(&format!("device '{device}'")) && msg.contains("identity_gpu.onnx"),
            "{msg}"
        );
        assert!(
            msg.contains("run scripts/setup.sh --gpu") || msg.contains("no NVIDIA driver"),
            "the error says what to install: {msg}"
        );
    }
}

#[test]
fn templates_scale_with_the_face_size_and_keep_the_landmark_order() {
    for template in [Template::Sgpn, Template::Ffhq] {
        let full = template.landmarks(512);
        let half = template.landmarks(256);
        for (a, b) in full.iter().zip(&half) {
            assert!((a[0] / 2.0 - b[0]).abs() < 1e-4 && (a[1] / 2.0 - b[1]).abs() < 1e-4);
        }
        let [le, re, nose, lm, rm] = full;
        assert!(
            le[0] < re[0] && lm[0] < rm[0],
            "left before right in the image"
        );
        assert!(le[1] < nose[1] && re[1] < nose[1] && nose[1] < lm[1] && nose[1] < rm[1]);
    }
    assert_eq!(Template::Sgpn.landmarks(512)[0], [202.04, 242.88]);
    assert_eq!(Template::Ffhq.landmarks(512)[4], [313.10, 371.15]);
}

#[test]
fn names_parse_and_print() {
    for d in [Device::Cpu, Device::Cuda, Device::TensorRt] {
        assert_eq!(d.to_string().parse::<Device>(), Ok(d));
    }
    assert!(
        "gpu"
            .parse::<Device>()
            .unwrap_err()
            .contains("cpu, cuda, tensorrt")
    );
    for t in [Template::Sgpn, Template::Ffhq] {
        assert_eq!(t.to_string().parse::<Template>(), Ok(t));
    }
    for v in [Variant::No3d, Variant::Full] {
        assert_eq!(v.to_string().parse::<Variant>(), Ok(v));
    }
}

/// A generator like the identity fixture but with its own input dims and metadata.
fn custom_generator(name: &str, batch: sgpn_models::onnx::Dim, variant: &str) -> PathBuf {
    use sgpn_models::onnx::{Dim, ElemType, GraphBuilder, OPSET, write_model};
    let dims = [batch, Dim::Fixed(3), Dim::Fixed(32), Dim::Fixed(32)];
    let mut g = GraphBuilder::new(name);
    g.input("lq", ElemType::F32, &dims);
    g.node("Identity", &["lq"], &["restored"], vec![]);
    g.output("restored", ElemType::F32, &dims);
    let meta = [
        ("sgpn.template", "sgpn"),
        ("sgpn.size", "32"),
        ("sgpn.variant", variant),
    ];
    let path = tmp(&format!("{name}.onnx"));
    write_model(&path, &g.finish(OPSET, &meta)).unwrap();
    path
}

#[test]
fn a_fixed_batch_breaks_the_contract() {
    let path = custom_generator("fixed_batch", sgpn_models::onnx::Dim::Fixed(1), "no3d");
    let msg = Generator::load(&path, &cpu()).err().unwrap().to_string();
    assert!(
        msg.contains("with a dynamic N") && msg.contains("found float32 [1,3,32,32]"),
        "{msg}"
    );
}

#[test]
fn variant_full_without_a_render_input_breaks_the_contract() {
    let path = custom_generator("variant_full", sgpn_models::onnx::Dim::named("N"), "full");
    let msg = Generator::load(&path, &cpu()).err().unwrap().to_string();
    assert!(
        msg.contains("variant_full.onnx")
            && msg.contains("has no input 'render'")
            && msg.contains("sgpn.variant = full")
            && msg.contains("'lq' float32 [N,3,32,32]"),
        "{msg}"
    );
    let path = custom_generator("variant_bad", sgpn_models::onnx::Dim::named("N"), "3d");
    let msg = Generator::load(&path, &cpu()).err().unwrap().to_string();
    assert!(
        msg.contains("metadata 'sgpn.variant': unknown variant '3d'"),
        "{msg}"
    );
}

#[test]
fn a_full_generator_takes_the_rendered_faces() {
    let path = tmp("render_blend_16.onnx");
    write_render_blend_generator(&path, 16, Template::Sgpn).unwrap();
    let mut g = Generator::load(&path, &cpu()).unwrap();
    assert_eq!(g.info.variant, Variant::Full);
    let lq = faces(2, 16);
    let render: Vec<f32> = lq.iter().map(|x| -x * 0.5).collect();
    let out = g.restore_with_render(&lq, &render, 2).unwrap();
    for ((o, x), r) in out.iter().zip(&lq).zip(&render) {
        assert!((o - (x + r) / 2.0).abs() < 1e-6);
    }
    let msg = g.restore(&lq, 2).unwrap_err().to_string();
    assert!(
        msg.contains("render_blend_16.onnx") && msg.contains("input 'render'"),
        "{msg}"
    );
    let msg = g
        .restore_with_render(&lq, &render[1..], 2)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("input 'render' must be 1536 values") && msg.contains("found 1535"),
        "{msg}"
    );
}

#[test]
fn a_no3d_generator_refuses_rendered_faces() {
    let path = tmp("identity_no3d_16.onnx");
    write_identity_generator(&path, 16, Template::Sgpn).unwrap();
    let mut g = Generator::load(&path, &cpu()).unwrap();
    let lq = faces(1, 16);
    let msg = g.restore_with_render(&lq, &lq, 1).unwrap_err().to_string();
    assert!(
        msg.contains("identity_no3d_16.onnx") && msg.contains("variant 'no3d'"),
        "{msg}"
    );
}
