//! Training losses (paper Sec. 3.3; StyleGAN2): L1 reconstruction, the non-saturating logistic
//! adversarial loss in softplus form, and the R1 penalty of the discriminator.
//!
//! burn 0.22's autodiff is first order only, so the R1 penalty `‖∇_x D(x)‖²` cannot be
//! back-propagated exactly (that needs a gradient of a gradient). We use its directional
//! finite-difference estimate: for `v ~ N(0, I)`, `E[(∇D·v)²] = ‖∇D‖²` and
//! `∇D·v ≈ (D(x + εv) − D(x)) / ε`, which needs only one more forward pass of D and plain
//! first-order gradients. D is piecewise linear (leaky ReLU), so for small ε the quotient is
//! exact almost everywhere; the estimate is unbiased but noisier than the exact penalty.

use burn::prelude::*;
use burn::tensor::activation::softplus;

/// Mean absolute error.
pub fn l1(fake: Tensor<4>, real: Tensor<4>) -> Tensor<1> {
    (fake - real).abs().mean()
}

/// Generator: `softplus(−D(G(x)))`, averaged.
pub fn g_nonsaturating(fake_logits: Tensor<2>) -> Tensor<1> {
    softplus(fake_logits.neg(), 1.0).mean()
}

/// Discriminator: `softplus(D(fake)) + softplus(−D(real))`, averaged.
pub fn d_logistic(fake_logits: Tensor<2>, real_logits: Tensor<2>) -> Tensor<1> {
    softplus(fake_logits, 1.0).mean() + softplus(real_logits.neg(), 1.0).mean()
}

/// Step used for the finite-difference R1 estimate (images are in [-1, 1]).
pub const R1_FD_STEP: f64 = 1e-2;

/// `mean_n ((D(x + εv) − D(x)) / ε)²`: the directional estimate of `‖∇_x D(x)‖²`.
pub fn r1_finite_difference(perturbed_logits: Tensor<2>, real_logits: Tensor<2>) -> Tensor<1> {
    (perturbed_logits - real_logits)
        .div_scalar(R1_FD_STEP)
        .square()
        .mean()
}
