//! What the discriminator sees of an image, real or restored: optionally without its mean
//! colour, shifted (DiffAugment's translation; Zhao et al., NeurIPS 2020) and with instance noise
//! (Sønderby et al. 2016; Arjovsky & Bottou 2017). Real and restored faces get transforms drawn
//! from the same distribution, so the discriminator cannot tell them apart by the transform.
//! Every transform only moves, shifts or adds to pixels, so the generator's adversarial gradient
//! passes through.
//!
//! Why (session 7, `docs/realism.md`): a discriminator warmed up against the frozen small256
//! generator separates its faces perfectly (D loss 0.02), but one generator step of L1 alone
//! reverses its verdict. That step moves the whole output by about +6, −3.6 and +3.1 grey levels
//! in R, G and B (the same cast on every face), and 1.4 levels elsewhere. The discriminator had
//! learned the colour cast of that moment. Each transform takes away one kind of cue of that
//! sort. None of them, alone, kept the discriminator separating once the generator trained.

use burn::prelude::*;
use burn::tensor::ops::PadMode;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::trainer::TrainConfig;
use crate::model::init::normal_vec;

/// The transforms a run's discriminator inputs get (all off by default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscriminatorView {
    /// Subtract each image's mean colour, per channel: global colour is left to the L1 loss.
    pub centre_colour: bool,
    /// Largest shift as a fraction of the size (DiffAugment: 1/8); 0: no shift.
    pub translation: f64,
    /// Standard deviation of the Gaussian noise added, in the [-1, 1] scale; 0: none.
    pub noise: f64,
}

impl DiscriminatorView {
    pub fn of(train: &TrainConfig) -> Self {
        Self {
            centre_colour: train.d_centre_colour,
            translation: train.d_translation,
            noise: train.d_input_noise,
        }
    }

    /// `x` [N, C, H, W] as the discriminator sees it; random draws come from `rng`.
    pub fn apply(&self, x: Tensor<4>, rng: &mut ChaCha8Rng) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let x = if self.centre_colour {
            centre_colour(x)
        } else {
            x
        };
        let x = if self.translation > 0.0 {
            let shifts = draw_shifts(rng, n, max_shift(h, self.translation));
            translate(x, &shifts)
        } else {
            x
        };
        if self.noise <= 0.0 {
            return x;
        }
        let noise = Tensor::from_data(
            TensorData::new(normal_vec(rng, n * c * h * w), [n, c, h, w]),
            &x.device(),
        );
        x + noise.mul_scalar(self.noise)
    }
}

/// Each image minus its own mean, per channel.
pub fn centre_colour(x: Tensor<4>) -> Tensor<4> {
    let mean = x.clone().mean_dim(3).mean_dim(2);
    x - mean
}

/// The largest shift for images of `size` px when shifts reach `fraction` of the size
/// (DiffAugment: 1/8), rounded to whole pixels.
pub fn max_shift(size: usize, fraction: f64) -> usize {
    (size as f64 * fraction).round() as usize
}

/// One `(dy, dx)` per image, each in `−max ..= max`.
pub fn draw_shifts(rng: &mut impl Rng, n: usize, max: usize) -> Vec<(i64, i64)> {
    let m = max as i64;
    (0..n)
        .map(|_| (rng.random_range(-m..=m), rng.random_range(-m..=m)))
        .collect()
}

