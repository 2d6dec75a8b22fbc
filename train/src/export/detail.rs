//! ONNX export of the full-resolution detail head ([`DetailHead`]).

use crate::model::detail::DetailHead;

use super::graph::OnnxGraph;

impl DetailHead {
    /// `y + head(concat(lq, y))`.
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, lq: &str, y: &str) -> String {
        let x = g.concat(&[lq, y], 1, &format!("{name}/input"));
        let x = self.conv_in.export_onnx(g, &format!("{name}.conv_in"), &x);
        let x = self
            .conv_mid
            .export_onnx(g, &format!("{name}.conv_mid"), &x);
        let change = self
            .conv_out
            .export_onnx(g, &format!("{name}.conv_out"), &x);
        g.add(y, &change, name)
    }
}
