//! The SGPN generator and its StyleGAN2 discriminator in burn (Zhu et al., "Blind Face
//! Restoration via Integrating Face Shape and Generative Priors", CVPR 2022, Sec. 3; official
//! inference code `TencentYoutuResearch/FaceRestoration-sgpn`; StyleGAN2, Karras et al. 2020).
//!
//! One file per part: [`equal`] (equalised-lr layers), [`encoder`], [`latent`], [`mapping`],
//! [`styleconv`], [`affb`], [`decoder`], [`generator`], [`discriminator`].
//! Sizes come from a [`Config`] with named presets ([`Config::tiny`], [`Config::small256`],
//! [`Config::paper512`]).

pub mod affb;
pub mod decoder;
pub mod discriminator;
pub mod encoder;
pub mod equal;
pub mod generator;
pub mod init;
pub mod latent;
pub mod mapping;
pub mod regressor;
pub mod styleconv;

pub use discriminator::Discriminator;
pub use generator::Generator;
pub use init::{Noise, ParamInit};

use serde::{Deserialize, Serialize};

/// Slope of every leaky ReLU (StyleGAN2).
pub const LRELU_SLOPE: f64 = 0.2;
/// Gain after every leaky ReLU so activations keep unit variance (StyleGAN2 `FusedLeakyReLU`).
pub const LRELU_GAIN: f64 = std::f64::consts::SQRT_2;
/// Added under the square root of the demodulation factor (StyleGAN2).
pub const DEMOD_EPS: f64 = 1e-8;

/// Which network of the paper's ablation (Sec. 4.3) this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The full SGPN: the rendered 3D face is a second input, encoded by the shared encoder and
    /// fused by every AFFB.
    Full,
    /// Variant A of the ablation: no 3D branch. The AFFB then gates the LQ features alone
    /// (`F_blend = F_lq · M`, `M = sigmoid(conv1x1(concat(F_inter, F_lq)))`).
    No3d,
}

impl Variant {
    /// The name written into the ONNX metadata `sgpn.variant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Full => "full",
            Variant::No3d => "no3d",
        }
    }

    /// Parses `full` or `no3d`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s {
            "full" => Ok(Variant::Full),
            "no3d" => Ok(Variant::No3d),
            other => Err(ModelError::UnknownName {
                what: "variant",
                found: other.to_owned(),
                expected: "full, no3d",
            }),
        }
    }

    /// Whether the network takes a rendered face.
    pub fn has_render(self) -> bool {
        self == Variant::Full
    }
}

/// How the decoder doubles its feature maps before each resolution's first StyleConv.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upsample {
    /// Pixel (y, x) repeats input pixel (y/2, x/2). Cheap, but a step between two coarse
    /// pixels stays a sharp step at full size: the centre seams and blocky texture of the first
    /// small256 models. Checkpoints from before this option load as nearest, which they used.
    #[default]
    Nearest,
    /// Half-pixel bilinear, which is StyleGAN2's upsampling (transposed conv plus the `[1,3,3,1]`
    /// blur) without the learned part: every coarse step reaches full size as a ramp.
    Bilinear,
}

/// Network sizes. `channels[i]` is the width at resolution `4 · 2^i`, for the encoder, the
/// decoder and the discriminator (the official code uses one channel table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Output (and input) side in pixels, a power of two ≥ 8.
    pub size: usize,
    /// Width per resolution from 4² up to `size`².
    pub channels: Vec<usize>,
    /// Length of each latent code (`z_lq`, `z_3d`; 256 in the official code).
    pub latent_dim: usize,
    /// Length of `w` (512 in the official code).
    pub style_dim: usize,
    /// Number of EqualLinear layers in the mapping MLP (3 in the official code).
    pub n_mlp: usize,
    /// Learning-rate multiplier of the mapping MLP (0.01, StyleGAN2).
    pub lr_mlp: f64,
    pub variant: Variant,
    /// The decoder's upsampling; checkpoints from before the option load as nearest.
    #[serde(default)]
    pub upsample: Upsample,
    /// Whether the network outputs its input plus the decoder's RGB sum (a global skip, as
    /// super-resolution networks since VDSR have it) instead of the RGB sum alone. The decoder
    /// then draws only the restoration's change, its toRGB layers start at zero so that an
    /// untrained network is exactly the identity (the bicubic input), and every step of L1
    /// training moves it away from the input only where that lowers the error. This is what
    /// keeps a small, briefly trained generator from harming faces it cannot improve; the
    /// paper's network (`paper512`) generates the whole image. Checkpoints from before the
    /// option load without the skip.
    #[serde(default)]
    pub residual: bool,
}

