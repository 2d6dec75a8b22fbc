//! StyleGAN2's modulated convolution with weight demodulation (Karras et al. 2020, Sec. 2.2),
//! written in the unfused form of StyleGAN2: scale the input by the style `s`, convolve with the
//! constant weight, multiply the output by `d = 1/sqrt(s² · ΣW² + ε)`. `ΣW²` ([out, in], summed
//! over the kernel) is a constant, so `d` is one [N, in] × [in, out] product: exact, batch-size
//! independent and with constant conv weights, which TensorRT needs (and the ONNX export keeps).
//!
//! Upsampling before the conv follows [`Config::upsample`](super::Config::upsample): bilinear
//! (StyleGAN2's transposed conv plus `[1,3,3,1]` blur, without the learned part) or nearest, which
//! the first small256 checkpoints used. Bilinear is written as shifted sums ([`upsample2`])
//! because burn-flex's `interpolate` bilinear backward cost about 40 % of a small256 generator
//! step (measured). The toRGB skips are always bilinear so coarse RGB does not show blocks.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};

use super::equal::EqualLinear;
use super::init::{Noise, ParamInit};
use super::{DEMOD_EPS, Upsample};

/// Nearest ×2 upsampling (ONNX `Resize`, `nearest`, `asymmetric`, `floor`): pixel (y, x) of the
/// output is pixel (y/2, x/2) of the input.
pub fn upsample2_nearest(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]),
    )
}

/// Bilinear ×2 upsampling with half-pixel centres (ONNX `Resize`, `linear`, `half_pixel`).
pub fn upsample2(x: Tensor<4>) -> Tensor<4> {
    upsample2_axis(upsample2_axis(x, 2), 3)
}

/// Bilinear ×2 along one axis: output 2i is ¾·x[i] + ¼·x[i−1], output 2i+1 is ¾·x[i] + ¼·x[i+1],
/// the edge sample standing in for its missing neighbour (half-pixel sampling clamps there).
fn upsample2_axis(x: Tensor<4>, axis: usize) -> Tensor<4> {
    let mut dims = x.dims();
    let n = dims[axis];
    dims[axis] *= 2;
    if n == 1 {
        return x.repeat_dim(axis, 2);
    }
    let prev = Tensor::cat(
        vec![
            x.clone().narrow(axis, 0, 1),
            x.clone().narrow(axis, 0, n - 1),
        ],
        axis,
    );
    let next = Tensor::cat(
        vec![
            x.clone().narrow(axis, 1, n - 1),
            x.clone().narrow(axis, n - 1, 1),
        ],
        axis,
    );
    let even = x.clone().mul_scalar(0.75) + prev.mul_scalar(0.25);
    let odd = x.mul_scalar(0.75) + next.mul_scalar(0.25);
    Tensor::stack::<5>(vec![even, odd], axis + 1).reshape(dims)
}

impl Upsample {
    /// Doubles H and W of `x`.
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Upsample::Nearest => upsample2_nearest(x),
            Upsample::Bilinear => upsample2(x),
        }
    }
}

#[derive(Module, Debug)]
pub struct ModulatedConv2d {
    /// [out, in, k, k], N(0, 1); used as `weight / sqrt(in · k²)`.
    pub weight: Param<Tensor<4>>,
    /// `w` → per-input-channel style `s` (bias initialised to 1).
    pub modulation: EqualLinear,
    pub demodulate: bool,
    /// Doubles the input before the conv when set (each resolution's first StyleConv).
    #[module(skip)]
    pub upsample: Option<Upsample>,
}

impl ModulatedConv2d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        init: &mut ParamInit,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        style_dim: usize,
        demodulate: bool,
        upsample: Option<Upsample>,
    ) -> Self {
        Self {
            weight: init.normal([out_ch, in_ch, kernel, kernel], 1.0),
            modulation: EqualLinear::new(init, style_dim, in_ch, 1.0, 1.0, false),
            demodulate,
            upsample,
        }
    }

    /// The constant conv weight as used.
    pub fn effective_weight(&self) -> Tensor<4> {
        let [_, in_ch, k, _] = self.weight.dims();
        self.weight
            .val()
            .mul_scalar(1.0 / ((in_ch * k * k) as f64).sqrt())
    }

    /// `ΣW²` over the kernel, transposed to [in, out] for `s² · ΣW²`.
    pub fn weight_sq_sum(&self) -> Tensor<2> {
        let [out_ch, in_ch, _, _] = self.weight.dims();
        self.effective_weight()
            .square()
            .sum_dims_squeeze::<2, _>(&[2, 3])
            .reshape([out_ch, in_ch])
            .transpose()
    }

    pub fn forward(&self, x: Tensor<4>, w: Tensor<2>) -> Tensor<4> {
        let [n, in_ch, _, _] = x.dims();
        let k = self.weight.dims()[2];
        let out_ch = self.weight.dims()[0];
        let s = self.modulation.forward(w);
        let x = match self.upsample {
            Some(up) => up.apply(x),
            None => x,
        };
        let x = x * s.clone().reshape([n, in_ch, 1, 1]);
        let options = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
        let y = conv2d(x, self.effective_weight(), None, options);
        if self.demodulate {
            let d = s
                .square()
                .matmul(self.weight_sq_sum())
                .add_scalar(DEMOD_EPS)
                .sqrt()
                .recip();
            y * d.reshape([n, out_ch, 1, 1])
        } else {
            y
        }
    }
}

/// Modulated 3×3 conv plus noise injection: `F_inter` of the paper, before the AFFB and the
/// activation (the official code activates after the AFFB concatenation).
#[derive(Module, Debug)]
pub struct StyleConv {
    pub conv: ModulatedConv2d,
    /// Learned noise strength (StyleGAN2 `NoiseInjection`, initialised to 0).
    pub noise_strength: Param<Tensor<1>>,
}

impl StyleConv {
    pub fn new(
        init: &mut ParamInit,
        in_ch: usize,
        out_ch: usize,
        style_dim: usize,
        upsample: Option<Upsample>,
    ) -> Self {
        Self {
            conv: ModulatedConv2d::new(init, in_ch, out_ch, 3, style_dim, true, upsample),
            noise_strength: init.constant([1], 0.0),
        }
    }

    pub fn forward(&self, x: Tensor<4>, w: Tensor<2>, noise: &mut Noise) -> Tensor<4> {
        let y = self.conv.forward(x, w);
        let [n, _, h, wd] = y.dims();
        match noise.draw(n, h, wd, &y.device()) {
            Some(z) => y + z * self.noise_strength.val().reshape([1, 1, 1, 1]),
            None => y,
        }
    }
}
