//! The gate as ONNX nodes in front of the generator's output
//! ([`crate::rewrite::splice_at_output`]): `restored = clip(lq + α·(out − lq))`, with α computed
//! per face from [`super::stats::features`] by standard operators (`Conv`, `AveragePool`,
//! `ReduceMean`, `Log`, `Sigmoid`), so every runtime and execution provider runs it with the network. The parameters
//! are recorded in the metadata `sgpn.change_gate`.

use sgpn_models::contract::{INPUT_LQ, META_CHANGE_GATE};
use sgpn_models::onnx::proto::NodeProto;
use sgpn_models::onnx::{Attribute, ModelProto, encode_model, tensor_f32};

use super::fit::GateParams;
use super::stats::{ENERGY_FLOOR, FEATURES};
use crate::rewrite::{RewriteError, decode_exported, metadata, push_metadata, splice_at_output};

/// Prefix of the gate's tensors and initializers.
const PREFIX: &str = "change_gate";

#[derive(Debug, thiserror::Error)]
pub enum GateGraphError {
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    #[error(
        "the model is already gated ({META_CHANGE_GATE} = {0}): fit the gate on the ungated \
         file, since the statistics must be those of the network's own change"
    )]
    AlreadyGated(String),
    #[error("the gate's parameters are not finite: {0}")]
    NotFinite(String),
}

/// Decodes a generator that can be gated: one [`decode_exported`] accepts, not gated yet.
pub fn decode_ungated(bytes: &[u8]) -> Result<ModelProto, GateGraphError> {
    let model = decode_exported(bytes)?;
    if let Some(value) = metadata(&model, META_CHANGE_GATE) {
        return Err(GateGraphError::AlreadyGated(value.to_string()));
    }
    Ok(model)
}

/// One node of the default domain.
fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<Attribute>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op.to_string(),
        attribute: attribute.into_iter().map(|a| a.proto().clone()).collect(),
        ..Default::default()
    }
}

/// Nodes computing `mean(x²) + floor` per face into `out` ([N, 1, 1, 1]).
fn energy(x: &str, out: &str, floor: &str) -> Vec<NodeProto> {
    let (sq, mean) = (format!("{out}/square"), format!("{out}/mean"));
    vec![
        node("Mul", &[x, x], &sq, vec![]),
        reduce_mean(&sq, &mean),
        node("Add", &[&mean, floor], out, vec![]),
    ]
}

/// The mean over channels and pixels, per face.
fn reduce_mean(x: &str, out: &str) -> NodeProto {
    node(
        "ReduceMean",
        &[x],
        out,
        vec![
            Attribute::ints("axes", &[1, 2, 3]),
            Attribute::int("keepdims", 1),
        ],
    )
}

/// The 4-neighbour Laplacian of each plane of `x` ([N, 3, S, S] → [N, 3, S−2, S−2], no
/// padding: the interior, as [`super::stats::laplacian`] takes it).
fn laplacian(x: &str, out: &str, kernel: &str) -> NodeProto {
    node(
        "Conv",
        &[x, kernel],
        out,
        vec![
            Attribute::int("group", 3),
            Attribute::ints("kernel_shape", &[3, 3]),
        ],
    )
}

