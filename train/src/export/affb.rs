//! ONNX export of the AFFB as its own named piece: every tensor it creates is named
//! `<layer>.affb/...`, so the block can be found and swapped for the fused custom operator
//! `sgpn.AffbFuse` (gpu-path.md) without touching the rest of the graph.

use crate::model::affb::Affb;

use sgpn_models::onnx::Attribute;

use super::graph::{AFFB_DOMAIN, AFFB_OP, AffbExport, OnnxGraph};

impl Affb {
    /// Returns `concat(F_inter, F_blend)` (2C channels).
    pub fn export_onnx(
        &self,
        g: &mut OnnxGraph,
        name: &str,
        f_inter: &str,
        f_lq: &str,
        f_3d: Option<&str>,
    ) -> String {
        if g.affb == AffbExport::CustomOp {
            return self.export_custom_op(g, name, f_inter, f_lq, f_3d);
        }
        let blend = match f_3d {
            Some(f_3d) => {
                let cat = g.concat(&[f_inter, f_lq, f_3d], 1, &format!("{name}/mask_in"));
                let logits = self.mask.export_onnx(g, &format!("{name}.mask"), &cat);
                let m = g.op("Sigmoid", &[&logits], &format!("{name}/mask"), vec![]);
                // F_lq·M + F_3d·(1−M) = F_3d + (F_lq − F_3d)·M, as in the burn forward.
                let diff = g.sub(f_lq, f_3d, &format!("{name}/lq_minus_3d"));
                let gated = g.mul(&diff, &m, &format!("{name}/gated"));
                g.add(f_3d, &gated, &format!("{name}/blend"))
            }
            None => {
                let cat = g.concat(&[f_inter, f_lq], 1, &format!("{name}/mask_in"));
                let logits = self.mask.export_onnx(g, &format!("{name}.mask"), &cat);
                let m = g.op("Sigmoid", &[&logits], &format!("{name}/mask"), vec![]);
                g.mul(f_lq, &m, &format!("{name}/blend"))
            }
        };
        g.concat(&[f_inter, &blend], 1, name)
    }

    /// The whole block as one `sgpn.AffbFuse` node; the mask weight ([C, 2C or 3C], the 1×1
    /// conv with its equalised-lr scale baked in) and bias ([C]) are its last two inputs.
    fn export_custom_op(
        &self,
        g: &mut OnnxGraph,
        name: &str,
        f_inter: &str,
        f_lq: &str,
        f_3d: Option<&str>,
    ) -> String {
        let [out_ch, in_ch, _, _] = self.mask.weight.dims();
        let w = g.weight(
            &format!("{name}.mask.weight"),
            self.mask.effective_weight().reshape([out_ch, in_ch]),
        );
        let b = g.weight(
            &format!("{name}.mask.bias"),
            self.mask
                .bias
                .as_ref()
                .map(|b| b.val())
                .expect("the AFFB mask conv has a bias"),
        );
        let mut inputs = vec![f_inter, f_lq];
        inputs.extend(f_3d);
        inputs.push(&w);
        inputs.push(&b);
        let out = g.builder.fresh(name);
        g.builder.node_in_domain(
            AFFB_DOMAIN,
            AFFB_OP,
            &inputs,
            &[&out],
            vec![Attribute::int("has_3d", i64::from(f_3d.is_some()))],
        );
        out
    }
}
