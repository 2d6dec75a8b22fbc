//! The official network's layers as ONNX nodes (StyleGAN2 as the official code writes it, paper
//! Sec. 3.1): weights come from the checkpoint, equalised-learning-rate scales are folded into
//! them, and each helper returns the name of its output.

use std::collections::HashMap;

use sgpn_models::onnx::Attribute;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::spec::{STYLE_DIM, blur_kernel};
use crate::export::graph::OnnxGraph;

/// StyleGAN2's leaky ReLU slope and the √2 gain of its fused bias + activation.
const LRELU_SLOPE: f32 = 0.2;
const LRELU_GAIN: f32 = std::f32::consts::SQRT_2;
/// The ε of demodulation and of the pixel norm.
const EPS: f32 = 1e-8;

pub struct Layers {
    pub g: OnnxGraph,
    pub ck: Checkpoint,
    /// Initializer of each (checkpoint tensor, scale) already written: the shared encoder runs on
    /// two inputs and stores its weights once.
    written: HashMap<(String, u32), String>,
}

type Result<T> = std::result::Result<T, CheckpointError>;

impl Layers {
    pub fn new(g: OnnxGraph, ck: Checkpoint) -> Self {
        Self {
            g,
            ck,
            written: HashMap::new(),
        }
    }

    /// Checkpoint tensor `name` × `scale` as an initializer of shape `dims`.
    pub fn weight(&mut self, name: &str, scale: f32, dims: &[i64]) -> Result<String> {
        let key = (name.to_owned(), scale.to_bits());
        if let Some(w) = self.written.get(&key) {
            return Ok(w.clone());
        }
        let mut data = self.ck.f32(name)?;
        if scale != 1.0 {
            data.iter_mut().for_each(|v| *v *= scale);
        }
        let w = self.g.builder.initializer(name, dims, &data);
        self.written.insert(key, w.clone());
        Ok(w)
    }

    /// A per-channel bias broadcast over `[N,C,H,W]` (`rank` 4) or `[N,C]` (`rank` 2).
    fn channel_bias(&mut self, name: &str, scale: f32, c: usize, rank: usize) -> Result<String> {
        let mut dims = vec![1i64; rank];
        dims[1] = c as i64;
        self.weight(name, scale, &dims)
    }

    /// `FusedLeakyReLU`: `leaky_relu(x + bias, 0.2) · √2`.
    pub fn fused_lrelu(
        &mut self,
        x: &str,
        bias: &str,
        bias_scale: f32,
        c: usize,
        rank: usize,
    ) -> Result<String> {
        let b = self.channel_bias(bias, bias_scale, c, rank)?;
        let y = self.g.add(x, &b, &format!("{bias}/add"));
        let y = self.g.op(
            "LeakyRelu",
            &[&y],
            &format!("{bias}/lrelu"),
            vec![Attribute::float("alpha", LRELU_SLOPE)],
        );
        let gain = self.g.scalar("lrelu_gain", LRELU_GAIN);
        Ok(self.g.mul(&y, &gain, &format!("{bias}/act")))
    }

    /// `EqualLinear`: `x · (W · lr_mul/√in)ᵀ`, then the bias × lr_mul, fused with the leaky ReLU
    /// when `activate`.
    pub fn equal_linear(
        &mut self,
        x: &str,
        prefix: &str,
        (cin, cout): (usize, usize),
        lr_mul: f32,
        activate: bool,
    ) -> Result<String> {
        let scale = lr_mul / (cin as f32).sqrt();
        let w = self.weight(
            &format!("{prefix}.weight"),
            scale,
            &[cout as i64, cin as i64],
        )?;
        let y = self.g.op(
            "Gemm",
            &[x, &w],
            &format!("{prefix}/linear"),
            vec![Attribute::int("transB", 1)],
        );
        if activate {
            self.fused_lrelu(&y, &format!("{prefix}.bias"), lr_mul, cout, 2)
        } else {
            let b = self.channel_bias(&format!("{prefix}.bias"), lr_mul, cout, 2)?;
            Ok(self.g.add(&y, &b, prefix))
        }
    }

