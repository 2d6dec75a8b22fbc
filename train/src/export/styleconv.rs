//! ONNX export of the modulated convolution in the unfused form (StyleGAN2): `Mul` by the style,
//! `Conv` with a constant weight, `Mul` by `d = 1/sqrt(s² · ΣW² + ε)` from a `MatMul` with the
//! constant `ΣW²`. Nothing depends on the batch size; the demodulation stays in fp32 ops.

use crate::model::styleconv::{ModulatedConv2d, StyleConv};
use crate::model::{DEMOD_EPS, Upsample};

use super::graph::OnnxGraph;

impl ModulatedConv2d {
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, x: &str, w: &str) -> String {
        let [out_ch, in_ch, k, _] = self.weight.dims();
        let s = self
            .modulation
            .export_onnx(g, &format!("{name}.modulation"), w);
        let x = match self.upsample {
            Some(Upsample::Nearest) => g.upsample2_nearest(x, &format!("{name}/up")),
            Some(Upsample::Bilinear) => g.upsample2(x, &format!("{name}/up")),
            None => x.to_owned(),
        };
        let s4 = g.reshape(&s, &[-1, in_ch as i64, 1, 1], &format!("{name}/style"));
        let xs = g.mul(&x, &s4, &format!("{name}/modulated"));
        let weight = g.weight(&format!("{name}.weight"), self.effective_weight());
        let y = g.conv(&xs, &weight, None, 1, k / 2, &format!("{name}/conv"));
        if !self.demodulate {
            return y;
        }
        let s2 = g.mul(&s, &s, &format!("{name}/style_sq"));
        let wsq = g.weight(&format!("{name}.weight_sq_sum"), self.weight_sq_sum());
        let t = g.matmul(&s2, &wsq, &format!("{name}/demod_sum"));
        let eps = g.scalar(&format!("{name}/demod_eps"), DEMOD_EPS as f32);
        let t = g.add(&t, &eps, &format!("{name}/demod_sum_eps"));
        let t = g.op("Sqrt", &[&t], &format!("{name}/demod_sqrt"), vec![]);
        let d = g.op("Reciprocal", &[&t], &format!("{name}/demod"), vec![]);
        let d4 = g.reshape(&d, &[-1, out_ch as i64, 1, 1], &format!("{name}/demod_b"));
        g.mul(&y, &d4, name)
    }
}

impl StyleConv {
    /// Exported without noise (deterministic; see `crate::export`).
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, x: &str, w: &str) -> String {
        self.conv.export_onnx(g, &format!("{name}.conv"), x, w)
    }
}
