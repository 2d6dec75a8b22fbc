//! Graphs written with the project's ONNX writer run in ONNX Runtime and give what a plain
//! loop-by-loop computation of each operator's ONNX definition gives.

use std::path::PathBuf;

use ort::value::TensorRef;
use prost::Message;
use sgpn_models::onnx::proto::ModelProto;
use sgpn_models::onnx::{Attribute, Dim, ElemType, GraphBuilder, OPSET, write_model};
use sgpn_models::{SessionConfig, build_session};

fn tmp_model(name: &str, model: &ModelProto) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("onnx_writer");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.onnx"));
    write_model(&path, model).unwrap();
    path
}

/// Runs the model with the given f32 inputs and returns every output as (shape, values).
fn run(
    path: &std::path::Path,
    inputs: &[(&str, Vec<i64>, Vec<f32>)],
) -> Vec<(String, Vec<i64>, Vec<f32>)> {
    let cfg = SessionConfig {
        intra_threads: 1,
        ..Default::default()
    };
    let mut session = build_session(path, &cfg).unwrap();
    let values: Vec<_> = inputs
        .iter()
        .map(|(name, shape, data)| {
            (
                std::borrow::Cow::from(*name),
                ort::session::SessionInputValue::from(
                    TensorRef::from_array_view((shape.clone(), data.as_slice())).unwrap(),
                ),
            )
        })
        .collect();
    let outputs = session.run(values).unwrap();
    outputs
        .iter()
        .map(|(name, value)| {
            let (shape, data) = value.try_extract_tensor::<f32>().unwrap();
            (name.to_owned(), shape.to_vec(), data.to_vec())
        })
        .collect()
}

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{name}[{i}]: got {g}, want {w}"
        );
    }
}

/// Deterministic test values in [-1, 1).
fn ramp(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((s >> 8) & 0xffff) as f32 / 32768.0 - 1.0
        })
        .collect()
}

/// NCHW convolution, stride 1, symmetric zero padding `pad`, the ONNX `Conv` definition.
#[allow(clippy::too_many_arguments)]
fn conv_ref(
    x: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    wt: &[f32],
    b: &[f32],
    k: usize,
    pad: usize,
) -> Vec<f32> {
    let co = b.len();
    let mut y = vec![0.0; n * co * h * w];
    for ni in 0..n {
        for o in 0..co {
            for yy in 0..h {
                for xx in 0..w {
                    let mut acc = b[o];
                    for ci in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let sy = yy as isize + ky as isize - pad as isize;
                                let sx = xx as isize + kx as isize - pad as isize;
                                if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                    continue;
                                }
                                acc += x[((ni * c + ci) * h + sy as usize) * w + sx as usize]
                                    * wt[((o * c + ci) * k + ky) * k + kx];
                            }
                        }
                    }
                    y[((ni * co + o) * h + yy) * w + xx] = acc;
                }
            }
        }
    }
    y
}

#[test]
fn conv_activations_and_elementwise_ops_match_their_definitions_with_dynamic_batch() {
    let (c, h, w, co) = (2usize, 5usize, 4usize, 3usize);
    let mut g = GraphBuilder::new("conv_block");
    let dims = [
        Dim::named("N"),
        Dim::Fixed(c as i64),
        Dim::Fixed(h as i64),
        Dim::Fixed(w as i64),
    ];
    g.input("x", ElemType::F32, &dims);
    let wt = ramp(co * c * 9, 1);
    let bias = ramp(co, 2);
    let w_name = g.initializer("conv.weight", &[co as i64, c as i64, 3, 3], &wt);
    let b_name = g.initializer("conv.bias", &[co as i64], &bias);
    let conv = g.fresh("conv");
    g.node(
        "Conv",
        &["x", &w_name, &b_name],
        &[&conv],
        vec![
            Attribute::ints("kernel_shape", &[3, 3]),
            Attribute::ints("pads", &[1, 1, 1, 1]),
        ],
    );
    let act = g.fresh("act");
    g.node(
        "LeakyRelu",
        &[&conv],
        &[&act],
        vec![Attribute::float("alpha", 0.2)],
    );
    let sig = g.fresh("sig");
    g.node("Sigmoid", &[&act], &[&sig], vec![]);
    let scale = g.initializer("scale", &[1, co as i64, 1, 1], &[2.0, -1.0, 0.5]);
    let scaled = g.fresh("scaled");
    g.node("Mul", &[&sig, &scale], &[&scaled], vec![]);
    g.node("Add", &[&scaled, &conv], &["y"], vec![]);
    g.node(
        "Concat",
        &["y", "x"],
        &["cat"],
        vec![Attribute::int("axis", 1)],
    );
    let out_dims = |ch: i64| {
        [
            Dim::named("N"),
            Dim::Fixed(ch),
            Dim::Fixed(h as i64),
            Dim::Fixed(w as i64),
        ]
    };
    g.output("y", ElemType::F32, &out_dims(co as i64));
    g.output("cat", ElemType::F32, &out_dims((co + c) as i64));
    let path = tmp_model("conv_block", &g.finish(OPSET, &[]));

    let n = 2;
    let x = ramp(n * c * h * w, 3);
    let outs = run(
        &path,
        &[("x", vec![n as i64, c as i64, h as i64, w as i64], x.clone())],
    );

    let conv_want = conv_ref(&x, n, c, h, w, &wt, &bias, 3, 1);
    let scales = [2.0f32, -1.0, 0.5];
    let hw = h * w;
    let y_want: Vec<f32> = conv_want
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / hw) % co;
            let a = if v >= 0.0 { v } else { 0.2 * v };
            let s = 1.0 / (1.0 + (-a).exp());
            s * scales[ch] + v
        })
        .collect();
    let (_, y_shape, y) = &outs[0];
    assert_eq!(y_shape, &vec![n as i64, co as i64, h as i64, w as i64]);
    assert_close("y", y, &y_want, 1e-5);

    let (_, cat_shape, cat) = &outs[1];
    assert_eq!(
        cat_shape,
        &vec![n as i64, (co + c) as i64, h as i64, w as i64]
    );
    for ni in 0..n {
        let base = ni * (co + c) * hw;
        assert_close(
            "cat[y part]",
            &cat[base..base + co * hw],
            &y_want[ni * co * hw..(ni + 1) * co * hw],
            1e-5,
        );
        assert_close(
            "cat[x part]",
            &cat[base + co * hw..base + (co + c) * hw],
            &x[ni * c * hw..(ni + 1) * c * hw],
            0.0,
        );
    }
}

