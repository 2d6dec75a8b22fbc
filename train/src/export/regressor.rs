//! ONNX export of the shape regressor (docs/shape-prior.md): input `face` float32
//! `[N,3,224,224]` RGB in [-1, 1] with symbolic N, output `coeffs` `[N,K]`, opset 17, metadata
//! `sgpn.template`, `sgpn.morphable.sha256`, `sgpn.morphable`, `sgpn.coefficients`.
//!
//! The graph is the eval-mode forward pass: every BatchNorm is folded into the conv before it
//! (exact in eval mode, as `torch.fx`'s conv-bn fusion does), so only Conv, Relu, MaxPool, Add,
//! GlobalAveragePool, Reshape and MatMul + Add remain.

use std::path::Path;

use sgpn_models::Template;
use sgpn_models::onnx::{Attribute, Dim, ElemType, ModelProto, OPSET};
use sgpn_models::shape_regressor::{
    INPUT_FACE, META_COEFFICIENTS, META_MORPHABLE, META_MORPHABLE_SHA256, OUTPUT_COEFFS,
};

use crate::model::regressor::{
    ConvBn, REGRESSOR_SIZE, ResBlock, STEM_POOL_KERNEL, STEM_POOL_PAD, STEM_POOL_STRIDE,
    ShapeRegressor,
};

use super::ExportError;
use super::generator::BATCH_DIM;
use super::graph::{AffbExport, OnnxGraph};

/// What the file says about the faces and the 3DMM the regressor was trained with.
#[derive(Clone, Debug)]
pub struct RegressorExportMeta {
    /// The alignment of the input face (as the generator's `sgpn.template`).
    pub template: Template,
    /// The 3DMM file's name, for messages (`sgpn.morphable`).
    pub morphable_name: String,
    /// Hex SHA-256 of the 3DMM file (`sgpn.morphable.sha256`): the element refuses another 3DMM.
    pub morphable_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegressorExportError {
    #[error("sgpn.morphable.sha256 must be 64 lowercase hex digits, found {0:?}")]
    BadSha256(String),
    #[error(transparent)]
    Write(#[from] ExportError),
}

impl ConvBn {
    /// Conv with the BatchNorm folded into its weight and bias ([`ConvBn::folded`]).
    fn export_onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let (weight, bias) = self.folded();
        let w = g.weight(&format!("{name}.weight"), weight);
        let b = g.weight(&format!("{name}.bias"), bias);
        g.conv(x, &w, Some(&b), self.stride, self.padding(), name)
    }
}

impl ResBlock {
    fn export_onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let shortcut = match &self.downsample {
            Some(d) => d.export_onnx(g, &format!("{name}.downsample"), x),
            None => x.to_owned(),
        };
        let last = self.convs.len() - 1;
        let mut y = x.to_owned();
        for (i, conv) in self.convs.iter().enumerate() {
            y = conv.export_onnx(g, &format!("{name}.convs.{i}"), &y);
            if i < last {
                y = g.op("Relu", &[&y], &format!("{name}.convs.{i}/relu"), vec![]);
            }
        }
        let sum = g.add(&y, &shortcut, &format!("{name}/residual"));
        g.op("Relu", &[&sum], &format!("{name}/relu"), vec![])
    }
}

impl ShapeRegressor {
    /// The eval-mode regressor (running BatchNorm statistics) as an ONNX model.
    pub fn export_onnx(&self, meta: &RegressorExportMeta) -> ModelProto {
        let s = REGRESSOR_SIZE as i64;
        let k = self.coefficients();
        let mut g = OnnxGraph::new("sgpn_shape_regressor", AffbExport::StandardOps);
        g.builder.input(
            INPUT_FACE,
            ElemType::F32,
            &[
                Dim::named(BATCH_DIM),
                Dim::Fixed(3),
                Dim::Fixed(s),
                Dim::Fixed(s),
            ],
        );
        g.builder.output(
            OUTPUT_COEFFS,
            ElemType::F32,
            &[Dim::named(BATCH_DIM), Dim::Fixed(k as i64)],
        );

        let x = self.stem.export_onnx(&mut g, "stem", INPUT_FACE);
        let x = g.op("Relu", &[&x], "stem/relu", vec![]);
        let (pk, ps, pp) = (
            STEM_POOL_KERNEL as i64,
            STEM_POOL_STRIDE as i64,
            STEM_POOL_PAD as i64,
        );
        let mut x = g.op(
            "MaxPool",
            &[&x],
            "stem/maxpool",
            vec![
                Attribute::ints("kernel_shape", &[pk, pk]),
                Attribute::ints("strides", &[ps, ps]),
                Attribute::ints("pads", &[pp, pp, pp, pp]),
            ],
        );
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.export_onnx(&mut g, &format!("blocks.{i}"), &x);
        }
        let pooled = g.op("GlobalAveragePool", &[&x], "pool", vec![]);
        let features = self.config.feature_channels() as i64;
        let flat = g.reshape(&pooled, &[-1, features], "pool/flatten");
        let w = g.weight("fc.weight", self.fc_weight.val());
        let y = g.matmul(&flat, &w, "fc/matmul");
        let b = g.weight("fc.bias", self.fc_bias.val());
        g.builder.node("Add", &[&y, &b], &[OUTPUT_COEFFS], vec![]);

        let coefficients = k.to_string();
        g.builder.finish(
            OPSET,
            &[
                ("sgpn.template", meta.template.as_str()),
                (META_MORPHABLE_SHA256, &meta.morphable_sha256),
                (META_MORPHABLE, &meta.morphable_name),
                (META_COEFFICIENTS, &coefficients),
            ],
        )
    }
}

/// Writes the regressor as ONNX to `path`, after checking that the hash is a SHA-256 digest.
pub fn export_regressor(
    model: &ShapeRegressor,
    meta: &RegressorExportMeta,
    path: &Path,
) -> Result<(), RegressorExportError> {
    let sha = &meta.morphable_sha256;
    if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RegressorExportError::BadSha256(sha.clone()));
    }
    let proto = model.export_onnx(meta);
    sgpn_models::onnx::write_model(path, &proto).map_err(|source| ExportError::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}
