//! The StyleGAN2 residual discriminator (Karras et al. 2020, Fig. 7; rosinality's
//! `Discriminator`), used for the adversarial loss of paper Sec. 3.3.
//!
//! fromRGB 1×1 → residual blocks down to 4×4 (3×3 conv, stride-2 3×3 conv; skip: 2×2 average
//! pool + 1×1 conv; sum / √2) → minibatch standard deviation (group ≤ 4, one feature) → 3×3
//! conv → two EqualLinear → one logit per image. Downsampling uses stride 2 and average
//! pooling in place of StyleGAN2's blur kernel.

use burn::prelude::*;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;

use super::equal::{EqualConv2d, EqualLinear};
use super::init::ParamInit;
use super::{Config, ModelError};

/// Added to the variance in the minibatch standard deviation (StyleGAN2).
pub const MBSTD_EPS: f64 = 1e-8;
/// Largest group of the minibatch standard deviation (StyleGAN2).
pub const MBSTD_GROUP: usize = 4;

#[derive(Module, Debug)]
pub struct ResBlock {
    pub conv1: EqualConv2d,
    pub conv2: EqualConv2d,
    pub skip: EqualConv2d,
}

impl ResBlock {
    fn new(init: &mut ParamInit, in_ch: usize, out_ch: usize) -> Self {
        Self {
            conv1: EqualConv2d::new(init, in_ch, in_ch, 3, 1, true, true),
            conv2: EqualConv2d::new(init, in_ch, out_ch, 3, 2, true, true),
            skip: EqualConv2d::new(init, in_ch, out_ch, 1, 1, false, false),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = self.conv2.forward(self.conv1.forward(x.clone()));
        let pooled = avg_pool2d(x, AvgPoolOptions::new([2, 2]).with_stride([2, 2]));
        (out + self.skip.forward(pooled)).mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
    }
}

/// Appends one channel: the mean standard deviation over a group of samples (StyleGAN2
/// `stddev_group`; sample `n` is in group `n mod (N / G)`).
pub fn minibatch_stddev(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let g = (1..=MBSTD_GROUP.min(n))
        .rev()
        .find(|g| n % g == 0)
        .unwrap_or(1);
    let m = n / g;
    let y = x.clone().reshape([g, m, c, h, w]);
    let y = y.clone() - y.mean_dim(0);
    let std = y.square().mean_dim(0).add_scalar(MBSTD_EPS).sqrt();
    let stat = std.reshape([m, c * h * w]).mean_dim(1); // [m, 1]
    let stat = stat
        .reshape([1, m, 1, 1, 1])
        .repeat(&[g, 1, 1, h, w])
        .reshape([n, 1, h, w]);
    Tensor::cat(vec![x, stat], 1)
}

#[derive(Module, Debug)]
pub struct Discriminator {
    pub from_rgb: EqualConv2d,
    pub blocks: Vec<ResBlock>,
    pub final_conv: EqualConv2d,
    pub final_linear: EqualLinear,
    pub out: EqualLinear,
}

impl Discriminator {
    pub fn new(cfg: &Config, seed: u64, device: &Device) -> Result<Self, ModelError> {
        cfg.validate()?;
        let mut init = ParamInit::new(seed, device);
        let top = cfg.num_resolutions() - 1;
        let c0 = cfg.ch(0);
        Ok(Self {
            from_rgb: EqualConv2d::new(&mut init, 3, cfg.ch(top), 1, 1, true, true),
            blocks: (1..=top)
                .rev()
                .map(|i| ResBlock::new(&mut init, cfg.ch(i), cfg.ch(i - 1)))
                .collect(),
            final_conv: EqualConv2d::new(&mut init, c0 + 1, c0, 3, 1, true, true),
            final_linear: EqualLinear::new(&mut init, c0 * 16, c0, 0.0, 1.0, true),
            out: EqualLinear::new(&mut init, c0, 1, 0.0, 1.0, false),
        })
    }

    /// Images [N, 3, S, S] in [-1, 1] → logits [N, 1].
    pub fn forward(&self, image: Tensor<4>) -> Tensor<2> {
        let x = self
            .blocks
            .iter()
            .fold(self.from_rgb.forward(image), |x, b| b.forward(x));
        let x = self.final_conv.forward(minibatch_stddev(x));
        let [n, c, h, w] = x.dims();
        self.out
            .forward(self.final_linear.forward(x.reshape([n, c * h * w])))
    }
}
