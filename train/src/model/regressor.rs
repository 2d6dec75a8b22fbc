//! The shape restoration module's regressor (paper Sec. 3.1): a ResNet
//! from the aligned face, resized to 224×224, to the 3DMM coefficients `z_3d` in
//! Deep3DFaceRecon's order (docs/shape-prior.md). D3DFR uses torchvision's ResNet-50 with its
//! final linear layer replaced by one to 257 values; this is that network with the depth,
//! widths and K from a [`RegressorConfig`].
//!
//! Stem conv 7×7 stride 2 + BatchNorm + ReLU + max-pool 3×3 stride 2, four (or fewer) stages of
//! residual blocks ([`block`]), global average pool, linear to K. The input is the project's
//! [-1, 1] RGB (no ImageNet normalisation layer: the network is trained on that range).

pub mod block;
pub mod checkpoint;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use serde::{Deserialize, Serialize};

pub use block::{BlockKind, ConvBn, ResBlock};

use super::ModelError;
use super::init::ParamInit;

/// Side of the regressor's input face in pixels (D3DFR's 224 view, docs/shape-prior.md), as
/// the runtime contract (`sgpn_models::shape_regressor`) checks it.
pub const REGRESSOR_SIZE: usize = sgpn_models::shape_regressor::INPUT_SIZE;
/// Stem max-pool: 3×3, stride 2, padding 1 (torchvision).
pub const STEM_POOL_KERNEL: usize = 3;
pub const STEM_POOL_STRIDE: usize = 2;
pub const STEM_POOL_PAD: usize = 1;

/// ResNet sizes. Stage `i` stacks `depths[i]` blocks of width `widths[i]` (output
/// `widths[i] · expansion` channels); every stage after the first starts with stride 2. The
/// output count K is not part of it: it comes from the 3DMM at run time
/// ([`ShapeRegressor::new`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressorConfig {
    pub block: BlockKind,
    /// Channels of the 7×7 stem conv (64 in torchvision).
    pub stem_width: usize,
    pub widths: Vec<usize>,
    pub depths: Vec<usize>,
}

impl RegressorConfig {
    /// For tests: two narrow BasicBlock stages (input still 224).
    pub fn tiny() -> Self {
        Self {
            block: BlockKind::Basic,
            stem_width: 8,
            widths: vec![8, 16],
            depths: vec![1, 1],
        }
    }

    /// A narrow ResNet-18 (BasicBlocks [2, 2, 2, 2]) for CPU training next to the small256
    /// generator. Forward + backward at batch 4, K = 257, burn flex, release, 2 shared cores
    /// (median of 5): widths 16/32/64/128 0.14 s, 24/…/192 0.11 s, this one 0.17 s (2.9 M
    /// parameters), full ResNet-18 widths 64/…/512 0.50 s (11.3 M). The generator's step
    /// (~3 s) dominates either way; these widths keep the regressor a small share of it.
    pub fn small256() -> Self {
        Self {
            block: BlockKind::Basic,
            stem_width: 32,
            widths: vec![32, 64, 128, 256],
            depths: vec![2, 2, 2, 2],
        }
    }

    /// torchvision's ResNet-50 (Bottleneck [3, 4, 6, 3], widths 64..512 → 256..2048 channels),
    /// D3DFR's backbone.
    pub fn paper512() -> Self {
        Self {
            block: BlockKind::Bottleneck,
            stem_width: 64,
            widths: vec![64, 128, 256, 512],
            depths: vec![3, 4, 6, 3],
        }
    }

    /// A preset by name: `tiny`, `small256` or `paper512`.
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small256" => Ok(Self::small256()),
            "paper512" => Ok(Self::paper512()),
            other => Err(ModelError::UnknownName {
                what: "regressor preset",
                found: other.to_owned(),
                expected: "tiny, small256, paper512",
            }),
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if self.widths.is_empty() || self.widths.len() != self.depths.len() {
            return Err(ModelError::BadConfig(format!(
                "regressor widths {:?} and depths {:?} must list the same, non-zero number of stages",
                self.widths, self.depths
            )));
        }
        if self.stem_width == 0 || self.widths.contains(&0) || self.depths.contains(&0) {
            return Err(ModelError::BadConfig(format!(
                "regressor stem width, widths and depths must be non-zero: {self:?}"
            )));
        }
        Ok(())
    }

    /// Channels entering the final linear layer.
    pub fn feature_channels(&self) -> usize {
        self.widths.last().copied().unwrap_or(0) * self.block.expansion()
    }
}

