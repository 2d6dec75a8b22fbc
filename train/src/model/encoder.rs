//! The shared-weight encoder of the integration module (paper Sec. 3.2): a 1×1 conv
//! 3→C then stride-2 3×3 convs down to 4×4. It runs on `I_lq` and (full variant) on `I_3d`;
//! its per-scale features `F^i` feed the AFFB of every decoder block.

use burn::prelude::*;

use super::Config;
use super::equal::EqualConv2d;
use super::init::ParamInit;

#[derive(Module, Debug)]
pub struct Encoder {
    /// 1×1 conv 3 → C(size), fused leaky ReLU.
    pub from_rgb: EqualConv2d,
    /// `downs[j]` takes resolution `size / 2^j` to half of it.
    pub downs: Vec<EqualConv2d>,
}

impl Encoder {
    pub fn new(cfg: &Config, init: &mut ParamInit) -> Self {
        let top = cfg.num_resolutions() - 1;
        let from_rgb = EqualConv2d::new(init, 3, cfg.ch(top), 1, 1, true, true);
        let downs = (1..=top)
            .rev()
            .map(|i| EqualConv2d::new(init, cfg.ch(i), cfg.ch(i - 1), 3, 2, true, true))
            .collect();
        Self { from_rgb, downs }
    }

    /// Features per resolution, index `i` = resolution `4 · 2^i` (so `[0]` is the 4×4 map).
    pub fn forward(&self, image: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = self.from_rgb.forward(image);
        let mut feats = vec![x.clone()];
        for down in &self.downs {
            x = down.forward(x);
            feats.push(x.clone());
        }
        feats.reverse();
        feats
    }
}
