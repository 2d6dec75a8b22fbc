//! Rewrites of an exported generator's output, after training: the colour offset
//! (`sgpn-train calibrate-colour`) and the change gate (`sgpn-train fit-gate`). Both act on the
//! tensor that becomes `restored`, before the exporter's final `Clip` to [-1, 1] when the graph
//! has one (a correction must move values before the clip, not push clipped values off the
//! range's end), or after the output node otherwise; each records itself in the metadata so a
//! rewritten file says what was done to it.

use prost::Message;
use sgpn_models::contract::OUTPUT_RESTORED;
use sgpn_models::onnx::proto::{NodeProto, StringStringEntryProto};
use sgpn_models::onnx::{ModelProto, encode_model};

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error(
        "this ONNX file holds fields outside the subset of onnx.proto that sgpn's writer knows, \
         and rewriting it would drop them: rewrite files written by `sgpn-train export`"
    )]
    ForeignFields,
    #[error("the model has no graph")]
    NoGraph,
    #[error("no node produces the output '{OUTPUT_RESTORED}'")]
    NoOutput,
}

/// Decodes a generator that can be rewritten: written by the project's exporter (nothing lost
/// on re-encoding), with a graph whose output `restored` a node produces.
pub fn decode_exported(bytes: &[u8]) -> Result<ModelProto, RewriteError> {
    let model = ModelProto::decode(bytes)?;
    // prost drops fields it does not know; a file that does not re-encode to the same bytes had
    // some, and rewriting it would lose them silently.
    if encode_model(&model) != bytes {
        return Err(RewriteError::ForeignFields);
    }
    let graph = model.graph.as_ref().ok_or(RewriteError::NoGraph)?;
    if !graph
        .node
        .iter()
        .any(|n| n.output.iter().any(|o| o == OUTPUT_RESTORED))
    {
        return Err(RewriteError::NoOutput);
    }
    Ok(model)
}

/// The value of metadata entry `key`, if the model has one.
pub fn metadata<'a>(model: &'a ModelProto, key: &str) -> Option<&'a str> {
    model
        .metadata_props
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

/// Adds metadata entry `key` = `value`.
pub fn push_metadata(model: &mut ModelProto, key: &str, value: String) {
    model.metadata_props.push(StringStringEntryProto {
        key: key.to_string(),
        value,
    });
}

/// Splices nodes in front of the output: `build(from, to)` returns the nodes (in topological
/// order) that compute tensor `to` from `from`, the tensor that became `restored` so far;
/// `to` takes its place. `tag` names the new tensors.
pub fn splice_at_output(
    model: &mut ModelProto,
    tag: &str,
    build: impl FnOnce(&str, &str) -> Vec<NodeProto>,
) -> Result<(), RewriteError> {
    let graph = model.graph.as_mut().ok_or(RewriteError::NoGraph)?;
    let producer = graph
        .node
        .iter()
        .position(|n| n.output.iter().any(|o| o == OUTPUT_RESTORED))
        .ok_or(RewriteError::NoOutput)?;
    // Nodes stay topologically sorted: the new ones go right before the clip they feed, or
    // right after the node whose output they take over.
    let last = &mut graph.node[producer];
    let (from, to, at) = if last.op_type == "Clip" && last.domain.is_empty() {
        let unclipped = last.input[0].clone();
        let replaced = format!("{unclipped}/{tag}");
        last.input[0] = replaced.clone();
        (unclipped, replaced, producer)
    } else {
        let raw = format!("{OUTPUT_RESTORED}/before_{tag}");
        for o in last.output.iter_mut().filter(|o| *o == OUTPUT_RESTORED) {
            *o = raw.clone();
        }
        (raw, OUTPUT_RESTORED.to_string(), producer + 1)
    };
    let nodes = build(&from, &to);
    graph.node.splice(at..at, nodes);
    Ok(())
}
