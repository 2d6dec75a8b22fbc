//! Folding a colour offset into an exported generator: one `Add` of a `[1, 3, 1, 1]` constant in
//! front of the output ([`crate::rewrite::splice_at_output`]: before the exporter's final clip).
//! The offset is recorded in the metadata `sgpn.colour_calibration`.

use sgpn_models::contract::{META_CHANGE_GATE, META_COLOUR_CALIBRATION};
use sgpn_models::onnx::proto::NodeProto;
use sgpn_models::onnx::{ModelProto, encode_model, tensor_f32};

use crate::rewrite::{RewriteError, decode_exported, metadata, push_metadata, splice_at_output};

/// Initializer holding the offset, in network units ([-1, 1] range, so grey levels / 127.5).
pub const OFFSET_NAME: &str = "colour_calibration/offset";

#[derive(Debug, thiserror::Error)]
pub enum CalibrateGraphError {
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    #[error(
        "the model is already colour-calibrated ({META_COLOUR_CALIBRATION} = {0}): calibrate \
         the uncalibrated export instead of stacking offsets"
    )]
    AlreadyCalibrated(String),
    #[error(
        "the model is already gated ({META_CHANGE_GATE} = {0}): calibrate the ungated file, \
         then fit the gate on the calibrated one, so that a gate of 0 returns the input exactly"
    )]
    Gated(String),
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

/// Decodes a generator that can be calibrated: one [`decode_exported`] accepts, neither
/// calibrated nor gated yet.
pub fn decode_uncalibrated(bytes: &[u8]) -> Result<ModelProto, CalibrateGraphError> {
    let model = decode_exported(bytes)?;
    if let Some(value) = metadata(&model, META_COLOUR_CALIBRATION) {
        return Err(CalibrateGraphError::AlreadyCalibrated(value.to_string()));
    }
    if let Some(value) = metadata(&model, META_CHANGE_GATE) {
        return Err(CalibrateGraphError::Gated(value.to_string()));
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
    let offset: Vec<f32> = levels.iter().map(|v| v / 127.5).collect();
    splice_at_output(&mut model, "colour_calibrated", |from, to| {
        vec![NodeProto {
            input: vec![from.to_string(), OFFSET_NAME.to_string()],
            output: vec![to.to_string()],
            name: "colour_calibration".to_string(),
            op_type: "Add".to_string(),
            ..Default::default()
        }]
    })?;
    model
        .graph
        .as_mut()
        .ok_or(RewriteError::NoGraph)?
        .initializer
        .push(tensor_f32(OFFSET_NAME, &[1, 3, 1, 1], &offset));
    push_metadata(&mut model, META_COLOUR_CALIBRATION, offset_text(levels));
    Ok(encode_model(&model))
}
