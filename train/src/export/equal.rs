//! ONNX export of the equalised-lr layers: the run-time scale is baked into constant weights.

use crate::model::equal::{EqualConv2d, EqualLinear};

use super::graph::OnnxGraph;

impl EqualLinear {
    /// `x` [N, in] → [N, out]: MatMul + bias (+ fused leaky ReLU).
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let w = g.weight(&format!("{name}.weight"), self.effective_weight());
        let y = g.matmul(x, &w, &format!("{name}/matmul"));
        if self.activation {
            g.fused_lrelu(&y, Some(self.effective_bias()), 2, name)
        } else {
            let b = g.weight(&format!("{name}.bias"), self.effective_bias());
            g.add(&y, &b, name)
        }
    }
}

impl EqualConv2d {
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let w = g.weight(&format!("{name}.weight"), self.effective_weight());
        let bias = self.bias.as_ref().map(|b| b.val());
        if self.activation {
            let y = g.conv(
                x,
                &w,
                None,
                self.stride,
                self.padding(),
                &format!("{name}/conv"),
            );
            g.fused_lrelu(&y, bias, 4, name)
        } else {
            let b = bias.map(|b| g.weight(&format!("{name}.bias"), b));
            g.conv(x, &w, b.as_deref(), self.stride, self.padding(), name)
        }
    }
}