    /// `EqualConv2d` (`W/√(in·k²)`, stride, padding), with its own bias or none.
    pub fn equal_conv(
        &mut self,
        x: &str,
        weight: &str,
        bias: Option<&str>,
        (cin, cout, k): (usize, usize, usize),
        stride: usize,
        pad: usize,
    ) -> Result<String> {
        let scale = 1.0 / ((cin * k * k) as f32).sqrt();
        let w = self.weight(
            weight,
            scale,
            &[cout as i64, cin as i64, k as i64, k as i64],
        )?;
        let b = match bias {
            Some(b) => Some(self.weight(b, 1.0, &[cout as i64])?),
            None => None,
        };
        Ok(self.g.conv(x, &w, b.as_deref(), stride, pad, weight))
    }

    /// `upfirdn2d(x, kernel, pad=(p0, p1))` with no resampling: zero padding, then the 4×4 FIR
    /// filter per channel (the kernel is symmetric, so correlation equals convolution). The
    /// checkpoint's buffer must hold the expected filter.
    pub fn blur(
        &mut self,
        x: &str,
        kernel: &str,
        gain: f32,
        c: usize,
        (p0, p1): (i64, i64),
    ) -> Result<String> {
        let w = self.depthwise_filter(kernel, gain, c)?;
        let pads = self
            .g
            .ints(&format!("{kernel}/pads"), &[0, 0, p0, p0, 0, 0, p1, p1]);
        let padded = self
            .g
            .op("Pad", &[x, &pads], &format!("{kernel}/pad"), vec![]);
        Ok(self.g.op(
            "Conv",
            &[&padded, &w],
            &format!("{kernel}/fir"),
            vec![
                Attribute::int("group", c as i64),
                Attribute::ints("pads", &[0, 0, 0, 0]),
            ],
        ))
    }

    /// StyleGAN2's `ModulatedConv2d`, written unfused: the input is scaled by the style `s`
    /// (`modulation(w)`), convolved with the shared weight, and each output channel scaled by
    /// the demodulation `rsqrt(Σ (scale·W·s)² + 1e-8)` — the same sums as the official
    /// per-sample weight, without a per-sample convolution. `upsample` is the transposed
    /// stride-2 convolution followed by the blur of pad (1, 1).
    pub fn modulated_conv(
        &mut self,
        prefix: &str,
        x: &str,
        w: &str,
        (cin, cout, k): (usize, usize, usize),
        demodulate: bool,
        upsample: bool,
    ) -> Result<String> {
        let style = self.equal_linear(
            w,
            &format!("{prefix}.modulation"),
            (STYLE_DIM, cin),
            1.0,
            false,
        )?;
        let style4 = self
            .g
            .reshape(&style, &[-1, cin as i64, 1, 1], &format!("{prefix}/style"));
        let xs = self.g.mul(x, &style4, &format!("{prefix}/modulated"));
        let scale = 1.0 / ((cin * k * k) as f32).sqrt();
        let name = format!("{prefix}.weight");
        let raw = self.ck.f32(&name)?;
        let scaled: Vec<f32> = raw.iter().map(|v| v * scale).collect();
        let (ci, co, kk) = (cin as i64, cout as i64, k as i64);
        let y = if upsample {
            // ConvTranspose takes [in, out, k, k].
            let mut t = vec![0.0; scaled.len()];
            for o in 0..cout {
                for i in 0..cin {
                    let src = (o * cin + i) * k * k;
                    let dst = (i * cout + o) * k * k;
                    t[dst..dst + k * k].copy_from_slice(&scaled[src..src + k * k]);
                }
            }
            let wt = self.g.builder.initializer(&name, &[ci, co, kk, kk], &t);
            self.g.op(
                "ConvTranspose",
                &[&xs, &wt],
                &format!("{prefix}/up"),
                vec![
                    Attribute::ints("strides", &[2, 2]),
                    Attribute::ints("pads", &[0, 0, 0, 0]),
                ],
            )
        } else {
            let wc = self
                .g
                .builder
                .initializer(&name, &[co, ci, kk, kk], &scaled);
            self.g
                .conv(&xs, &wc, None, 1, k / 2, &format!("{prefix}/conv"))
        };
        let y = if demodulate {
            // Q[i, o] = Σ_k (scale·W[o, i, k])²; demod = rsqrt(s² · Q + ε).
            let mut q = vec![0.0f32; cin * cout];
            for o in 0..cout {
                for i in 0..cin {
                    let src = (o * cin + i) * k * k;
                    q[i * cout + o] = scaled[src..src + k * k].iter().map(|v| v * v).sum();
                }
            }
            let q = self
                .g
                .builder
                .initializer(&format!("{prefix}/demod_q"), &[ci, co], &q);
            let s2 = self.g.mul(&style, &style, &format!("{prefix}/style_sq"));
            let sum = self.g.matmul(&s2, &q, &format!("{prefix}/demod_sum"));
            let eps = self.g.scalar("demod_eps", EPS);
            let sum = self.g.add(&sum, &eps, &format!("{prefix}/demod_eps"));
            let root = self
                .g
                .op("Sqrt", &[&sum], &format!("{prefix}/demod_sqrt"), vec![]);
            let demod = self
                .g
                .op("Reciprocal", &[&root], &format!("{prefix}/demod"), vec![]);
            let demod = self
                .g
                .reshape(&demod, &[-1, co, 1, 1], &format!("{prefix}/demod4"));
            self.g.mul(&y, &demod, &format!("{prefix}/demodulated"))
        } else {
            y
        };
        if upsample {
            self.blur(&y, &format!("{prefix}.blur.kernel"), 4.0, cout, (1, 1))
        } else {
            Ok(y)
        }
    }