/// `model` (from [`decode_ungated`]) with `gate` in front of its output, encoded.
pub fn with_change_gate(
    mut model: ModelProto,
    gate: &GateParams,
) -> Result<Vec<u8>, GateGraphError> {
    let values = [gate.bias, gate.max]
        .into_iter()
        .chain(gate.weights)
        .collect::<Vec<_>>();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(GateGraphError::NotFinite(gate.text()));
    }
    let name = |s: &str| format!("{PREFIX}/{s}");
    let (kernel, floor, bias, max) = (name("laplacian"), name("floor"), name("bias"), name("max"));
    let weights: Vec<String> = (0..gate.weights.len())
        .map(|k| name(&format!("weight{k}")))
        .collect();
    splice_at_output(&mut model, PREFIX, |from, to| {
        let change = name("change");
        let (lap_lq, lap_change, pooled, lap_pooled) = (
            name("input_laplacian"),
            name("change_laplacian"),
            name("input_pooled"),
            name("pooled_laplacian"),
        );
        let (e_detail, e_change, e_change_detail, e_coarse) = (
            name("input_detail_energy"),
            name("change_energy"),
            name("change_detail_energy"),
            name("coarse_detail_energy"),
        );
        let mut nodes = vec![
            node("Sub", &[from, INPUT_LQ], &change, vec![]),
            laplacian(INPUT_LQ, &lap_lq, &kernel),
            laplacian(&change, &lap_change, &kernel),
            node(
                "AveragePool",
                &[INPUT_LQ],
                &pooled,
                vec![
                    Attribute::ints("kernel_shape", &[2, 2]),
                    Attribute::ints("strides", &[2, 2]),
                ],
            ),
            laplacian(&pooled, &lap_pooled, &kernel),
        ];
        nodes.extend(energy(&lap_lq, &e_detail, &floor));
        nodes.extend(energy(&change, &e_change, &floor));
        nodes.extend(energy(&lap_change, &e_change_detail, &floor));
        nodes.extend(energy(&lap_pooled, &e_coarse, &floor));
        // The features, in the order of `stats::features`.
        let features: Vec<String> = (0..FEATURES)
            .map(|k| name(&format!("feature{k}")))
            .collect();
        for (k, e) in [&e_detail, &e_change, &e_change_detail, &e_coarse]
            .iter()
            .enumerate()
        {
            nodes.push(node("Log", &[e], &features[k], vec![]));
        }
        let (product, along, norm_sq, norm) = (
            name("along/product"),
            name("along/mean"),
            name("along/norm_squared"),
            name("along/norm"),
        );
        nodes.push(node("Mul", &[&lap_lq, &lap_change], &product, vec![]));
        nodes.push(reduce_mean(&product, &along));
        nodes.push(node(
            "Mul",
            &[&e_detail, &e_change_detail],
            &norm_sq,
            vec![],
        ));
        nodes.push(node("Sqrt", &[&norm_sq], &norm, vec![]));
        nodes.push(node("Div", &[&along, &norm], &features[4], vec![]));
        // z = b + Σ w_k f_k, α = max · sigmoid(z), restored = lq + α·change.
        let mut sum = bias.clone();
        for (k, (f, w)) in features.iter().zip(&weights).enumerate() {
            let (term, acc) = (name(&format!("term{k}")), name(&format!("logit{k}")));
            nodes.push(node("Mul", &[f, w], &term, vec![]));
            nodes.push(node("Add", &[&sum, &term], &acc, vec![]));
            sum = acc;
        }
        let (sig, alpha, gated) = (name("sigmoid"), name("alpha"), name("gated_change"));
        nodes.push(node("Sigmoid", &[&sum], &sig, vec![]));
        nodes.push(node("Mul", &[&sig, &max], &alpha, vec![]));
        nodes.push(node("Mul", &[&alpha, &change], &gated, vec![]));
        nodes.push(node("Add", &[INPUT_LQ, &gated], to, vec![]));
        nodes
    })?;
    let graph = model.graph.as_mut().ok_or(RewriteError::NoGraph)?;
    let lap = [0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0].repeat(3);
    graph
        .initializer
        .push(tensor_f32(&kernel, &[3, 1, 3, 3], &lap));
    graph
        .initializer
        .push(tensor_f32(&floor, &[], &[ENERGY_FLOOR]));
    graph.initializer.push(tensor_f32(&bias, &[], &[gate.bias]));
    graph.initializer.push(tensor_f32(&max, &[], &[gate.max]));
    for (w, &v) in weights.iter().zip(&gate.weights) {
        graph.initializer.push(tensor_f32(w, &[], &[v]));
    }
    push_metadata(&mut model, META_CHANGE_GATE, gate.text());
    Ok(encode_model(&model))
}
