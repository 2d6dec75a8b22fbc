//! The identity-preserving loss: restored and target faces should give the same dlib
//! descriptor.

use burn::prelude::*;

use super::chips::identity_chips;
use super::resnet::IdentityNet;

/// Guards the norms of the cosine (a descriptor is never near zero in practice: dlib's have
/// norms of about 1.4).
const NORM_EPS: f32 = 1e-6;

/// Mean over the batch of `1 − cos(d(restored), d(target))`, with `d` the dlib descriptor of
/// the face's fixed chip ([`identity_chips`]). Faces are aligned `sgpn` crops in [-1, 1],
/// [N, 3, S, S]; the target is detached, so only the restored faces get a gradient.
pub fn identity_loss(net: &IdentityNet, restored: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let n = restored.dims()[0];
    let a = net.forward(identity_chips(restored));
    let b = net.forward(identity_chips(target.detach()));
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let norms = a.square().sum_dim(1).sqrt() * b.square().sum_dim(1).sqrt();
    let cosine = dot / norms.clamp_min(NORM_EPS);
    cosine.neg().add_scalar(1.0).reshape([n]).mean()
}
