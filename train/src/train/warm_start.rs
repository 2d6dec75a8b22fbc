//! Starting a full-variant run from a trained no3d (variant A) run: the comparison of the
//! paper's ablation (Sec. 4.3) at the same budget, when training from scratch twice is out of
//! reach. Everything the two variants share is copied; what the 3D branch adds starts at zero:
//!
//! - the AFFB mask convolutions take `[F_inter, F_lq, F_3d]` instead of `[F_inter, F_lq]`, and
//!   the first mapping layer `[z_lq, z_3d]` instead of `z_lq`: the trained weights fill the
//!   leading input columns (rescaled by `sqrt(new fan-in / old fan-in)`, since equalised-lr
//!   layers divide by the square root of the fan-in at run time; not the mapping layer, which
//!   PixelNorm already compensates), the `F_3d` / `z_3d` columns start at zero;
//! - the discriminator, its optimizer, the step count, the noise stream and the loss history
//!   carry over, so the run sees the same pairs in the same order as the no3d run it is
//!   compared with; the generator's Adam state starts fresh (its shapes changed).
//!
//! The copy alone is not the no3d network: the full AFFB blends `F_lq·M + F_3d·(1−M)` where
//! variant A has `F_lq·M` (see [`crate::model::affb`]), so switching the prior on at once
//! throws the decoder off (L1 0.13 → 0.99 in the first full run). A run therefore fades the 3D
//! branch in (`--fade-in-steps`, [`Generator::forward_with_prior_weight`]): at weight 0 the
//! full network computes exactly what the no3d one does, and the training moves it to the
//! paper's network (weight 1) gradually.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

use super::trainer::FloatParams;
use crate::model::{Config, Generator, Variant};

/// The full generator for `no3d`'s configuration, initialised from `no3d`'s weights.
pub fn full_from_no3d(no3d: &Generator, seed: u64, device: &Device) -> anyhow::Result<Generator> {
    anyhow::ensure!(
        no3d.config.variant == Variant::No3d,
        "the warm start takes a no3d generator, found a {} one",
        no3d.config.variant.as_str()
    );
    let cfg = Config {
        variant: Variant::Full,
        ..no3d.config.clone()
    };
    let full = Generator::new(&cfg, seed, device).map_err(anyhow::Error::from)?;
    let mut trained = FloatParams(Vec::new());
    no3d.visit(&mut trained);
    let mut copy = Widen {
        trained: trained.0.into_iter(),
        error: None,
    };
    let full = full.map(&mut copy);
    if let Some(e) = copy.error {
        anyhow::bail!("warm start from the no3d generator: {e}");
    }
    if copy.trained.next().is_some() {
        anyhow::bail!("warm start: the no3d generator has more parameters than the full one");
    }
    Ok(full)
}

/// Copies each trained parameter into the matching full-variant parameter, widening input
/// columns (axis 1) with zeros where the full network has more.
struct Widen {
    trained: std::vec::IntoIter<(Vec<usize>, Tensor<1>)>,
    error: Option<String>,
}

impl ModuleMapper for Widen {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((shape, value)) = self.trained.next() else {
            self.error
                .get_or_insert_with(|| "the full generator has more parameters".into());
            return param;
        };
        let dims = param.dims();
        if shape == dims {
            return param.map(|p| tracked_like(&p, value.reshape(dims)));
        }
        let widens_inputs = D >= 2
            && shape.len() == D
            && (0..D).all(|a| a == 1 || shape[a] == dims[a])
            && shape[1] < dims[1];
        if !widens_inputs {
            self.error.get_or_insert_with(|| {
                format!("a parameter of shape {dims:?} meets a trained one of shape {shape:?}")
            });
            return param;
        }
        let mut old = [0usize; D];
        old.copy_from_slice(&shape);
        // Equalised-lr layers divide by √fan-in at run time, so widened weights are scaled by
        // √(new/old fan-in) to act as before. Except the mapping's first layer (the only
        // widened 2-D weight): it follows PixelNorm, where the zero `z_3d` half halves the mean
        // square and `z_lq` arrives √2 larger, which cancels the smaller 1/√fan-in exactly.
        let scale = if D == 2 {
            1.0
        } else {
            (dims[1] as f64 / shape[1] as f64).sqrt()
        };
        let trained = value.reshape(old).mul_scalar(scale);
        let mut extra = dims;
        extra[1] = dims[1] - shape[1];
        param.map(|p| {
            let zeros = Tensor::<D>::zeros(extra, &p.device());
            let widened = Tensor::cat(vec![trained.clone(), zeros], 1);
            tracked_like(&p, widened)
        })
    }
}

