//! Equalised-learning-rate layers of StyleGAN2 (`EqualLinear`, `EqualConv2d`, `FusedLeakyReLU`
//! in rosinality's `stylegan2-pytorch`, which the official SGPN code builds on).
//!
//! Weights are stored N(0, 1) (divided by the lr multiplier) and scaled at run time by
//! `lr_mul / sqrt(fan_in)`, so Adam sees every layer at the same scale. The ONNX export bakes
//! the scale into constant weights ([`EqualLinear::effective_weight`]).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use super::init::ParamInit;
use super::{LRELU_GAIN, LRELU_SLOPE};

/// `leaky_relu(x + bias) · √2` with a per-channel bias on dim 1 (StyleGAN2 `FusedLeakyReLU`).
pub fn fused_lrelu<const D: usize>(x: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
    let x = match bias {
        Some(b) => {
            let c = b.dims()[0];
            let mut shape = [1usize; D];
            shape[1] = c;
            x + b.reshape(shape)
        }
        None => x,
    };
    leaky_relu(x, LRELU_SLOPE).mul_scalar(LRELU_GAIN)
}

/// A fully connected layer with equalised learning rate, optionally followed by the fused
/// leaky ReLU.
#[derive(Module, Debug)]
pub struct EqualLinear {
    /// [out, in], stored as N(0,1) / lr_mul.
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    pub lr_mul: f64,
    pub activation: bool,
}

impl EqualLinear {
    pub fn new(
        init: &mut ParamInit,
        in_dim: usize,
        out_dim: usize,
        bias_init: f32,
        lr_mul: f64,
        activation: bool,
    ) -> Self {
        Self {
            weight: init.normal([out_dim, in_dim], (1.0 / lr_mul) as f32),
            bias: init.constant([out_dim], bias_init),
            lr_mul,
            activation,
        }
    }

    /// `lr_mul / sqrt(in)`.
    pub fn scale(&self) -> f64 {
        let in_dim = self.weight.dims()[1];
        self.lr_mul / (in_dim as f64).sqrt()
    }

    /// The weight as used, transposed to [in, out] (`y = x · W + b`).
    pub fn effective_weight(&self) -> Tensor<2> {
        self.weight.val().mul_scalar(self.scale()).transpose()
    }

    pub fn effective_bias(&self) -> Tensor<1> {
        self.bias.val().mul_scalar(self.lr_mul)
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.effective_weight());
        if self.activation {
            fused_lrelu(y, Some(self.effective_bias()))
        } else {
            let out = self.bias.dims()[0];
            y + self.effective_bias().reshape([1, out])
        }
    }
}

/// A 2-D convolution with equalised learning rate, optionally followed by the fused leaky ReLU.
#[derive(Module, Debug)]
pub struct EqualConv2d {
    /// [out, in, k, k], N(0, 1).
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub stride: usize,
    pub activation: bool,
}

impl EqualConv2d {
    pub fn new(
        init: &mut ParamInit,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        stride: usize,
        bias: bool,
        activation: bool,
    ) -> Self {
        Self {
            weight: init.normal([out_ch, in_ch, kernel, kernel], 1.0),
            bias: bias.then(|| init.constant([out_ch], 0.0)),
            stride,
            activation,
        }
    }

    pub fn kernel(&self) -> usize {
        self.weight.dims()[2]
    }

    /// "Same" padding for odd kernels.
    pub fn padding(&self) -> usize {
        self.kernel() / 2
    }

    /// The weight as used: N(0,1) · 1/sqrt(in · k²).
    pub fn effective_weight(&self) -> Tensor<4> {
        let [_, in_ch, k, _] = self.weight.dims();
        self.weight
            .val()
            .mul_scalar(1.0 / ((in_ch * k * k) as f64).sqrt())
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.padding();
        let options = ConvOptions::new([self.stride; 2], [p, p], [1, 1], 1);
        if self.activation {
            let y = conv2d(x, self.effective_weight(), None, options);
            fused_lrelu(y, self.bias.as_ref().map(|b| b.val()))
        } else {
            conv2d(
                x,
                self.effective_weight(),
                self.bias.as_ref().map(|b| b.val()),
                options,
            )
        }
    }
}
