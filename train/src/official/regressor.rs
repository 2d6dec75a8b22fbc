//! `d3dfr_finetune_ours.pth` as an ONNX shape regressor of the element's contract
//! (`models/README.md`, "The shape regressor contract"): Deep3DFaceRecon's ResNet-50 with seven
//! 1×1 heads (paper Sec. 3.1, the shape restoration module), 257 coefficients in D3DFR's order.
//!
//! The contract's input is RGB in [-1, 1]; the official network takes [0, 1] (`x·0.5 + 0.5`
//! before the ResNet), so that mapping is the graph's first node. Batch norm runs with its
//! running statistics (ε 1e-5), as in evaluation mode.

use sgpn_models::onnx::{Attribute, Dim, ElemType};
use sgpn_models::shape_regressor::{INPUT_FACE, OUTPUT_COEFFS};

use super::checkpoint::CheckpointError;
use super::layers::Layers;
use super::spec::{COEFFICIENTS, D3DFR_HEADS, D3DFR_SIZE, EXPANSION, RESNET50_STAGES};

type Result<T> = std::result::Result<T, CheckpointError>;

const BN_EPS: f32 = 1e-5;

pub fn build(l: &mut Layers) -> Result<()> {
    let n = Dim::Named("N".into());
    let s = Dim::Fixed(D3DFR_SIZE as i64);
    l.g.builder.input(
        INPUT_FACE,
        ElemType::F32,
        &[n.clone(), Dim::Fixed(3), s.clone(), s],
    );
    l.g.builder.output(
        OUTPUT_COEFFS,
        ElemType::F32,
        &[n, Dim::Fixed(COEFFICIENTS as i64)],
    );

    let half = l.g.scalar("half", 0.5);
    let x = l.g.mul(INPUT_FACE, &half, "unit/scaled");
    let x = l.g.add(&x, &half, "unit");
    let x = conv_bn(l, &x, "backbone.conv1", "backbone.bn1", (3, 64, 7), 2, true)?;
    let mut x = l.g.op(
        "MaxPool",
        &[&x],
        "backbone.maxpool",
        vec![
            Attribute::ints("kernel_shape", &[3, 3]),
            Attribute::ints("strides", &[2, 2]),
            Attribute::ints("pads", &[1, 1, 1, 1]),
        ],
    );
    let mut inplanes = 64;
    for (stage, &(width, blocks, stride)) in RESNET50_STAGES.iter().enumerate() {
        let out = width * EXPANSION;
        for b in 0..blocks {
            let p = format!("backbone.layer{}.{b}", stage + 1);
            let s = if b == 0 { stride } else { 1 };
            let y = conv_bn(
                l,
                &x,
                &format!("{p}.conv1"),
                &format!("{p}.bn1"),
                (inplanes, width, 1),
                1,
                true,
            )?;
            let y = conv_bn(
                l,
                &y,
                &format!("{p}.conv2"),
                &format!("{p}.bn2"),
                (width, width, 3),
                s,
                true,
            )?;
            let y = conv_bn(
                l,
                &y,
                &format!("{p}.conv3"),
                &format!("{p}.bn3"),
                (width, out, 1),
                1,
                false,
            )?;
            let identity = if b == 0 && (stride != 1 || inplanes != out) {
                conv_bn(
                    l,
                    &x,
                    &format!("{p}.downsample.0"),
                    &format!("{p}.downsample.1"),
                    (inplanes, out, 1),
                    s,
                    false,
                )?
            } else {
                x.clone()
            };
            let sum = l.g.add(&y, &identity, &format!("{p}/sum"));
            x = l.g.op("Relu", &[&sum], &p, vec![]);
            inplanes = out;
        }
    }
    let pooled =
        l.g.op("GlobalAveragePool", &[&x], "backbone.avgpool", vec![]);
    let mut heads = Vec::new();
    for (i, &(name, width)) in D3DFR_HEADS.iter().enumerate() {
        let p = format!("final_layers.{i}");
        let w = l.weight(
            &format!("{p}.weight"),
            1.0,
            &[width as i64, inplanes as i64, 1, 1],
        )?;
        let b = l.weight(&format!("{p}.bias"), 1.0, &[width as i64])?;
        heads.push(l.g.conv(&pooled, &w, Some(&b), 1, 0, &format!("head_{name}")));
    }
    let refs: Vec<&str> = heads.iter().map(String::as_str).collect();
    let all = l.g.concat(&refs, 1, "heads");
    l.g.builder.node(
        "Flatten",
        &[&all],
        &[OUTPUT_COEFFS],
        vec![Attribute::int("axis", 1)],
    );
    Ok(())
}

/// A bias-free convolution (padding k/2) and its batch norm, then a ReLU when `relu`.
fn conv_bn(
    l: &mut Layers,
    x: &str,
    conv: &str,
    bn: &str,
    (cin, cout, k): (usize, usize, usize),
    stride: usize,
    relu: bool,
) -> Result<String> {
    let w = l.weight(
        &format!("{conv}.weight"),
        1.0,
        &[cout as i64, cin as i64, k as i64, k as i64],
    )?;
    let y = l.g.conv(x, &w, None, stride, k / 2, conv);
    let c = [cout as i64];
    let params: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
        .iter()
        .map(|p| l.weight(&format!("{bn}.{p}"), 1.0, &c))
        .collect::<Result<_>>()?;
    l.ck.skip(&format!("{bn}.num_batches_tracked"));
    let inputs: Vec<&str> = std::iter::once(y.as_str())
        .chain(params.iter().map(String::as_str))
        .collect();
    let y = l.g.op(
        "BatchNormalization",
        &inputs,
        bn,
        vec![Attribute::float("epsilon", BN_EPS)],
    );
    Ok(if relu {
        l.g.op("Relu", &[&y], &format!("{bn}/relu"), vec![])
    } else {
        y
    })
}
