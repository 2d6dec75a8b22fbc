//! The whole SGPN generator (paper Fig. 2): shared encoder on `I_lq` (and `I_3d`), latent
//! encoder, mapping to `w`, StyleGAN2 decoder with AFFBs.
//!
//! `forward` takes `lq` and `Option<render>`: the shape-prior issue only supplies the render;
//! the 257 3DMM coefficients of the official mapping input (769 = 256 + 256 + 257) are not an
//! input yet, so the mapping input is `z_lq` (no3d) or `[z_lq, z_3d]` (full).

use burn::prelude::*;

use super::decoder::Decoder;
use super::encoder::Encoder;
use super::init::{Noise, ParamInit};
use super::latent::LatentEncoder;
use super::mapping::Mapping;
use super::{Config, ModelError, Variant};

#[derive(Module, Debug)]
pub struct Generator {
    pub encoder: Encoder,
    pub latent: LatentEncoder,
    pub mapping: Mapping,
    pub decoder: Decoder,
    #[module(skip)]
    pub config: Config,
}

impl Generator {
    /// Initial weights drawn from `seed`.
    pub fn new(cfg: &Config, seed: u64, device: &Device) -> Result<Self, ModelError> {
        cfg.validate()?;
        let mut init = ParamInit::new(seed, device);
        Ok(Self {
            encoder: Encoder::new(cfg, &mut init),
            latent: LatentEncoder::new(cfg, &mut init),
            mapping: Mapping::new(cfg, &mut init),
            decoder: Decoder::new(cfg, &mut init),
            config: cfg.clone(),
        })
    }

    fn check_input(&self, name: &'static str, x: &Tensor<4>) -> Result<(), ModelError> {
        let [_, c, h, w] = x.dims();
        let s = self.config.size;
        if c != 3 || h != s || w != s {
            return Err(ModelError::InputShape {
                name,
                found: x.dims().to_vec(),
                expected: format!("[N, 3, {s}, {s}]"),
            });
        }
        Ok(())
    }

    /// The raw output (what the losses see; not clamped): the decoder's RGB, plus `lq` for a
    /// [`Config::residual`] network.
    pub fn forward(
        &self,
        lq: Tensor<4>,
        render: Option<Tensor<4>>,
        noise: &mut Noise,
    ) -> Result<Tensor<4>, ModelError> {
        self.forward_with_prior_weight(lq, render, 1.0, noise)
    }

    /// [`Self::forward`] with the 3D branch's features `F_3d` and latent `z_3d` scaled by
    /// `prior_weight` in [0, 1]: the fade-in of a full run warm-started from variant A (see
    /// `train::warm_start`). At 0 the full network computes exactly what the variant-A network
    /// it was copied from computes (the `F_3d` columns start at zero and `F_3d·(1−M)` vanishes);
    /// at 1 it is the paper's network, the one the export writes.
    pub fn forward_with_prior_weight(
        &self,
        lq: Tensor<4>,
        render: Option<Tensor<4>>,
        prior_weight: f64,
        noise: &mut Noise,
    ) -> Result<Tensor<4>, ModelError> {
        self.check_input("lq", &lq)?;
        let variant = self.config.variant;
        let render = match (variant, render) {
            (Variant::Full, Some(r)) => {
                self.check_input("render", &r)?;
                if r.dims()[0] != lq.dims()[0] {
                    return Err(ModelError::InputShape {
                        name: "render",
                        found: r.dims().to_vec(),
                        expected: format!("batch {} like lq", lq.dims()[0]),
                    });
                }
                Some(r)
            }
            (Variant::No3d, None) => None,
            (Variant::Full, None) => {
                return Err(ModelError::RenderInput {
                    variant: "full",
                    problem: "needs a rendered 3D face",
                });
            }
            (Variant::No3d, Some(_)) => {
                return Err(ModelError::RenderInput {
                    variant: "no3d",
                    problem: "takes no rendered face",
                });
            }
        };
        let feats_lq = self.encoder.forward(lq.clone());
        let z_lq = self.latent.forward(feats_lq[0].clone());
        let (z, feats_3d) = match render {
            Some(r) => {
                let mut feats_3d = self.encoder.forward(r);
                let mut z_3d = self.latent.forward(feats_3d[0].clone());
                if prior_weight != 1.0 {
                    feats_3d = feats_3d
                        .into_iter()
                        .map(|f| f.mul_scalar(prior_weight))
                        .collect();
                    z_3d = z_3d.mul_scalar(prior_weight);
                }
                (Tensor::cat(vec![z_lq, z_3d], 1), Some(feats_3d))
            }
            None => (z_lq, None),
        };
        let w = self.mapping.forward(z);
        let rgb = self
            .decoder
            .forward(w, &feats_lq, feats_3d.as_deref(), noise);
        Ok(if self.config.residual { rgb + lq } else { rgb })
    }

    /// The restored face in [-1, 1] without noise: the pass the ONNX export reproduces.
    pub fn restore(
        &self,
        lq: Tensor<4>,
        render: Option<Tensor<4>>,
    ) -> Result<Tensor<4>, ModelError> {
        Ok(self.forward(lq, render, &mut Noise::Off)?.clamp(-1.0, 1.0))
    }
}
