//! The ResNet building blocks as torchvision writes them (`torchvision.models.resnet`, the
//! backbone Deep3DFaceRecon's `ReconNetWrapper` uses): a bias-free convolution followed by
//! BatchNorm, and the residual block in its BasicBlock (ResNet-18/34) and Bottleneck
//! (ResNet-50, "v1.5": the stride sits on the 3×3 conv) forms.

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use crate::model::init::ParamInit;

/// Which residual block a ResNet stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Two 3×3 convs (ResNet-18/34).
    Basic,
    /// 1×1 reduce, 3×3, 1×1 expand by 4 (ResNet-50/101/152).
    Bottleneck,
}

impl BlockKind {
    /// Output channels per unit of block width (torchvision's `expansion`).
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// `BatchNorm(Conv(x))`, the conv without bias (BatchNorm's β takes that role), "same" padding.
/// The ONNX export folds the BatchNorm's eval-mode affine into the conv's weight and bias.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// [out, in, k, k].
    pub weight: Param<Tensor<4>>,
    pub bn: BatchNorm,
    pub stride: usize,
}

impl ConvBn {
    /// Weights as torchvision's `kaiming_normal_(mode="fan_out", nonlinearity="relu")`:
    /// N(0, 2 / (out · k²)); BatchNorm γ = 1, β = 0, momentum 0.1, ε = 1e-5 (PyTorch's defaults,
    /// which burn's match).
    pub fn new(
        init: &mut ParamInit,
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        stride: usize,
    ) -> Self {
        let std = (2.0 / (out_ch * kernel * kernel) as f64).sqrt() as f32;
        Self {
            weight: init.normal([out_ch, in_ch, kernel, kernel], std),
            bn: BatchNormConfig::new(out_ch).init(init.device()),
            stride,
        }
    }

    /// `k / 2`: "same" padding for the odd kernels used (1, 3, 7).
    pub fn padding(&self) -> usize {
        self.weight.dims()[2] / 2
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Batch statistics (updating the running ones) on an autodiff device in training mode,
    /// the running statistics otherwise (burn's `BatchNorm`, as PyTorch's `train()`/`eval()`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.padding();
        let options = ConvOptions::new([self.stride; 2], [p, p], [1, 1], 1);
        self.bn.forward(conv2d(x, self.weight.val(), None, options))
    }

    /// The conv weight and bias that equal this layer in eval mode: with
    /// `s = γ / sqrt(running_var + ε)`, `W' = W · s` per output channel, `b' = β − mean · s`.
    pub fn folded(&self) -> (Tensor<4>, Tensor<1>) {
        let bn = &self.bn;
        let scale = bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt();
        let c = self.out_channels();
        let weight = self.weight.val() * scale.clone().reshape([c, 1, 1, 1]);
        let bias = bn.beta.val() - bn.running_mean.value() * scale;
        (weight, bias)
    }
}

/// One residual block: `relu(convs(x) + shortcut(x))` with ReLU between the convs and
/// `shortcut` = a strided 1×1 `ConvBn` where the shape changes (torchvision's `downsample`),
/// the identity otherwise.
#[derive(Module, Debug)]
pub struct ResBlock {
    /// Basic: [3×3 stride s, 3×3]; Bottleneck: [1×1, 3×3 stride s, 1×1 → 4·width].
    pub convs: Vec<ConvBn>,
    pub downsample: Option<ConvBn>,
}

impl ResBlock {
    pub fn new(
        init: &mut ParamInit,
        kind: BlockKind,
        in_ch: usize,
        width: usize,
        stride: usize,
    ) -> Self {
        let out_ch = width * kind.expansion();
        let convs = match kind {
            BlockKind::Basic => vec![
                ConvBn::new(init, in_ch, width, 3, stride),
                ConvBn::new(init, width, width, 3, 1),
            ],
            BlockKind::Bottleneck => vec![
                ConvBn::new(init, in_ch, width, 1, 1),
                ConvBn::new(init, width, width, 3, stride),
                ConvBn::new(init, width, out_ch, 1, 1),
            ],
        };
        let downsample =
            (stride != 1 || in_ch != out_ch).then(|| ConvBn::new(init, in_ch, out_ch, 1, stride));
        Self { convs, downsample }
    }

    pub fn out_channels(&self) -> usize {
        self.convs.last().map_or(0, ConvBn::out_channels)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let last = self.convs.len() - 1;
        let mut y = x;
        for (i, conv) in self.convs.iter().enumerate() {
            y = conv.forward(y);
            if i < last {
                y = relu(y);
            }
        }
        relu(y + shortcut)
    }
}
