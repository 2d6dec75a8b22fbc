//! The exported generator computes what burn computes: ONNX Runtime's output equals
//! `Generator::restore` (relative error ≤ 1e-4) for both variants and both upsamplings at batch
//! 1 and 3, the
//! file follows the generator contract (inputs, dynamic batch `N`, output, metadata), and the
//! paper-size network exports and runs.

mod support;

use burn::prelude::*;
use sgpn_models::onnx::proto::{tensor_shape_proto::dimension::Value as DimValue, type_proto};
use sgpn_train::export::onnx_run::{cpu_session, run_generator};
use sgpn_train::export::write_generator;
use sgpn_train::model::{Config, Generator, Upsample, Variant};
use support::{images, max_rel_err, tmp};

fn check_variant(variant: Variant, upsample: Upsample) {
    check_generator(variant, upsample, false);
}

fn check_generator(variant: Variant, upsample: Upsample, residual: bool) {
    let cfg = Config {
        upsample,
        ..Config::tiny(variant)
    };
    let device = Device::flex();
    let mut g = Generator::new(&cfg, 7, &device).unwrap();
    // A new input-skip network is the identity (its toRGB layers start at zero); switching the
    // skip on for random toRGB weights checks the export of both paths at once.
    g.config.residual = residual;
    check_export(&g, &format!("{}_{upsample:?}_{residual}", variant.as_str()));
}

fn check_export(g: &Generator, name: &str) {
    let (variant, upsample) = (g.config.variant, g.config.upsample);
    let device = Device::flex();
    let cfg = g.config.clone();
    let path = tmp(&format!("tiny_{name}.onnx"));
    write_generator(g, &path).unwrap();
    let mut session = cpu_session(&path, 1).unwrap();
    for n in [1usize, 3] {
        let s = cfg.size;
        let lq = images(n, s, 1 + n as u64);
        let render = variant.has_render().then(|| images(n, s, 100 + n as u64));
        let to_t =
            |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [n, 3, s, s]), &device);
        let want: Vec<f32> = g
            .restore(to_t(&lq), render.as_deref().map(to_t))
            .unwrap()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        // The untrained network must not be trivially constant, or the comparison proves little.
        let spread = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(spread > 1e-3, "burn output is ~0 (max |y| = {spread})");
        let got = run_generator(&mut session, n, s, &lq, render.as_deref()).unwrap();
        let err = max_rel_err(&got, &want);
        assert!(
            err <= 1e-4,
            "{variant:?} {upsample:?} batch {n}: relative error {err}"
        );
    }
}

#[test]
fn tiny_no3d_onnx_matches_burn_at_batch_1_and_3() {
    check_variant(Variant::No3d, Upsample::Bilinear);
}

/// Checkpoints from before the upsampling option load as nearest; that export path stays
/// checked.
#[test]
fn tiny_nearest_onnx_matches_burn_at_batch_1_and_3() {
    check_variant(Variant::No3d, Upsample::Nearest);
    check_variant(Variant::Full, Upsample::Nearest);
}

#[test]
fn tiny_full_onnx_matches_burn_at_batch_1_and_3() {
    check_variant(Variant::Full, Upsample::Bilinear);
}

/// The shipped small256 generators add their input to the decoder's output.
#[test]
fn tiny_input_skip_onnx_matches_burn_at_batch_1_and_3() {
    check_generator(Variant::No3d, Upsample::Bilinear, true);
    check_generator(Variant::Full, Upsample::Bilinear, true);
}

#[test]
fn exported_file_follows_the_generator_contract() {
    let cfg = Config::tiny(Variant::No3d);
    let g = Generator::new(&cfg, 3, &Device::flex()).unwrap();
    let model = g.export_onnx();
    let meta: std::collections::HashMap<_, _> = model
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(meta["sgpn.template"], "sgpn");
    assert_eq!(meta["sgpn.size"], "32");
    assert_eq!(meta["sgpn.variant"], "no3d");
    assert_eq!(model.opset_import[0].version, 17);
    let graph = model.graph.as_ref().unwrap();
    let dims = |name: &str, list: &[sgpn_models::onnx::proto::ValueInfoProto]| -> Vec<String> {
        let vi = list
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no {name}"));
        let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().unwrap().value.as_ref()
        else {
            panic!("{name} is not a tensor")
        };
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                DimValue::DimValue(v) => v.to_string(),
                DimValue::DimParam(p) => p.clone(),
            })
            .collect()
    };
    assert_eq!(graph.input.len(), 1);
    assert_eq!(dims("lq", &graph.input), ["N", "3", "32", "32"]);
    assert_eq!(dims("restored", &graph.output), ["N", "3", "32", "32"]);
    // Every modulated conv keeps a constant weight: no Conv takes a computed weight.
    let inits: std::collections::HashSet<_> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    for node in graph.node.iter().filter(|n| n.op_type == "Conv") {
        assert!(
            inits.contains(node.input[1].as_str()),
            "Conv weight {} is not constant",
            node.input[1]
        );
    }
    // One AFFB per decoder layer, recognisable by name: 1 at 4² + 2 per further resolution.
    let affb_masks = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Sigmoid" && n.output[0].ends_with(".affb/mask"))
        .count();
    assert_eq!(affb_masks, 1 + 2 * (cfg.num_resolutions() - 1));
}