/// Image `i` of `x` [N, C, H, W] moved down by `shifts[i].0` and right by `shifts[i].1`
/// pixels (negative: up, left); what enters from outside is 0 (mid-grey in [-1, 1]).
pub fn translate(x: Tensor<4>, shifts: &[(i64, i64)]) -> Tensor<4> {
    let [n, _, h, w] = x.dims();
    assert_eq!(shifts.len(), n, "one shift per image");
    let m = shifts
        .iter()
        .map(|&(dy, dx)| dy.unsigned_abs().max(dx.unsigned_abs()) as usize)
        .max()
        .unwrap_or(0);
    if m == 0 {
        return x;
    }
    let padded = x.pad((m, m, m, m), PadMode::Constant(0.0));
    let moved = shifts
        .iter()
        .enumerate()
        .map(|(i, &(dy, dx))| {
            // Output pixel y reads input pixel y − dy, i.e. padded row m + y − dy.
            let top = (m as i64 - dy) as usize;
            let left = (m as i64 - dx) as usize;
            padded
                .clone()
                .slice([i..i + 1, 0..padded.dims()[1], top..top + h, left..left + w])
        })
        .collect();
    Tensor::cat(moved, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
        let v: Vec<f32> = (0..n * 2 * h * w).map(|i| 1.0 + i as f32).collect();
        Tensor::from_data(TensorData::new(v, [n, 2, h, w]), device)
    }

    /// Each image moves by its own shift, zeros fill what enters, nothing else changes.
    #[test]
    fn each_image_moves_by_its_own_shift() {
        let device = Device::default();
        let (h, w) = (5, 6);
        let x = ramp(3, h, w, &device);
        let shifts = [(0, 0), (2, -1), (-3, 4)];
        let y = translate(x.clone(), &shifts);
        assert_eq!(y.dims(), [3, 2, h, w]);
        let xs = x.into_data().try_to_vec::<f32>().unwrap();
        let ys = y.into_data().try_to_vec::<f32>().unwrap();
        let at =
            |v: &[f32], i: usize, c: usize, r: usize, q: usize| v[((i * 2 + c) * h + r) * w + q];
        for (i, &(dy, dx)) in shifts.iter().enumerate() {
            for c in 0..2 {
                for r in 0..h {
                    for q in 0..w {
                        let (sr, sq) = (r as i64 - dy, q as i64 - dx);
                        let expected = if (0..h as i64).contains(&sr) && (0..w as i64).contains(&sq)
                        {
                            at(&xs, i, c, sr as usize, sq as usize)
                        } else {
                            0.0
                        };
                        assert_eq!(
                            at(&ys, i, c, r, q),
                            expected,
                            "image {i} ({dy},{dx}) c{c} y{r} x{q}"
                        );
                    }
                }
            }
        }
    }

    /// The shift passes gradients back to the pixels it keeps (the generator trains through
    /// it), and none to the pixels it pushes out.
    #[test]
    fn gradients_flow_through_the_shift() {
        let device = crate::train::training_device();
        let x = ramp(1, 4, 4, &device).require_grad();
        let grads = translate(x.clone(), &[(1, 0)]).sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for c in 0..2 {
            for r in 0..4 {
                for q in 0..4 {
                    let expected = if r < 3 { 1.0 } else { 0.0 };
                    assert_eq!(g[(c * 4 + r) * 4 + q], expected);
                }
            }
        }
    }

    #[test]
    fn centring_removes_each_images_mean_colour_only() {
        let device = Device::default();
        let x = ramp(2, 3, 4, &device);
        let y = centre_colour(x.clone());
        let means = y.clone().mean_dim(3).mean_dim(2).into_data();
        for m in means.try_to_vec::<f32>().unwrap() {
            assert!(m.abs() < 1e-4, "{m}");
        }
        // What is left is the image's own variation around its mean.
        let d = (x.clone() - x.mean_dim(3).mean_dim(2)) - y;
        assert!(d.abs().max().into_scalar::<f32>() < 1e-5);
    }

    /// All off: the discriminator sees the image itself, and no random draw is spent.
    #[test]
    fn the_default_view_is_the_image() {
        let device = Device::default();
        let x = ramp(2, 4, 4, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let view = DiscriminatorView::of(&TrainConfig::default());
        let y = view.apply(x.clone(), &mut rng);
        assert!((y - x).abs().max().into_scalar::<f32>() == 0.0);
        assert_eq!(
            rng.get_word_pos(),
            ChaCha8Rng::seed_from_u64(1).get_word_pos()
        );
    }

    #[test]
    fn noise_has_the_asked_spread() {
        let device = Device::default();
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let view = DiscriminatorView {
            centre_colour: false,
            translation: 0.0,
            noise: 0.05,
        };
        let y = view.apply(x, &mut rng);
        let sd = y.square().mean().into_scalar::<f32>().sqrt();
        assert!((sd - 0.05).abs() < 0.002, "{sd}");
    }

    #[test]
    fn shifts_stay_within_the_bound() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(max_shift(256, 0.125), 32);
        let s = draw_shifts(&mut rng, 400, 32);
        assert!(s.iter().all(|&(dy, dx)| dy.abs() <= 32 && dx.abs() <= 32));
        assert!(s.iter().any(|&(dy, _)| dy == 32) && s.iter().any(|&(_, dx)| dx == -32));
    }
}
