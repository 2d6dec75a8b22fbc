//! Folding a colour offset into an exported generator: one `Add` of a `[1, 3, 1, 1]` constant before
//! the output's final `Clip` (the exporter clips `restored` to [-1, 1], and the offset must move
//! the colour before the clip, not push clipped values off the range's end), or after the output
//! when the graph has no final clip. The offset is recorded in the metadata
//! `sgpn.colour_calibration` so a calibrated file says what was done to it.

use prost::Message;
use sgpn_models::contract::{META_COLOUR_CALIBRATION, OUTPUT_RESTORED};
use sgpn_models::onnx::proto::{NodeProto, StringStringEntryProto};
use sgpn_models::onnx::{ModelProto, encode_model, tensor_f32};

/// Initializer holding the offset, in network units ([-1, 1] range, so grey levels / 127.5).
pub const OFFSET_NAME: &str = "colour_calibration/offset";

#[derive(Debug, thiserror::Error)]
pub enum CalibrateGraphError {
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error(
        "this ONNX file holds fields outside the subset of onnx.proto that sgpn's writer knows, \
         and rewriting it would drop them: calibrate files written by `sgpn-train export`"
    )]
    ForeignFields,
    #[error("the model has no graph")]
    NoGraph,
    #[error("no node produces the output '{OUTPUT_RESTORED}'")]
    NoOutput,
    #[error(
        "the model is already colour-calibrated ({META_COLOUR_CALIBRATION} = {0}): calibrate \
         the uncalibrated export instead of stacking offsets"
    )]
    AlreadyCalibrated(String),
    #[error("colour offset {0:?} is not finite")]
    NotFinite([f32; 3]),
}

/// The metadata value: the offset in grey levels, R G B.
pub fn offset_text(levels: [f32; 3]) -> String {
    format!("{:+.3} {:+.3} {:+.3}", levels[0], levels[1], levels[2])
}

/// `bytes` (an ONNX generator written by the project's exporter) with `levels` (grey levels per
/// RGB channel) added to its output, re-encoded.
pub fn add_colour_offset(bytes: &[u8], levels: [f32; 3]) -> Result<Vec<u8>, CalibrateGraphError> {
    with_colour_offset(decode_uncalibrated(bytes)?, levels)
}

/// Decodes a generator that can be calibrated: written by the project's exporter (nothing lost
/// on re-encoding), not calibrated yet, its output produced by a node.
pub fn decode_uncalibrated(bytes: &[u8]) -> Result<ModelProto, CalibrateGraphError> {
    let model = ModelProto::decode(bytes)?;
    // prost drops fields it does not know; a file that does not re-encode to the same bytes had
    // some, and rewriting it would lose them silently.
    if encode_model(&model) != bytes {
        return Err(CalibrateGraphError::ForeignFields);
    }
    if let Some(p) = model
        .metadata_props
        .iter()
        .find(|p| p.key == META_COLOUR_CALIBRATION)
    {
        return Err(CalibrateGraphError::AlreadyCalibrated(p.value.clone()));
    }
    let graph = model.graph.as_ref().ok_or(CalibrateGraphError::NoGraph)?;
    if !graph
        .node
        .iter()
        .any(|n| n.output.iter().any(|o| o == OUTPUT_RESTORED))
    {
        return Err(CalibrateGraphError::NoOutput);
    }
    Ok(model)
}

/// `model` (from [`decode_uncalibrated`]) with `levels` added to its output, encoded.
pub fn with_colour_offset(
    mut model: ModelProto,
    levels: [f32; 3],
) -> Result<Vec<u8>, CalibrateGraphError> {
    if levels.iter().any(|v| !v.is_finite()) {
        return Err(CalibrateGraphError::NotFinite(levels));
    }
    let graph = model.graph.as_mut().ok_or(CalibrateGraphError::NoGraph)?;
    let producer = graph
        .node
        .iter()
        .position(|n| n.output.iter().any(|o| o == OUTPUT_RESTORED))
        .ok_or(CalibrateGraphError::NoOutput)?;
    let offset: Vec<f32> = levels.iter().map(|v| v / 127.5).collect();
    graph
        .initializer
        .push(tensor_f32(OFFSET_NAME, &[1, 3, 1, 1], &offset));
    // Nodes stay topologically sorted: the Add goes right before the clip it feeds, or right
    // after the node whose output it takes over.
    let last = &mut graph.node[producer];
    let (add_in, add_out, at) = if last.op_type == "Clip" && last.domain.is_empty() {
        let unclipped = last.input[0].clone();
        let shifted = format!("{unclipped}/colour_calibrated");
        last.input[0] = shifted.clone();
        (unclipped, shifted, producer)
    } else {
        let raw = format!("{OUTPUT_RESTORED}/uncalibrated");
        for o in last.output.iter_mut().filter(|o| *o == OUTPUT_RESTORED) {
            *o = raw.clone();
        }
        (raw, OUTPUT_RESTORED.to_string(), producer + 1)
    };
    let add = NodeProto {
        input: vec![add_in, OFFSET_NAME.to_string()],
        output: vec![add_out],
        name: "colour_calibration".to_string(),
        op_type: "Add".to_string(),
        ..Default::default()
    };
    graph.node.insert(at, add);
    model.metadata_props.push(StringStringEntryProto {
        key: META_COLOUR_CALIBRATION.to_string(),
        value: offset_text(levels),
    });
    Ok(encode_model(&model))
}