#[derive(Module, Debug)]
pub struct ShapeRegressor {
    /// 7×7 stride-2 conv + BatchNorm (ReLU and max-pool follow).
    pub stem: ConvBn,
    /// All residual blocks, stage after stage.
    pub blocks: Vec<ResBlock>,
    /// Final linear layer (torchvision `fc`), [features, K]: `coeffs = pooled · W + b`.
    pub fc_weight: Param<Tensor<2>>,
    pub fc_bias: Param<Tensor<1>>,
    #[module(skip)]
    pub config: RegressorConfig,
}

impl ShapeRegressor {
    /// A regressor to `coefficients` values (K, `MorphableModel::coefficient_count`, 257 for
    /// BFM09), initial weights drawn from `seed`. The final layer starts at zero (D3DFR's
    /// `ReconNetWrapper` zero-initialises its last layer too), so an untrained regressor
    /// predicts all-zero coefficients: the mean face at the initial pose, until
    /// [`ShapeRegressor::set_output_bias`] says otherwise.
    pub fn new(
        cfg: &RegressorConfig,
        coefficients: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        cfg.validate()?;
        if coefficients == 0 {
            return Err(ModelError::BadConfig(
                "a regressor needs at least one output coefficient".into(),
            ));
        }
        let mut init = ParamInit::new(seed, device);
        let stem = ConvBn::new(&mut init, 3, cfg.stem_width, 7, 2);
        let mut blocks = Vec::new();
        let mut in_ch = cfg.stem_width;
        for (stage, (&width, &depth)) in cfg.widths.iter().zip(&cfg.depths).enumerate() {
            for i in 0..depth {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = ResBlock::new(&mut init, cfg.block, in_ch, width, stride);
                in_ch = block.out_channels();
                blocks.push(block);
            }
        }
        let k = coefficients;
        Ok(Self {
            stem,
            blocks,
            fc_weight: init.constant([in_ch, k], 0.0),
            fc_bias: init.constant([k], 0.0),
            config: cfg.clone(),
        })
    }

    /// K, the number of coefficients per face.
    pub fn coefficients(&self) -> usize {
        self.fc_bias.dims()[0]
    }

    /// Sets the final layer's bias (the prediction of an untrained regressor), e.g. a
    /// translation or pose that puts the mean face where the aligned faces are. Keeps the
    /// parameter's id, so an optimizer already tracking it continues.
    pub fn set_output_bias(&mut self, bias: &[f32]) -> Result<(), ModelError> {
        let k = self.coefficients();
        if bias.len() != k {
            return Err(ModelError::BadConfig(format!(
                "output bias has {} values, the regressor predicts {k} coefficients",
                bias.len()
            )));
        }
        let id = self.fc_bias.id;
        let device = self.fc_bias.val().device();
        let mut param = Param::from_tensor(Tensor::from_data(
            TensorData::new(bias.to_vec(), [k]),
            &device,
        ));
        param.id = id;
        self.fc_bias = param;
        Ok(())
    }

    /// `face` [N, 3, 224, 224] RGB in [-1, 1] → coefficients [N, K]. On an autodiff device the
    /// BatchNorms use (and update) batch statistics unless the module is `valid()`/frozen;
    /// elsewhere the running statistics, which is what the ONNX export computes.
    pub fn forward(&self, face: Tensor<4>) -> Result<Tensor<2>, ModelError> {
        let [n, c, h, w] = face.dims();
        if n == 0 || c != 3 || h != REGRESSOR_SIZE || w != REGRESSOR_SIZE {
            return Err(ModelError::InputShape {
                name: "face",
                found: face.dims().to_vec(),
                expected: format!("[N >= 1, 3, {REGRESSOR_SIZE}, {REGRESSOR_SIZE}]"),
            });
        }
        let x = relu(self.stem.forward(face));
        let mut x = max_pool2d(
            x,
            MaxPoolOptions::new([STEM_POOL_KERNEL; 2])
                .with_stride([STEM_POOL_STRIDE; 2])
                .with_padding([STEM_POOL_PAD; 2]),
        );
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [n, ch, _, _] = x.dims();
        // Global average pool (torchvision's AdaptiveAvgPool2d((1, 1)) + flatten).
        let pooled = x.mean_dim(3).mean_dim(2).reshape([n, ch]);
        let k = self.coefficients();
        Ok(pooled.matmul(self.fc_weight.val()) + self.fc_bias.val().reshape([1, k]))
    }
}
