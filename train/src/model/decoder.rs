//! The StyleGAN2 decoder with an AFFB after every StyleConv (paper Sec. 3.2):
//! a learned constant 4×4 input, per resolution one upsampling StyleConv and one plain
//! StyleConv, each followed by the AFFB with that resolution's encoder features and the fused
//! leaky ReLU over the 2C concatenation; toRGB (modulated 1×1, no demodulation) with
//! upsampled skips sums the RGB output.

use burn::module::Param;
use burn::prelude::*;

use super::Config;
use super::affb::Affb;
use super::equal::fused_lrelu;
use super::init::{Noise, ParamInit};
use super::styleconv::{ModulatedConv2d, StyleConv, upsample2};

/// StyleConv → AFFB → fused leaky ReLU: C_in → 2C.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub conv: StyleConv,
    pub affb: Affb,
    /// Bias of the fused leaky ReLU over the 2C output.
    pub act_bias: Param<Tensor<1>>,
}

impl DecoderLayer {
    fn new(init: &mut ParamInit, cfg: &Config, in_ch: usize, ch: usize, upsample: bool) -> Self {
        Self {
            conv: StyleConv::new(
                init,
                in_ch,
                ch,
                cfg.style_dim,
                upsample.then_some(cfg.upsample),
            ),
            affb: Affb::new(init, ch, cfg.variant.has_render()),
            act_bias: init.constant([2 * ch], 0.0),
        }
    }

    pub fn forward(
        &self,
        x: Tensor<4>,
        w: Tensor<2>,
        f_lq: Tensor<4>,
        f_3d: Option<Tensor<4>>,
        noise: &mut Noise,
    ) -> Tensor<4> {
        let f_inter = self.conv.forward(x, w, noise);
        fused_lrelu(
            self.affb.forward(f_inter, f_lq, f_3d),
            Some(self.act_bias.val()),
        )
    }
}

/// Modulated 1×1 conv 2C → 3 without demodulation, plus bias.
#[derive(Module, Debug)]
pub struct ToRgb {
    pub conv: ModulatedConv2d,
    pub bias: Param<Tensor<1>>,
}

impl ToRgb {
    /// `from_zero`: the conv weight starts at 0 (drawn, then replaced, so the other layers get
    /// the same initial weights either way), so the layer first outputs nothing; the input-skip
    /// network of [`Config::residual`] then starts as the identity.
    fn new(init: &mut ParamInit, in_ch: usize, style_dim: usize, from_zero: bool) -> Self {
        let mut conv = ModulatedConv2d::new(init, in_ch, 3, 1, style_dim, false, None);
        if from_zero {
            conv.weight = init.constant(conv.weight.dims(), 0.0);
        }
        Self {
            conv,
            bias: init.constant([3], 0.0),
        }
    }

    pub fn forward(&self, x: Tensor<4>, w: Tensor<2>, skip: Option<Tensor<4>>) -> Tensor<4> {
        let y = self.conv.forward(x, w) + self.bias.val().reshape([1, 3, 1, 1]);
        match skip {
            Some(s) => y + upsample2(s),
            None => y,
        }
    }
}

#[derive(Module, Debug)]
pub struct Decoder {
    /// [1, C(4), 4, 4], StyleGAN2 `ConstantInput`.
    pub const_input: Param<Tensor<4>>,
    /// `layers[0]` at 4×4, then two per resolution (upsampling one first).
    pub layers: Vec<DecoderLayer>,
    /// One per resolution.
    pub to_rgbs: Vec<ToRgb>,
}

impl Decoder {
    pub fn new(cfg: &Config, init: &mut ParamInit) -> Self {
        let c0 = cfg.ch(0);
        let const_input = init.normal([1, c0, 4, 4], 1.0);
        let mut layers = vec![DecoderLayer::new(init, cfg, c0, c0, false)];
        let zero_rgb = cfg.residual;
        let mut to_rgbs = vec![ToRgb::new(init, 2 * c0, cfg.style_dim, zero_rgb)];
        for i in 1..cfg.num_resolutions() {
            let (prev, ch) = (cfg.ch(i - 1), cfg.ch(i));
            layers.push(DecoderLayer::new(init, cfg, 2 * prev, ch, true));
            layers.push(DecoderLayer::new(init, cfg, 2 * ch, ch, false));
            to_rgbs.push(ToRgb::new(init, 2 * ch, cfg.style_dim, zero_rgb));
        }
        Self {
            const_input,
            layers,
            to_rgbs,
        }
    }

    /// `feats_lq[i]` / `feats_3d[i]`: encoder features at resolution index `i`.
    pub fn forward(
        &self,
        w: Tensor<2>,
        feats_lq: &[Tensor<4>],
        feats_3d: Option<&[Tensor<4>]>,
        noise: &mut Noise,
    ) -> Tensor<4> {
        let n = w.dims()[0];
        let f3d = |i: usize| feats_3d.map(|f| f[i].clone());
        let mut x = self.const_input.val().repeat_dim(0, n);
        x = self.layers[0].forward(x, w.clone(), feats_lq[0].clone(), f3d(0), noise);
        let mut rgb = self.to_rgbs[0].forward(x.clone(), w.clone(), None);
        for (i, to_rgb) in self.to_rgbs.iter().enumerate().skip(1) {
            for layer in &self.layers[2 * i - 1..=2 * i] {
                x = layer.forward(x, w.clone(), feats_lq[i].clone(), f3d(i), noise);
            }
            rgb = to_rgb.forward(x.clone(), w.clone(), Some(rgb));
        }
        rgb
    }
}
