//! A thin layer over `sgpn_models::onnx::GraphBuilder`: burn tensors become initializers, and
//! each ONNX operator the network needs is one method returning its output's name. Tensor names
//! carry the module path (`decoder.layers.3.affb/mask`), so every part stays recognisable in the
//! exported graph.

use std::collections::HashMap;

use burn::prelude::*;
use sgpn_models::onnx::{Attribute, GraphBuilder};

/// How each AFFB is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AffbExport {
    /// Standard ONNX operators (Concat, Conv, Sigmoid, Sub, Mul, Add): runs anywhere.
    #[default]
    StandardOps,
    /// One `sgpn.AffbFuse` node per block (inputs `F_inter, F_lq[, F_3d], W_mask, b_mask`,
    /// output `concat(F_inter, F_blend)`), for a runtime that registers the fused operator
    /// (every session of `sgpn_models::runtime` does: `sgpn_models::affb_op`).
    CustomOp,
}

/// Domain and name of the fused AFFB operator.
pub const AFFB_DOMAIN: &str = sgpn_models::affb_op::DOMAIN;
pub const AFFB_OP: &str = sgpn_models::affb_op::NAME;

pub struct OnnxGraph {
    pub builder: GraphBuilder,
    pub affb: AffbExport,
    /// The initializer already written for each (shape, f32 bits) content: a module run twice
    /// (the shared encoder on the LQ and on the rendered face, Sec. 3.1) stores its weights once.
    weights: HashMap<(Vec<i64>, Vec<u32>), String>,
}

impl OnnxGraph {
    pub fn new(name: &str, affb: AffbExport) -> Self {
        Self {
            builder: GraphBuilder::new(name),
            affb,
            weights: HashMap::new(),
        }
    }

    /// A float tensor as a constant initializer, or the name of an identical one written
    /// before (initializers are immutable, so sharing one changes nothing the graph computes).
    pub fn weight<const D: usize>(&mut self, name: &str, t: Tensor<D>) -> String {
        let dims: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
        let data: Vec<f32> = t
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float tensor converted to f32");
        let key = (dims, data.iter().map(|v| v.to_bits()).collect());
        if let Some(existing) = self.weights.get(&key) {
            return existing.clone();
        }
        let written = self.builder.initializer(name, &key.0, &data);
        self.weights.insert(key, written.clone());
        written
    }

    pub fn scalar(&mut self, name: &str, v: f32) -> String {
        self.builder.initializer(name, &[], &[v])
    }

    pub fn ints(&mut self, name: &str, v: &[i64]) -> String {
        self.builder.initializer_i64(name, &[v.len() as i64], v)
    }

    /// One node with one output named after `name`.
    pub fn op(&mut self, op: &str, inputs: &[&str], name: &str, attrs: Vec<Attribute>) -> String {
        let out = self.builder.fresh(name);
        self.builder.node(op, inputs, &[&out], attrs);
        out
    }

    pub fn add(&mut self, a: &str, b: &str, name: &str) -> String {
        self.op("Add", &[a, b], name, vec![])
    }

    pub fn mul(&mut self, a: &str, b: &str, name: &str) -> String {
        self.op("Mul", &[a, b], name, vec![])
    }

    pub fn sub(&mut self, a: &str, b: &str, name: &str) -> String {
        self.op("Sub", &[a, b], name, vec![])
    }

    pub fn matmul(&mut self, a: &str, b: &str, name: &str) -> String {
        self.op("MatMul", &[a, b], name, vec![])
    }

    pub fn concat(&mut self, xs: &[&str], axis: i64, name: &str) -> String {
        self.op("Concat", xs, name, vec![Attribute::int("axis", axis)])
    }

    /// Reshape to `shape` (0 copies the input dim, -1 is inferred: keeps N dynamic).
    pub fn reshape(&mut self, x: &str, shape: &[i64], name: &str) -> String {
        let s = self.ints(&format!("{name}_shape"), shape);
        self.op("Reshape", &[x, &s], name, vec![])
    }

    /// 2-D convolution with square kernel, symmetric padding.
    pub fn conv(
        &mut self,
        x: &str,
        weight: &str,
        bias: Option<&str>,
        stride: usize,
        pad: usize,
        name: &str,
    ) -> String {
        let mut inputs = vec![x, weight];
        if let Some(b) = bias {
            inputs.push(b);
        }
        let p = pad as i64;
        let s = stride as i64;
        self.op(
            "Conv",
            &inputs,
            name,
            vec![
                Attribute::ints("strides", &[s, s]),
                Attribute::ints("pads", &[p, p, p, p]),
            ],
        )
    }

    /// `leaky_relu(x + bias) · √2`, bias per channel of dim 1 of a rank-`rank` tensor.
    pub fn fused_lrelu(
        &mut self,
        x: &str,
        bias: Option<Tensor<1>>,
        rank: usize,
        name: &str,
    ) -> String {
        let x = match bias {
            Some(b) => {
                let c = b.dims()[0];
                let mut shape = vec![1usize; rank];
                shape[1] = c;
                let b = self.weight(&format!("{name}/bias"), b.reshape([c]));
                let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                let b = self.reshape(&b, &shape, &format!("{name}/bias_b"));
                self.add(x, &b, &format!("{name}/biased"))
            }
            None => x.to_owned(),
        };
        let y = self.op(
            "LeakyRelu",
            &[&x],
            &format!("{name}/lrelu"),
            vec![Attribute::float("alpha", crate::model::LRELU_SLOPE as f32)],
        );
        let gain = self.scalar(&format!("{name}/gain"), crate::model::LRELU_GAIN as f32);
        self.mul(&y, &gain, name)
    }

    /// Nearest ×2, as [`crate::model::styleconv::upsample2_nearest`].
    pub fn upsample2_nearest(&mut self, x: &str, name: &str) -> String {
        self.resize2(
            x,
            name,
            vec![
                Attribute::string("mode", "nearest"),
                Attribute::string("coordinate_transformation_mode", "asymmetric"),
                Attribute::string("nearest_mode", "floor"),
            ],
        )
    }

    /// Bilinear ×2 (`Resize`, `linear`, `half_pixel`), as [`crate::model::styleconv::upsample2`].
    pub fn upsample2(&mut self, x: &str, name: &str) -> String {
        self.resize2(
            x,
            name,
            vec![
                Attribute::string("mode", "linear"),
                Attribute::string("coordinate_transformation_mode", "half_pixel"),
            ],
        )
    }

    /// `Resize` by 2 along H and W with the given interpolation attributes.
    fn resize2(&mut self, x: &str, name: &str, attrs: Vec<Attribute>) -> String {
        let scales =
            self.builder
                .initializer(&format!("{name}_scales"), &[4], &[1.0, 1.0, 2.0, 2.0]);
        self.op("Resize", &[x, "", &scales], name, attrs)
    }
}
