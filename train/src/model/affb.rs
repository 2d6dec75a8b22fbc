//! The Adaptive Feature Fusion Block (paper Sec. 3.2, Eq. 5–6; official code):
//! `M = sigmoid(Conv1x1(concat(F_inter, F_lq, F_3d)))`, `F_blend = F_lq · M + F_3d · (1 − M)`,
//! output `concat(F_inter, F_blend)` (2C channels; the caller applies the fused leaky ReLU).
//!
//! Variant A (`no3d`) has no `F_3d`: `M = sigmoid(Conv1x1(concat(F_inter, F_lq)))` and
//! `F_blend = F_lq · M`, i.e. the block learns how much of the LQ feature to let through.
//!
//! It is its own module (and its own named piece of the ONNX export) so that it can be replaced
//! by the fused custom operator `sgpn.AffbFuse` on the GPU path.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::equal::EqualConv2d;
use super::init::ParamInit;

#[derive(Module, Debug)]
pub struct Affb {
    /// 1×1 conv (2C or 3C) → C with bias: the mask logits.
    pub mask: EqualConv2d,
}

impl Affb {
    /// `channels` = C of `F_inter` (= C of `F_lq`, `F_3d`).
    pub fn new(init: &mut ParamInit, channels: usize, with_3d: bool) -> Self {
        let in_ch = if with_3d { 3 * channels } else { 2 * channels };
        Self {
            mask: EqualConv2d::new(init, in_ch, channels, 1, 1, true, false),
        }
    }

    pub fn has_3d(&self) -> bool {
        let [out, inp, _, _] = self.mask.weight.dims();
        inp == 3 * out
    }

    /// `[F_inter, F_blend]` concatenated on channels.
    pub fn forward(
        &self,
        f_inter: Tensor<4>,
        f_lq: Tensor<4>,
        f_3d: Option<Tensor<4>>,
    ) -> Tensor<4> {
        let blend = match f_3d {
            Some(f_3d) => {
                let m = sigmoid(self.mask.forward(Tensor::cat(
                    vec![f_inter.clone(), f_lq.clone(), f_3d.clone()],
                    1,
                )));
                // F_lq·M + F_3d·(1−M) = F_3d + (F_lq − F_3d)·M
                f_3d.clone() + (f_lq - f_3d) * m
            }
            None => {
                let m = sigmoid(
                    self.mask
                        .forward(Tensor::cat(vec![f_inter.clone(), f_lq.clone()], 1)),
                );
                f_lq * m
            }
        };
        Tensor::cat(vec![f_inter, blend], 1)
    }
}
