//! ONNX export of the AFFB as its own named piece: every tensor it creates is named
//! `<layer>.affb/...`, so the block can be found and swapped for the fused custom operator
//! `sgpn.AffbFuse` (gpu-path.md) without touching the rest of the graph.

use crate::model::affb::Affb;

use super::graph::OnnxGraph;

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
}