impl Config {
    /// For tests: 32 px, a few channels; a training step takes well under a second.
    pub fn tiny(variant: Variant) -> Self {
        Self {
            size: 32,
            channels: vec![16, 16, 8, 8],
            latent_dim: 16,
            style_dim: 16,
            n_mlp: 2,
            lr_mlp: 0.01,
            variant,
            upsample: Upsample::Bilinear,
            residual: false,
        }
    }

    /// 256 px, lean enough to train on a 2-core CPU. Widths chosen by measured step time
    /// (batch 4, G + D, burn-flex, 2 shared cores): {…,16,16,12} 6.7 s, {…,32,16,16,8} 4.4 s,
    /// this one 3.0 s; burn-flex's conv input-gradient at 128² and 256² dominates. With the
    /// input skip ([`Config::residual`]): at these widths the decoder cannot redraw a whole face
    /// as sharp as its input, but it can learn what to change.
    pub fn small256(variant: Variant) -> Self {
        Self {
            size: 256,
            channels: vec![128, 128, 64, 32, 16, 8, 8],
            latent_dim: 128,
            style_dim: 128,
            n_mlp: 3,
            lr_mlp: 0.01,
            variant,
            upsample: Upsample::Bilinear,
            residual: true,
        }
    }

    /// The official widths at 512 (paper Sec. 3.1): {4..64: 512, 128: 256, 256: 128, 512: 64}.
    pub fn paper512(variant: Variant) -> Self {
        Self {
            size: 512,
            channels: vec![512, 512, 512, 512, 512, 256, 128, 64],
            latent_dim: 256,
            style_dim: 512,
            n_mlp: 3,
            lr_mlp: 0.01,
            variant,
            upsample: Upsample::Bilinear,
            residual: false,
        }
    }

    /// A preset by name: `tiny`, `small256` or `paper512`.
    pub fn preset(name: &str, variant: Variant) -> Result<Self, ModelError> {
        match name {
            "tiny" => Ok(Self::tiny(variant)),
            "small256" => Ok(Self::small256(variant)),
            "paper512" => Ok(Self::paper512(variant)),
            other => Err(ModelError::UnknownName {
                what: "preset",
                found: other.to_owned(),
                expected: "tiny, small256, paper512",
            }),
        }
    }

    /// Checks that the channel table covers 4² … `size`².
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.size < 8 || !self.size.is_power_of_two() {
            return Err(ModelError::BadConfig(format!(
                "size must be a power of two >= 8, found {}",
                self.size
            )));
        }
        let expected = self.num_resolutions();
        if self.channels.len() != expected || self.channels.contains(&0) {
            return Err(ModelError::BadConfig(format!(
                "channels must list {expected} non-zero widths (4 to {} px), found {:?}",
                self.size, self.channels
            )));
        }
        if self.latent_dim == 0 || self.style_dim == 0 || self.n_mlp == 0 {
            return Err(ModelError::BadConfig(
                "latent_dim, style_dim and n_mlp must be non-zero".into(),
            ));
        }
        Ok(())
    }

    /// Number of resolutions 4, 8, …, `size`.
    pub fn num_resolutions(&self) -> usize {
        (self.size.trailing_zeros() - 1) as usize
    }

    /// Width at resolution index `i` (resolution `4 · 2^i`).
    pub fn ch(&self, i: usize) -> usize {
        self.channels[i]
    }
}

/// Errors of model construction and use.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown {what} {found:?}; expected one of: {expected}")]
    UnknownName {
        what: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("bad model config: {0}")]
    BadConfig(String),
    #[error("the {variant} generator {problem}")]
    RenderInput {
        variant: &'static str,
        problem: &'static str,
    },
    #[error("input {name} has shape {found:?}, expected {expected}")]
    InputShape {
        name: &'static str,
        found: Vec<usize>,
        expected: String,
    },
}
