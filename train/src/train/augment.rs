//! Random translation of the discriminator's inputs: DiffAugment's translation policy (Zhao et
//! al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020).
//!
//! Why: a discriminator warmed up against the frozen small256 generator separates real from
//! restored faces (D loss 1.0 → 0.5 within 60 steps), yet generator updates as small as lr 1e-4,
//! with the adversarial weight still near 0, return it to chance within a dozen steps
//! (`docs/realism.md`). It keys on traits tied to one generator's exact pixels, such as where
//! its nearest-neighbour blocks and centre seam sit, rather than on what makes a face look
//! real. Seeing every image at a random offset takes away that positional cue. The shift moves
//! pixels and nothing else, so the generator's adversarial gradient passes through it, and real
//! and restored faces are shifted alike, so the discriminator cannot tell them apart by the
//! shift itself.

use burn::prelude::*;
use burn::tensor::ops::PadMode;
use rand::Rng;

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
        let g = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
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
    fn shifts_stay_within_the_bound() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        assert_eq!(max_shift(256, 0.125), 32);
        let s = draw_shifts(&mut rng, 400, 32);
        assert!(s.iter().all(|&(dy, dx)| dy.abs() <= 32 && dx.abs() <= 32));
        assert!(s.iter().any(|&(dy, _)| dy == 32) && s.iter().any(|&(_, dx)| dx == -32));
    }
}
