//! The latent encoder (official code: EqualLinear on the flattened 4×4 encoder features, fused
//! leaky ReLU): `z_lq` from the LQ face and, in the full variant, `z_3d` from the render.

use burn::prelude::*;

use super::Config;
use super::equal::EqualLinear;
use super::init::ParamInit;

#[derive(Module, Debug)]
pub struct LatentEncoder {
    pub linear: EqualLinear,
}

impl LatentEncoder {
    pub fn new(cfg: &Config, init: &mut ParamInit) -> Self {
        let in_dim = cfg.ch(0) * 16;
        Self {
            linear: EqualLinear::new(init, in_dim, cfg.latent_dim, 0.0, 1.0, true),
        }
    }

    /// [N, C, 4, 4] → [N, latent_dim].
    pub fn forward(&self, f4: Tensor<4>) -> Tensor<2> {
        let [n, c, h, w] = f4.dims();
        self.linear.forward(f4.reshape([n, c * h * w]))
    }
}
