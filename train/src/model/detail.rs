//! The full-resolution detail head of the small presets: three 3×3 convolutions on
//! `[lq, decoder output]` whose result is added to the output.
//!
//! Not part of the paper's network. `paper512` decodes 256² and 512² with 128 and 64 channels
//! (Sec. 3.1); `small256` can afford 8 there on a CPU, too few to remove JPEG blocks and noise
//! pixel by pixel, which is most of what a mildly degraded face needs. The head gives that work
//! a few dozen channels at full size, as the last stage of a super-resolution network (DnCNN,
//! Zhang et al. 2017) does. Its last convolution starts at zero, so adding the head to a trained
//! generator changes nothing until training moves it.

use burn::prelude::*;

use super::equal::EqualConv2d;
use super::init::ParamInit;

/// Channels in: the LQ input and the decoder's output.
const HEAD_INPUTS: usize = 6;

#[derive(Module, Debug)]
pub struct DetailHead {
    pub conv_in: EqualConv2d,
    pub conv_mid: EqualConv2d,
    /// No activation; its weight starts at zero.
    pub conv_out: EqualConv2d,
}

impl DetailHead {
    pub fn new(init: &mut ParamInit, width: usize) -> Self {
        let mut conv_out = EqualConv2d::new(init, width, 3, 3, 1, true, false);
        conv_out.weight = init.constant([3, width, 3, 3], 0.0);
        Self {
            conv_in: EqualConv2d::new(init, HEAD_INPUTS, width, 3, 1, true, true),
            conv_mid: EqualConv2d::new(init, width, width, 3, 1, true, true),
            conv_out,
        }
    }

    /// The channels of its hidden layers.
    pub fn width(&self) -> usize {
        self.conv_in.weight.dims()[0]
    }

    /// `y + head([lq, y])`.
    pub fn forward(&self, lq: Tensor<4>, y: Tensor<4>) -> Tensor<4> {
        let x = Tensor::cat(vec![lq, y.clone()], 1);
        let x = self.conv_in.forward(x);
        let x = self.conv_mid.forward(x);
        y + self.conv_out.forward(x)
    }
}