#[test]
fn resize_nearest_and_bilinear_upsample_by_two() {
    let (h, w) = (3usize, 4usize);
    let mut g = GraphBuilder::new("resize");
    let dims = [
        Dim::Fixed(1),
        Dim::Fixed(1),
        Dim::Fixed(h as i64),
        Dim::Fixed(w as i64),
    ];
    g.input("x", ElemType::F32, &dims);
    let scales = g.initializer("scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
    g.node(
        "Resize",
        &["x", "", &scales],
        &["nearest"],
        vec![
            Attribute::string("mode", "nearest"),
            Attribute::string("coordinate_transformation_mode", "asymmetric"),
            Attribute::string("nearest_mode", "floor"),
        ],
    );
    g.node(
        "Resize",
        &["x", "", &scales],
        &["linear"],
        vec![
            Attribute::string("mode", "linear"),
            Attribute::string("coordinate_transformation_mode", "half_pixel"),
        ],
    );
    let up = [
        Dim::Fixed(1),
        Dim::Fixed(1),
        Dim::Fixed(2 * h as i64),
        Dim::Fixed(2 * w as i64),
    ];
    g.output("nearest", ElemType::F32, &up);
    g.output("linear", ElemType::F32, &up);
    let path = tmp_model("resize", &g.finish(OPSET, &[]));

    let x: Vec<f32> = (0..h * w).map(|i| (i * i) as f32 * 0.25).collect();
    let outs = run(&path, &[("x", vec![1, 1, h as i64, w as i64], x.clone())]);
    let (h2, w2) = (2 * h, 2 * w);
    let nearest_want: Vec<f32> = (0..h2 * w2)
        .map(|i| x[(i / w2 / 2) * w + (i % w2) / 2])
        .collect();
    assert_close("nearest", &outs[0].2, &nearest_want, 0.0);

    // half_pixel: source coordinate (d + 0.5) / 2 - 0.5, clamped to the image (ONNX Resize).
    let src = |d: usize, len: usize| ((d as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (len - 1) as f32);
    let mut linear_want = vec![0.0; h2 * w2];
    for yy in 0..h2 {
        for xx in 0..w2 {
            let (sy, sx) = (src(yy, h), src(xx, w));
            let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
            let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
            let (fy, fx) = (sy - y0 as f32, sx - x0 as f32);
            let at = |y: usize, x_: usize| x[y * w + x_];
            linear_want[yy * w2 + xx] = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x1))
                + fy * ((1.0 - fx) * at(y1, x0) + fx * at(y1, x1));
        }
    }
    assert_close("linear", &outs[1].2, &linear_want, 1e-5);
}

