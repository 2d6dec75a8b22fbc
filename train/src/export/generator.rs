//! ONNX export of the whole generator under the project's generator contract
//! (docs/architecture.md, models/README.md): input `lq` `[N,3,S,S]` RGB in [-1,1] (full variant:
//! also `render` `[N,3,S,S]`), output `restored` `[N,3,S,S]` clipped to [-1,1], opset 17, metadata
//! `sgpn.template`, `sgpn.size`, `sgpn.variant`.

use sgpn_models::onnx::{Dim, ElemType, ModelProto, OPSET};

use crate::model::Generator;

use super::graph::{AffbExport, OnnxGraph};

/// Graph input names and the output name of the generator contract.
pub use sgpn_models::contract::{INPUT_LQ, INPUT_RENDER, OUTPUT_RESTORED};
/// The symbolic batch dimension.
pub const BATCH_DIM: &str = "N";
/// SGPN networks are trained on faces aligned to the official SGPN template (from the official SGPN code).
pub const TEMPLATE: &str = "sgpn";
/// Metadata key of the whole [`crate::model::Config`] as JSON, which `super::import` checks.
pub const META_CONFIG: &str = "sgpn.config";

impl Generator {
    /// The generator as an ONNX model of standard operators (noise off: the deterministic
    /// [`Generator::restore`]).
    pub fn export_onnx(&self) -> ModelProto {
        self.export_onnx_with(AffbExport::StandardOps)
    }

    /// As [`Generator::export_onnx`], with the AFFBs written as `affb` says.
    pub fn export_onnx_with(&self, affb: AffbExport) -> ModelProto {
        let cfg = &self.config;
        let s = cfg.size as i64;
        let image = [
            Dim::named(BATCH_DIM),
            Dim::Fixed(3),
            Dim::Fixed(s),
            Dim::Fixed(s),
        ];
        let mut g = OnnxGraph::new("sgpn_generator", affb);
        g.builder.input(INPUT_LQ, ElemType::F32, &image);
        let has_render = cfg.variant.has_render();
        if has_render {
            g.builder.input(INPUT_RENDER, ElemType::F32, &image);
        }
        g.builder.output(OUTPUT_RESTORED, ElemType::F32, &image);

        let feats_lq = self.encoder.export_onnx(&mut g, "encoder", INPUT_LQ);
        let z_lq = self.latent.export_onnx(&mut g, "latent", &feats_lq[0]);
        let (z, feats_3d) = if has_render {
            let feats_3d = self.encoder.export_onnx(&mut g, "encoder_3d", INPUT_RENDER);
            let z_3d = self.latent.export_onnx(&mut g, "latent_3d", &feats_3d[0]);
            (g.concat(&[&z_lq, &z_3d], 1, "z"), Some(feats_3d))
        } else {
            (z_lq, None)
        };
        let w = self.mapping.export_onnx(&mut g, "mapping", &z);
        let rgb = self.decoder.export_onnx(
            &mut g,
            "decoder",
            &w,
            &feats_lq,
            feats_3d.as_deref(),
            INPUT_LQ,
        );
        let rgb = if cfg.residual {
            g.add(INPUT_LQ, &rgb, "input_skip")
        } else {
            rgb
        };
        let lo = g.scalar("clip_min", -1.0);
        let hi = g.scalar("clip_max", 1.0);
        g.builder
            .node("Clip", &[&rgb, &lo, &hi], &[OUTPUT_RESTORED], vec![]);

        let size = cfg.size.to_string();
        let config = serde_json::to_string(cfg).expect("config serialises");
        g.builder.finish(
            OPSET,
            &[
                ("sgpn.template", TEMPLATE),
                ("sgpn.size", &size),
                ("sgpn.variant", cfg.variant.as_str()),
                (META_CONFIG, &config),
            ],
        )
    }
}