/// `value` (collected without autodiff) moved onto `like`'s device with `like`'s gradient
/// tracking: without this the copied parameters would be plain tensors on the training device
/// and the optimizer would never see a gradient for them (the first full run trained 506 steps
/// with a frozen generator because of it).
fn tracked_like<const D: usize>(like: &Tensor<D>, value: Tensor<D>) -> Tensor<D> {
    let t = Tensor::from_data(value.into_data(), &like.device());
    if like.is_require_grad() {
        t.require_grad()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Noise;

    /// Inputs that the no3d generator saw are carried over exactly: with the 3D branch's
    /// columns at zero and its encoder features fed a constant, the full network differs from
    /// the no3d one only through the AFFB's `F_3d·(1−M)` term; the trained columns themselves
    /// must be the originals (rescaled where the fan-in grew).
    #[test]
    fn trained_columns_are_copied_and_the_3d_columns_start_at_zero() {
        let device = Device::flex();
        let cfg = Config::tiny(Variant::No3d);
        let no3d = Generator::new(&cfg, 3, &device).unwrap();
        let full = full_from_no3d(&no3d, 9, &device).unwrap();
        let a = no3d.mapping.layers[0].weight.val();
        let b = full.mapping.layers[0].weight.val();
        let [out, inp] = a.dims();
        assert_eq!(b.dims(), [out, 2 * inp]);
        let copied = b.clone().narrow(1, 0, inp);
        let scale: f32 = a.clone().abs().max().into_scalar();
        let diff: f32 = (copied - a).abs().max().into_scalar();
        assert!(
            diff <= 1e-6 * scale,
            "copied columns differ by {diff} (weights up to {scale})"
        );
        let zero: f32 = b.narrow(1, inp, inp).abs().max().into_scalar();
        assert_eq!(zero, 0.0);
        // The decoder's first block is shared unchanged.
        let x = Tensor::<4>::zeros([1, 3, 32, 32], &device);
        let lq_feats_a = no3d.encoder.forward(x.clone());
        let lq_feats_b = full.encoder.forward(x);
        let d: f32 = (lq_feats_a[0].clone() - lq_feats_b[0].clone())
            .abs()
            .max()
            .into_scalar();
        assert_eq!(d, 0.0, "the shared encoder must be copied exactly");
        let out = full
            .forward(
                Tensor::zeros([1, 3, 32, 32], &device),
                Some(Tensor::zeros([1, 3, 32, 32], &device)),
                &mut Noise::Off,
            )
            .unwrap();
        assert_eq!(out.dims(), [1, 3, 32, 32]);
    }

    /// On the training device the warm-started generator's parameters must receive gradients
    /// exactly as a freshly built one's do (noise strengths get none with the noise off), or the
    /// optimizer leaves the copied network frozen.
    #[test]
    fn every_copied_parameter_trains() {
        use burn::optim::GradientsParams;
        let device = crate::train::training_device();
        let cfg = Config::tiny(Variant::No3d);
        let trained = |g: &Generator| {
            let out = g
                .forward(
                    Tensor::ones([1, 3, 32, 32], &device).mul_scalar(0.3),
                    Some(Tensor::ones([1, 3, 32, 32], &device).mul_scalar(-0.2)),
                    &mut Noise::Off,
                )
                .unwrap();
            let mut grads = out.square().mean().backward();
            GradientsParams::from_module(&mut grads, g).len()
        };
        let no3d = Generator::new(&cfg, 3, &device).unwrap();
        let warm = full_from_no3d(&no3d, 9, &device).unwrap();
        let fresh = Generator::new(&Config::tiny(Variant::Full), 9, &device).unwrap();
        let expected = trained(&fresh);
        assert!(expected > 0);
        assert_eq!(
            trained(&warm),
            expected,
            "copied parameters without a gradient"
        );
    }

    /// With the prior weighted 0 the warm-started network is the no3d network it came from,
    /// whatever the render; at weight 1 the render changes the output.
    #[test]
    fn at_prior_weight_zero_the_copy_restores_like_the_no3d_network() {
        let device = Device::flex();
        let no3d = Generator::new(&Config::tiny(Variant::No3d), 3, &device).unwrap();
        let full = full_from_no3d(&no3d, 9, &device).unwrap();
        let lq = Tensor::<4>::random(
            [2, 3, 32, 32],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let render = Tensor::<4>::random(
            [2, 3, 32, 32],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let expected = no3d.forward(lq.clone(), None, &mut Noise::Off).unwrap();
        let run = |weight| {
            full.forward_with_prior_weight(
                lq.clone(),
                Some(render.clone()),
                weight,
                &mut Noise::Off,
            )
            .unwrap()
        };
        let scale: f32 = expected.clone().abs().max().into_scalar();
        let off: f32 = (run(0.0) - expected.clone()).abs().max().into_scalar();
        assert!(
            off <= 1e-5 * scale,
            "differs by {off} (outputs up to {scale})"
        );
        let on: f32 = (run(1.0) - expected).abs().max().into_scalar();
        assert!(
            on > 1e-3 * scale,
            "the prior at weight 1 changed nothing ({on})"
        );
    }

    #[test]
    fn refuses_a_full_generator_as_the_source() {
        let device = Device::flex();
        let full = Generator::new(&Config::tiny(Variant::Full), 1, &device).unwrap();
        let err = full_from_no3d(&full, 2, &device).unwrap_err().to_string();
        assert!(err.contains("takes a no3d generator"), "{err}");
    }
}