/// The full variant runs the one shared encoder (and latent encoder) on the LQ face and on the
/// render (paper Sec. 3.1): the file stores those weights once, both passes read them.
#[test]
fn full_export_stores_the_shared_encoder_once() {
    let g = Generator::new(&Config::tiny(Variant::Full), 3, &Device::flex()).unwrap();
    let model = g.export_onnx();
    let graph = model.graph.as_ref().unwrap();
    let readers = |init: &str| {
        graph
            .node
            .iter()
            .filter(|n| n.input.iter().any(|i| i == init))
            .count()
    };
    let encoder_weights: Vec<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| n.starts_with("encoder.") || n.starts_with("latent."))
        .filter(|n| n.ends_with(".weight"))
        .collect();
    assert!(!encoder_weights.is_empty());
    for w in encoder_weights {
        assert_eq!(
            readers(w),
            2,
            "{w}: read by the LQ pass and the render pass"
        );
    }
    // The render pass's own initializers are only its scalars and reshape targets.
    for t in graph
        .initializer
        .iter()
        .filter(|t| t.name.starts_with("encoder_3d.") || t.name.starts_with("latent_3d."))
    {
        assert!(
            t.dims.iter().product::<i64>() <= 4,
            "{}: a second copy of a shared encoder tensor {:?}",
            t.name,
            t.dims
        );
    }
}

/// paper512 (the official widths) exports and runs one forward pass
/// (about 374 GFLOP per face; ~8 s for this test on 2 cores).
#[test]
fn paper512_exports_and_runs_in_onnxruntime() {
    let cfg = Config::paper512(Variant::No3d);
    let g = Generator::new(&cfg, 0, &Device::flex()).unwrap();
    let path = tmp("paper512_no3d.onnx");
    write_generator(&g, &path).unwrap();
    drop(g);
    let mut session = cpu_session(&path, 2).unwrap();
    let lq = images(1, 512, 5);
    let t = std::time::Instant::now();
    let out = run_generator(&mut session, 1, 512, &lq, None).unwrap();
    eprintln!("paper512 forward: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(out.len(), 3 * 512 * 512);
    assert!(
        out.iter()
            .all(|v| v.is_finite() && (-1.0..=1.0).contains(v))
    );
}

/// The GPU-path seam: with `AffbExport::CustomOp` every AFFB becomes one `sgpn.AffbFuse` node
/// whose mask weight and bias are constants, and nothing of the standard-op AFFB remains.
#[test]
fn affb_can_be_exported_as_the_fused_custom_operator() {
    use sgpn_train::export::AffbExport;
    for variant in [Variant::No3d, Variant::Full] {
        let cfg = Config::tiny(variant);
        let g = Generator::new(&cfg, 3, &Device::flex()).unwrap();
        let model = g.export_onnx_with(AffbExport::CustomOp);
        let graph = model.graph.as_ref().unwrap();
        let fused: Vec<_> = graph
            .node
            .iter()
            .filter(|n| n.op_type == "AffbFuse" && n.domain == "sgpn")
            .collect();
        assert_eq!(fused.len(), 1 + 2 * (cfg.num_resolutions() - 1));
        let inputs = if variant.has_render() { 5 } else { 4 };
        let inits: std::collections::HashSet<_> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        for n in &fused {
            assert_eq!(n.input.len(), inputs);
            assert!(inits.contains(n.input[inputs - 2].as_str()));
            assert!(inits.contains(n.input[inputs - 1].as_str()));
        }
        assert!(!graph.node.iter().any(|n| n.op_type == "Sigmoid"));
        assert!(model.opset_import.iter().any(|o| o.domain == "sgpn"));
    }
}

/// The custom-op form runs through ONNX Runtime with the CPU kernel of `sgpn.AffbFuse`
/// (`sgpn_models::affb_op`) and computes what the standard-op form computes, for both variants.
#[test]
fn the_fused_affb_operator_runs_and_matches_the_standard_ops() {
    use sgpn_train::export::{AffbExport, write_generator_with};
    for variant in [Variant::No3d, Variant::Full] {
        let g = Generator::new(&Config::tiny(variant), 5, &Device::flex()).unwrap();
        let s = g.config.size;
        let outputs: Vec<Vec<f32>> = [AffbExport::StandardOps, AffbExport::CustomOp]
            .into_iter()
            .map(|affb| {
                let path = tmp(&format!("tiny_{}_{affb:?}.onnx", variant.as_str()));
                write_generator_with(&g, &path, affb).unwrap();
                let mut session = cpu_session(&path, 1).unwrap();
                let lq = images(2, s, 21);
                let render = variant.has_render().then(|| images(2, s, 22));
                run_generator(&mut session, 2, s, &lq, render.as_deref()).unwrap()
            })
            .collect();
        let spread = outputs[0].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(spread > 1e-3, "{variant:?}: output is ~0");
        let diff = outputs[0]
            .iter()
            .zip(&outputs[1])
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-5, "{variant:?}: custom op differs by {diff}");
    }
}

/// The element's loader accepts the export: `sgpn_models::Generator::load` checks the contract
/// (metadata, `lq` → `restored`, dynamic N) and restores what burn restores.
#[test]
fn the_element_loader_accepts_the_export_and_agrees() {
    let cfg = Config::tiny(Variant::No3d);
    let device = Device::flex();
    let g = Generator::new(&cfg, 11, &device).unwrap();
    let path = tmp("tiny_no3d_loader.onnx");
    write_generator(&g, &path).unwrap();
    let mut loaded = sgpn_models::Generator::load(&path, &Default::default()).unwrap();
    assert_eq!(loaded.info.size, 32);
    assert_eq!(loaded.info.variant, sgpn_models::Variant::No3d);
    assert_eq!(loaded.info.template, sgpn_models::Template::Sgpn);
    let lq = images(2, 32, 8);
    let got = loaded.restore(&lq, 2).unwrap();
    let want: Vec<f32> = g
        .restore(
            Tensor::<4>::from_data(TensorData::new(lq.clone(), [2, 3, 32, 32]), &device),
            None,
        )
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let err = max_rel_err(&got, &want);
    assert!(err <= 1e-4, "relative error {err}");
}
