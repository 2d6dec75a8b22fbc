//! Deterministic parameter initialisation and per-layer noise.
//!
//! Everything random in a model (initial weights, the noise injected by StyleConvs) is drawn
//! from our own ChaCha8 streams rather than burn's global RNG, so that the exact random state
//! can be written into a checkpoint and a resumed run continues bit for bit.

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Draws standard-normal values (Box–Muller on a ChaCha8 stream).
pub fn normal_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // u1 in (0, 1] so the logarithm is finite.
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Creates parameters on one device from one seeded stream.
pub struct ParamInit {
    rng: ChaCha8Rng,
    device: Device,
}

impl ParamInit {
    pub fn new(seed: u64, device: &Device) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            device: device.clone(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// N(0, 1) · `std`.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], std: f32) -> Param<Tensor<D>> {
        let n = shape.iter().product();
        let data: Vec<f32> = normal_vec(&mut self.rng, n)
            .into_iter()
            .map(|v| v * std)
            .collect();
        Param::from_tensor(Tensor::from_data(
            TensorData::new(data, shape),
            &self.device,
        ))
    }

    /// A constant-filled parameter (biases).
    pub fn constant<const D: usize>(&mut self, shape: [usize; D], value: f32) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::full(shape, value, &self.device))
    }
}

/// The noise that StyleGAN2 adds after each modulated convolution.
pub enum Noise<'a> {
    /// No noise: the deterministic forward pass that the ONNX export reproduces.
    Off,
    /// Fresh N(0, 1) noise per sample and pixel, drawn from this stream.
    Random(&'a mut ChaCha8Rng),
}

impl Noise<'_> {
    /// Noise of shape [n, 1, h, w], or `None` when off.
    pub fn draw(&mut self, n: usize, h: usize, w: usize, device: &Device) -> Option<Tensor<4>> {
        match self {
            Noise::Off => None,
            Noise::Random(rng) => {
                let data = normal_vec(rng, n * h * w);
                Some(Tensor::from_data(
                    TensorData::new(data, [n, 1, h, w]),
                    device,
                ))
            }
        }
    }
}
