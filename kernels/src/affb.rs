//! The Adaptive Feature Fusion Block's fusion (SGPN, Sec. 3.2, Eq. 8–9), as one kernel: the
//! CPU reference of the `sgpn.AffbFuse` operator (`models::affb_op`) and of its CUDA twin.
//!
//! For each position, a 1×1 convolution of the concatenated features gives the mask logits,
//! `M = σ(W·[F_inter, F_lq(, F_3d)] + b)`; the block outputs `[F_inter, F_blend]` with
//! `F_blend = F_lq·M + F_3d·(1 − M)` (written `F_3d + (F_lq − F_3d)·M`, as the network computes
//! it) or, without the shape prior (the paper's variant A), `F_blend = F_lq·M`. Tensors are
//! planar NCHW `f32`.

use rayon::prelude::*;

/// The shapes of one fusion: `n` faces of `channels` feature maps of `positions` (H·W) values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffbShape {
    pub n: usize,
    pub channels: usize,
    pub positions: usize,
}

/// `[F_inter, F_blend]`, shape `[n, 2·channels, H, W]`. `weight` is `[channels, k·channels]` with
/// k = 2, or 3 when `f_3d` is given (the 1×1 convolution's kernel with its equalised-learning-
/// rate scale applied); `bias` is `[channels]`.
///
/// Panics when a slice does not have the length its shape implies (a caller bug; the operator
/// checks shapes and reports them as errors first).
pub fn affb_fuse(
    shape: AffbShape,
    f_inter: &[f32],
    f_lq: &[f32],
    f_3d: Option<&[f32]>,
    weight: &[f32],
    bias: &[f32],
) -> Vec<f32> {
    let AffbShape {
        n,
        channels: c,
        positions: p,
    } = shape;
    let k = if f_3d.is_some() { 3 } else { 2 };
    let len = n * c * p;
    assert!(f_inter.len() == len && f_lq.len() == len && f_3d.is_none_or(|f| f.len() == len));
    assert!(weight.len() == c * k * c && bias.len() == c);
    let mut out = vec![0f32; 2 * len];
    out.par_chunks_mut(2 * c * p)
        .enumerate()
        .for_each(|(face, out)| {
            let span = face * c * p..(face + 1) * c * p;
            let inputs: Vec<&[f32]> = [
                Some(&f_inter[span.clone()]),
                Some(&f_lq[span.clone()]),
                f_3d.map(|f| &f[span.clone()]),
            ]
            .into_iter()
            .flatten()
            .collect();
            let (inter_out, blend_out) = out.split_at_mut(c * p);
            inter_out.copy_from_slice(inputs[0]);
            let mut logits = vec![0f32; p];
            for o in 0..c {
                logits.fill(bias[o]);
                for (group, features) in inputs.iter().enumerate() {
                    for i in 0..c {
                        let w = weight[o * k * c + group * c + i];
                        for (l, &x) in logits.iter_mut().zip(&features[i * p..(i + 1) * p]) {
                            *l += w * x;
                        }
                    }
                }
                let lq = &inputs[1][o * p..(o + 1) * p];
                let blend = &mut blend_out[o * p..(o + 1) * p];
                for (j, (b, &l)) in blend.iter_mut().zip(&logits).enumerate() {
                    let m = 1.0 / (1.0 + (-l).exp());
                    *b = match inputs.get(2) {
                        Some(f3d) => {
                            let d = f3d[o * p + j];
                            d + (lq[j] - d) * m
                        }
                        None => lq[j] * m,
                    };
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One face, one channel, two positions, worked by hand.
    #[test]
    fn fusion_by_hand() {
        let shape = AffbShape {
            n: 1,
            channels: 1,
            positions: 2,
        };
        let (inter, lq, d3) = ([1.0, -1.0], [2.0, 4.0], [0.5, 1.0]);
        // logits = 1·inter + 0·lq + 0·3d + 0 → M = σ(±1).
        let out = affb_fuse(shape, &inter, &lq, Some(&d3), &[1.0, 0.0, 0.0], &[0.0]);
        let s = |x: f32| 1.0 / (1.0 + (-x).exp());
        let want = [1.0, -1.0, 0.5 + 1.5 * s(1.0), 1.0 + 3.0 * s(-1.0)];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?} vs {want:?}");
        }
        // Variant A: F_lq·M, the mask from [F_inter, F_lq] (here from F_lq alone, bias −2).
        let out = affb_fuse(shape, &inter, &lq, None, &[0.0, 1.0], &[-2.0]);
        assert!((out[2] - 2.0 * s(0.0)).abs() < 1e-6 && (out[3] - 4.0 * s(2.0)).abs() < 1e-6);
    }
}
