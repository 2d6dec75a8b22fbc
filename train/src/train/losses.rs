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

/// Floor of [`input_relative_l1`]'s denominator in the [-1, 1] scale (about 1.3 grey levels), so
/// that a nearly clean input does not get an unbounded weight.
pub const RELATIVE_L1_FLOOR: f64 = 0.01;

/// Each face's mean absolute error divided by its input's own (`lq` against `real`, plus
/// [`RELATIVE_L1_FLOOR`]), averaged over the batch: 1 for a network that returns its input, and
/// each face counts by how much of its input's error the network removes or adds. A plain L1 is
/// ruled by the heavily degraded faces, whose errors are ten times a mild face's, and lets the
/// network trade a loss on mild faces for a gain on heavy ones; the PSNR gain a user sees,
/// `10·log10(MSE_bicubic / MSE_restored)`, is a ratio per face, as this loss is.
pub fn input_relative_l1(fake: Tensor<4>, real: Tensor<4>, lq: Tensor<4>) -> Tensor<1> {
    let n = fake.dims()[0];
    let per_face = |x: Tensor<4>| x.abs().reshape([n as i32, -1]).mean_dim(1);
    let own = per_face(fake - real.clone());
    let input = per_face(lq - real).add_scalar(RELATIVE_L1_FLOOR).detach();
    (own / input).mean()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn faces(values: &[f32]) -> Tensor<4> {
        let n = values.len();
        let data: Vec<f32> = values.iter().flat_map(|v| [*v; 12]).collect();
        Tensor::from_data(TensorData::new(data, [n, 3, 2, 2]), &Device::flex())
    }

    /// The input scores 1 whatever its degradation; halving every face's error scores about
    /// 0.5 (the floor keeps it a little lower); a mild face counts as much as a heavy one.
    #[test]
    fn the_input_scores_one_and_each_face_counts_by_its_own_error() {
        let real = faces(&[0.0, 0.0]);
        let lq = faces(&[0.02, 0.4]);
        let score = |fake: &[f32]| -> f32 {
            input_relative_l1(faces(fake), real.clone(), lq.clone()).into_scalar()
        };
        let identity = score(&[0.02, 0.4]);
        let expected = 0.5 * (0.02 / 0.03 + 0.4 / 0.41);
        assert!((identity - expected as f32).abs() < 1e-6, "{identity}");
        let halved = score(&[0.01, 0.2]);
        assert!((halved - identity / 2.0).abs() < 1e-6, "{halved}");
        // Doubling the mild face's error costs as much as doubling the heavy one's.
        let (mild_worse, heavy_worse) = (score(&[0.04, 0.4]), score(&[0.02, 0.8]));
        assert!(mild_worse > identity && heavy_worse > identity);
        assert!((mild_worse - identity) / (heavy_worse - identity) > 0.6);
    }
}
