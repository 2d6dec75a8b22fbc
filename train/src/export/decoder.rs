//! ONNX export of the decoder: the constant input is broadcast to the dynamic batch with
//! `Expand` (its target shape built from `Shape(lq)[0]`), then layers and toRGB skips as in
//! [`Decoder::forward`].

use crate::model::decoder::{Decoder, DecoderLayer, ToRgb};

use super::graph::OnnxGraph;

impl DecoderLayer {
    pub fn export_onnx(
        &self,
        g: &mut OnnxGraph,
        name: &str,
        x: &str,
        w: &str,
        f_lq: &str,
        f_3d: Option<&str>,
    ) -> String {
        let f_inter = self.conv.export_onnx(g, &format!("{name}.conv"), x, w);
        let fused = self
            .affb
            .export_onnx(g, &format!("{name}.affb"), &f_inter, f_lq, f_3d);
        g.fused_lrelu(&fused, Some(self.act_bias.val()), 4, name)
    }
}

impl ToRgb {
    pub fn export_onnx(
        &self,
        g: &mut OnnxGraph,
        name: &str,
        x: &str,
        w: &str,
        skip: Option<&str>,
    ) -> String {
        let y = self.conv.export_onnx(g, &format!("{name}.conv"), x, w);
        let b = g.weight(
            &format!("{name}.bias"),
            self.bias.val().reshape([1, 3, 1, 1]),
        );
        let y = g.add(&y, &b, &format!("{name}/biased"));
        match skip {
            Some(s) => {
                let up = g.upsample2(s, &format!("{name}/skip_up"));
                g.add(&y, &up, name)
            }
            None => y,
        }
    }
}

impl Decoder {
    /// `batch_like`: any [N, ...] tensor whose first dim gives the batch size.
    pub fn export_onnx(
        &self,
        g: &mut OnnxGraph,
        name: &str,
        w: &str,
        feats_lq: &[String],
        feats_3d: Option<&[String]>,
        batch_like: &str,
    ) -> String {
        let [_, c, h, wd] = self.const_input.dims();
        let n = g.op(
            "Shape",
            &[batch_like],
            &format!("{name}/batch"),
            vec![
                sgpn_models::onnx::Attribute::int("start", 0),
                sgpn_models::onnx::Attribute::int("end", 1),
            ],
        );
        let rest = g.ints(
            &format!("{name}/const_rest"),
            &[c as i64, h as i64, wd as i64],
        );
        let shape = g.concat(&[&n, &rest], 0, &format!("{name}/const_shape"));
        let cst = g.weight(&format!("{name}.const_input"), self.const_input.val());
        let mut x = g.op("Expand", &[&cst, &shape], &format!("{name}/const"), vec![]);
        let f3d = |i: usize| feats_3d.map(|f| f[i].as_str());
        x = self.layers[0].export_onnx(g, &format!("{name}.layers.0"), &x, w, &feats_lq[0], f3d(0));
        let mut rgb = self.to_rgbs[0].export_onnx(g, &format!("{name}.to_rgbs.0"), &x, w, None);
        for (i, to_rgb) in self.to_rgbs.iter().enumerate().skip(1) {
            for l in 2 * i - 1..=2 * i {
                x = self.layers[l].export_onnx(
                    g,
                    &format!("{name}.layers.{l}"),
                    &x,
                    w,
                    &feats_lq[i],
                    f3d(i),
                );
            }
            rgb = to_rgb.export_onnx(g, &format!("{name}.to_rgbs.{i}"), &x, w, Some(&rgb));
        }
        rgb
    }
}
