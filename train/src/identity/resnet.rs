//! dlib's face-recognition ResNet as a burn module, frozen, for an identity loss that
//! differentiates with respect to the input face.
//!
//! The forward pass is dlib's `anet_type` (examples/dnn_face_recognition_ex.cpp) without its
//! loss layer (`loss_metric` returns the fc output unchanged): 7×7/2 conv, affine, relu,
//! 3×3/2 max-pool, 14 residual units ([`BLOCKS`]), average over the remaining 2×2, fc to 128.
//! dlib's conventions that matter here (dlib/dnn/layers.h, dlib/cuda/cpu_dlib.cpp):
//! - conv and pooling padding default to `stride != 1 ? 0 : size/2`, output size
//!   `1 + (in + 2·pad − size) / stride`: every strided layer is unpadded, so a unit that
//!   downsamples 4×4 gets 1×1 from its conv and 2×2 from its 2×2 average pool;
//! - `add_prev` of two tensors of different shapes gives the larger of each dimension and sums
//!   the overlap, top-left aligned (zeros elsewhere): this is how the 32 → 64 channel units
//!   and the 3×3 + 4×4 and 1×1 + 2×2 additions of the last two levels work.
//!
//! Each `affine_` layer (`γ·x + β` per channel, dlib's inference form of batch norm) is folded
//! into the conv before it: the network is never trained here.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode};

use super::dlib_format::{BLOCKS, ConvAffine, DlibFormatError, DlibResnet, read_dlib_resnet};

/// A convolution with its affine layer folded in.
#[derive(Module, Debug)]
pub struct FoldedConv {
    /// [out, in, k, k].
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    pub stride: usize,
    pub padding: usize,
}

impl FoldedConv {
    fn new(c: &ConvAffine, device: &Device) -> Self {
        let per_filter = c.in_channels * c.kernel * c.kernel;
        let weight: Vec<f32> = c
            .weight
            .chunks_exact(per_filter)
            .zip(&c.gamma)
            .flat_map(|(w, g)| w.iter().map(move |v| v * g))
            .collect();
        let bias: Vec<f32> = (0..c.out_channels)
            .map(|o| c.gamma[o] * c.bias[o] + c.beta[o])
            .collect();
        let shape = [c.out_channels, c.in_channels, c.kernel, c.kernel];
        Self {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, shape), device)),
            bias: Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [c.out_channels]),
                device,
            )),
            stride: c.stride,
            padding: c.padding,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight.val(),
            Some(self.bias.val()),
            ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1),
        )
    }
}

/// dlib's `ares` / `ares_down` unit: `relu(add_prev(block(x), x))`, where `block` is
/// conv–affine–relu–conv–affine and the skip of a downsampling unit is a 2×2/2 average pool.
#[derive(Module, Debug)]
pub struct ResidualUnit {
    pub first: FoldedConv,
    pub second: FoldedConv,
    pub down: bool,
}

impl ResidualUnit {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.second.forward(relu(self.first.forward(x.clone())));
        let skip = if self.down {
            avg_pool2d(x, AvgPoolOptions::new([2, 2]).with_stride([2, 2]))
        } else {
            x
        };
        relu(add_prev(y, skip))
    }
}

/// dlib's `add_prev`: the sum over the larger shape, each input zero-extended at the end of
/// its channel, row and column dimensions.
fn add_prev(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let [_, ca, ha, wa] = a.dims();
    let [_, cb, hb, wb] = b.dims();
    let target = [ca.max(cb), ha.max(hb), wa.max(wb)];
    extend(a, target) + extend(b, target)
}

fn extend(t: Tensor<4>, [c, h, w]: [usize; 3]) -> Tensor<4> {
    let [_, tc, th, tw] = t.dims();
    if [tc, th, tw] == [c, h, w] {
        return t;
    }
    t.pad(
        [(0, c - tc), (0, h - th), (0, w - tw)],
        PadMode::Constant(0.0),
    )
}

/// dlib's face-recognition ResNet: a 150×150 face chip in, normalised as dlib's input layer
/// does ([`super::chips::dlib_input`]), a 128-d descriptor out (dlib compares descriptors by
/// Euclidean distance, 0.6 being its same-person threshold).
#[derive(Module, Debug)]
pub struct IdentityNet {
    pub stem: FoldedConv,
    pub units: Vec<ResidualUnit>,
    /// [256, 128]: `descriptor = pooled · fc` (dlib's `fc_no_bias`).
    pub fc: Param<Tensor<2>>,
}

impl IdentityNet {
    /// Reads dlib's model file (`dlib_face_recognition_resnet_model_v1.dat`) onto `device`,
    /// frozen: gradients flow to the input only.
    pub fn load(path: &Path, device: &Device) -> Result<Self, DlibFormatError> {
        Ok(Self::from_dlib(&read_dlib_resnet(path)?, device))
    }

    /// The module for parameters as [`read_dlib_resnet`] returns them, frozen.
    pub fn from_dlib(net: &DlibResnet, device: &Device) -> Self {
        let stem = FoldedConv::new(&net.convs[0], device);
        let units = BLOCKS
            .iter()
            .zip(net.convs[1..].chunks_exact(2))
            .map(|(&(_, down), pair)| ResidualUnit {
                first: FoldedConv::new(&pair[0], device),
                second: FoldedConv::new(&pair[1], device),
                down,
            })
            .collect();
        let outputs = super::dlib_format::DESCRIPTOR_DIM;
        let fc = Tensor::from_data(
            TensorData::new(net.fc.clone(), [net.fc.len() / outputs, outputs]),
            device,
        );
        Self {
            stem,
            units,
            fc: Param::from_tensor(fc),
        }
        .freeze()
    }

    /// `x`: [N, 3, 150, 150] dlib-normalised chips; returns [N, 128] descriptors.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stem.forward(x));
        let mut x = max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]));
        for unit in &self.units {
            x = unit.forward(x);
        }
        let [n, c, _, _] = x.dims();
        x.mean_dims(&[2, 3]).reshape([n, c]).matmul(self.fc.val())
    }
}
