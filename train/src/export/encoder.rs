//! ONNX export of the shared encoder, the latent encoder and the mapping network.

use crate::model::encoder::Encoder;
use crate::model::latent::LatentEncoder;
use crate::model::mapping::{Mapping, PIXEL_NORM_EPS};

use super::graph::OnnxGraph;

impl Encoder {
    /// Feature names per resolution index (`[0]` = 4×4), as [`Encoder::forward`].
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, image: &str) -> Vec<String> {
        let mut x = self
            .from_rgb
            .export_onnx(g, &format!("{name}.from_rgb"), image);
        let mut feats = vec![x.clone()];
        for (j, down) in self.downs.iter().enumerate() {
            x = down.export_onnx(g, &format!("{name}.downs.{j}"), &x);
            feats.push(x.clone());
        }
        feats.reverse();
        feats
    }
}

impl LatentEncoder {
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, f4: &str) -> String {
        let in_dim = self.linear.weight.dims()[1] as i64;
        let flat = g.reshape(f4, &[-1, in_dim], &format!("{name}/flatten"));
        self.linear.export_onnx(g, &format!("{name}.linear"), &flat)
    }
}

impl Mapping {
    pub fn export_onnx(&self, g: &mut OnnxGraph, name: &str, z: &str) -> String {
        let sq = g.mul(z, z, &format!("{name}/pn_sq"));
        let ms = g.op(
            "ReduceMean",
            &[&sq],
            &format!("{name}/pn_mean"),
            vec![
                sgpn_models::onnx::Attribute::ints("axes", &[1]),
                sgpn_models::onnx::Attribute::int("keepdims", 1),
            ],
        );
        let eps = g.scalar(&format!("{name}/pn_eps"), PIXEL_NORM_EPS as f32);
        let ms = g.add(&ms, &eps, &format!("{name}/pn_mean_eps"));
        let rms = g.op("Sqrt", &[&ms], &format!("{name}/pn_rms"), vec![]);
        let mut x = g.op("Div", &[z, &rms], &format!("{name}/pixel_norm"), vec![]);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.export_onnx(g, &format!("{name}.layers.{i}"), &x);
        }
        x
    }
}