#[test]
fn reshape_transpose_matmul_gemm_reduce_sqrt_div() {
    let mut g = GraphBuilder::new("linear_algebra");
    g.input(
        "x",
        ElemType::F32,
        &[Dim::Fixed(2), Dim::Fixed(3), Dim::Fixed(4)],
    );
    let shape = g.initializer_i64("shape", &[2], &[2, 12]);
    g.node("Reshape", &["x", &shape], &["flat"], vec![]);
    g.node(
        "Transpose",
        &["flat"],
        &["flat_t"],
        vec![Attribute::ints("perm", &[1, 0])],
    );
    let m = ramp(2 * 5, 7);
    let m_name = g.initializer("m", &[2, 5], &m);
    g.node("MatMul", &["flat_t", &m_name], &["mm"], vec![]);
    // Gemm: alpha·A·Bᵀ + beta·C with B given as [out, in] like a linear layer's weight.
    let wt = ramp(3 * 12, 8);
    let bias = ramp(3, 9);
    let w_name = g.initializer("fc.weight", &[3, 12], &wt);
    let b_name = g.initializer("fc.bias", &[3], &bias);
    g.node(
        "Gemm",
        &["flat", &w_name, &b_name],
        &["fc"],
        vec![
            Attribute::int("transB", 1),
            Attribute::float("alpha", 0.5),
            Attribute::float("beta", 1.0),
        ],
    );
    let axes = g.initializer_i64("axes", &[1], &[1]);
    g.node("Mul", &["flat", "flat"], &["sq"], vec![]);
    g.node(
        "ReduceSum",
        &["sq", &axes],
        &["sumsq"],
        vec![Attribute::int("keepdims", 1)],
    );
    g.node("Sqrt", &["sumsq"], &["norm"], vec![]);
    g.node("Div", &["flat", "norm"], &["unit"], vec![]);
    g.output("mm", ElemType::F32, &[Dim::Fixed(12), Dim::Fixed(5)]);
    g.output("fc", ElemType::F32, &[Dim::Fixed(2), Dim::Fixed(3)]);
    g.output("unit", ElemType::F32, &[Dim::Fixed(2), Dim::Fixed(12)]);
    let path = tmp_model("linear_algebra", &g.finish(OPSET, &[]));

    let x = ramp(24, 10);
    let outs = run(&path, &[("x", vec![2, 3, 4], x.clone())]);
    // flat = x viewed as [2,12]; flat_t[i][r] = flat[r][i].
    let mut mm_want = vec![0.0; 12 * 5];
    for i in 0..12 {
        for j in 0..5 {
            mm_want[i * 5 + j] = (0..2).map(|r| x[r * 12 + i] * m[r * 5 + j]).sum();
        }
    }
    assert_eq!(outs[0].1, vec![12, 5]);
    assert_close("mm", &outs[0].2, &mm_want, 1e-5);
    let mut fc_want = vec![0.0; 6];
    for r in 0..2 {
        for o in 0..3 {
            fc_want[r * 3 + o] =
                0.5 * (0..12).map(|i| x[r * 12 + i] * wt[o * 12 + i]).sum::<f32>() + bias[o];
        }
    }
    assert_close("fc", &outs[1].2, &fc_want, 1e-5);
    let mut unit_want = x.clone();
    for row in unit_want.chunks_mut(12) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    assert_close("unit", &outs[2].2, &unit_want, 1e-5);
}

#[test]
fn metadata_and_opset_reach_onnx_runtime() {
    let mut g = GraphBuilder::new("meta");
    g.input("a", ElemType::F32, &[Dim::named("N")]);
    g.node("Identity", &["a"], &["b"], vec![]);
    g.output("b", ElemType::F32, &[Dim::named("N")]);
    let path = tmp_model(
        "meta",
        &g.finish(OPSET, &[("sgpn.size", "256"), ("sgpn.template", "ffhq")]),
    );
    let session = build_session(&path, &SessionConfig::default()).unwrap();
    let meta = session.metadata().unwrap();
    assert_eq!(meta.custom("sgpn.size").as_deref(), Some("256"));
    assert_eq!(meta.custom("sgpn.template").as_deref(), Some("ffhq"));
    assert_eq!(meta.producer().as_deref(), Some("sgpn"));
    assert_eq!(session.opset_for_domain(""), Some(OPSET as u32));
}

#[test]
fn zero_valued_attributes_are_still_written() {
    // onnx.proto is proto2: `alpha = 0` must be present on the wire, not dropped as a default.
    let mut g = GraphBuilder::new("zero");
    g.input("a", ElemType::F32, &[Dim::Fixed(2)]);
    g.node(
        "LeakyRelu",
        &["a"],
        &["b"],
        vec![Attribute::float("alpha", 0.0)],
    );
    g.output("b", ElemType::F32, &[Dim::Fixed(2)]);
    let bytes = sgpn_models::onnx::encode_model(&g.finish(OPSET, &[]));
    let decoded = ModelProto::decode(bytes.as_slice()).unwrap();
    let attr = &decoded.graph.unwrap().node[0].attribute[0];
    assert_eq!(attr.f, Some(0.0));
}

#[test]
fn fresh_names_never_collide() {
    let mut g = GraphBuilder::new("names");
    g.input("x", ElemType::F32, &[Dim::Fixed(1)]);
    let a = g.fresh("x");
    let b = g.initializer("w", &[1], &[1.0]);
    let c = g.initializer("w", &[1], &[2.0]);
    let d = g.fresh("t");
    let e = g.fresh("t");
    let all = ["x".to_owned(), a, b, c, d, e];
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{all:?}");
}