    /// `upfirdn2d(x, kernel, up=2, pad=(2, 1))`: zero insertion and the ×4 FIR filter, written
    /// as a depthwise transposed convolution (stride 2, the filter, pads 1), which computes the
    /// same sums.
    pub fn upsample(&mut self, x: &str, kernel: &str, c: usize) -> Result<String> {
        let w = self.depthwise_filter(kernel, 4.0, c)?;
        Ok(self.g.op(
            "ConvTranspose",
            &[x, &w],
            &format!("{kernel}/up"),
            vec![
                Attribute::int("group", c as i64),
                Attribute::ints("strides", &[2, 2]),
                Attribute::ints("pads", &[1, 1, 1, 1]),
            ],
        ))
    }

    /// The checkpoint's blur buffer `kernel`, which must hold the [1,3,3,1] filter × `gain`, as a
    /// depthwise `[c,1,4,4]` weight (written once per kernel and width).
    fn depthwise_filter(&mut self, kernel: &str, gain: f32, c: usize) -> Result<String> {
        let stored = self.ck.f32(kernel)?;
        let expected = blur_kernel(gain);
        if stored
            .iter()
            .zip(&expected)
            .any(|(a, b)| (a - b).abs() > 1e-6)
        {
            return Err(self.ck.bad(
                kernel,
                format!("holds {stored:?}, not the [1,3,3,1] blur filter × {gain}"),
            ));
        }
        let key = (format!("{kernel}#depthwise{c}"), gain.to_bits());
        if let Some(w) = self.written.get(&key) {
            return Ok(w.clone());
        }
        let data: Vec<f32> = (0..c).flat_map(|_| expected).collect();
        let w =
            self.g
                .builder
                .initializer(&format!("{kernel}/depthwise"), &[c as i64, 1, 4, 4], &data);
        self.written.insert(key, w.clone());
        Ok(w)
    }

    /// StyleGAN2's pixel norm of the latent code: `z · rsqrt(mean(z²) + 1e-8)` over features.
    pub fn pixel_norm(&mut self, z: &str) -> String {
        let sq = self.g.mul(z, z, "pixel_norm/sq");
        let mean = self.g.op(
            "ReduceMean",
            &[&sq],
            "pixel_norm/mean",
            vec![Attribute::ints("axes", &[1]), Attribute::int("keepdims", 1)],
        );
        let eps = self.g.scalar("pixel_norm_eps", EPS);
        let mean = self.g.add(&mean, &eps, "pixel_norm/eps");
        let root = self.g.op("Sqrt", &[&mean], "pixel_norm/sqrt", vec![]);
        self.g.op("Div", &[z, &root], "pixel_norm", vec![])
    }
}
