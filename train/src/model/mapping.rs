//! The mapping network (official code: PixelNorm, then `n_mlp` EqualLinear layers with lr
//! multiplier 0.01 and fused leaky ReLU) from the concatenated latent codes to one `w` used by
//! every layer (paper Sec. 3.2).

use burn::prelude::*;

use super::Config;
use super::equal::EqualLinear;
use super::init::ParamInit;

/// Added to the mean square in PixelNorm (StyleGAN2).
pub const PIXEL_NORM_EPS: f64 = 1e-8;

/// `x / sqrt(mean(x²) + ε)` over the feature dimension.
pub fn pixel_norm(x: Tensor<2>) -> Tensor<2> {
    let ms = x.clone().square().mean_dim(1).add_scalar(PIXEL_NORM_EPS);
    x / ms.sqrt()
}

#[derive(Module, Debug)]
pub struct Mapping {
    pub layers: Vec<EqualLinear>,
}

impl Mapping {
    /// Input: `latent_dim` per branch (one for no3d, two for full).
    pub fn new(cfg: &Config, init: &mut ParamInit) -> Self {
        let branches = if cfg.variant.has_render() { 2 } else { 1 };
        let mut in_dim = cfg.latent_dim * branches;
        let layers = (0..cfg.n_mlp)
            .map(|_| {
                let layer = EqualLinear::new(init, in_dim, cfg.style_dim, 0.0, cfg.lr_mlp, true);
                in_dim = cfg.style_dim;
                layer
            })
            .collect();
        Self { layers }
    }

    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.layers
            .iter()
            .fold(pixel_norm(z), |x, layer| layer.forward(x))
    }
}
