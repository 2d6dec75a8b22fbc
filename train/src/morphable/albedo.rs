//! Albedo from photos: the sampled vertex colours are shaded, so lighting is factored out with
//! D3DFR's model before the albedo PCA. D3DFR (`models/bfm.py` `compute_color`; paper Sec. 3.1)
//! writes a vertex colour as `c = t · Σ_b γ_cb Φ_b(n)` with 9 SH bands per channel and 0.8 added
//! to the ambient band (`sgpn_kernels::render::sh_shade`). Given the albedo `t`, the 27 γ of a
//! face are a linear least-squares fit; given every face's γ, each vertex's albedo is one too.
//! Alternating the two (a few rounds) gives the mean albedo and each face's lighting; a face's
//! own albedo is then its colours divided by its shading. Albedo and lighting share a scale per
//! channel; it is fixed so the faces' mean ambient weight is D3DFR's 0.8.

use rayon::prelude::*;
use sgpn_kernels::render::sh::{AMBIENT_INIT, SH_BANDS};
use sgpn_kernels::render::sh_basis;

use crate::linalg::ridge_solve;

/// Rounds of (lighting | albedo) alternation.
pub const ROUNDS: usize = 5;
/// A vertex counts as seen when its normal's z (towards the camera) exceeds this: grazing
/// vertices sample the background or the silhouette.
pub const FACING_Z: f32 = 0.3;
/// Shading below this gives no usable albedo estimate (division by ~0).
const MIN_SHADING: f64 = 0.15;
/// Per-face albedo is clamped to this range: a few specular or shadowed samples otherwise
/// dominate the PCA.
const ALBEDO_RANGE: (f64, f64) = (0.0, 1.5);
/// Ridge on the 9 band weights (relative to the normal-equation scale): keeps faces with few
/// seen vertices solvable.
const LIGHT_RIDGE: f64 = 1e-4;

/// One face's observations: colour where seen (0..1) and the camera-frame unit normal.
pub struct LitFace<'a> {
    pub colours: &'a [Option<[f32; 3]>],
    pub normals: &'a [[f32; 3]],
}

impl LitFace<'_> {
    /// The colour of vertex `v` when it faces the camera and was sampled.
    pub fn seen(&self, v: usize) -> Option<[f32; 3]> {
        (self.normals[v][2] > FACING_Z)
            .then_some(self.colours[v])
            .flatten()
    }
}

/// The result of [`factor_lighting`].
pub struct Factored {
    /// Per-vertex mean albedo, RGB 0..1.
    pub mean: Vec<[f32; 3]>,
    /// Each face's albedo, `[V·3]`, its own estimate where seen, the mean elsewhere.
    pub faces: Vec<Vec<f32>>,
    /// Each face's 27 γ (D3DFR layout: channel-major, 0.8 not included).
    pub gammas: Vec<[f32; 27]>,
    /// RMS of `colour − mean albedo · shading` over the seen samples (0..1 units).
    pub rmse: f64,
}

/// D3DFR's γ for one face given per-vertex albedo: per channel, the band weights
/// `w = γ + 0.8·e0` minimise `Σ_v (t_vc · Φ(n_v)·w − c_vc)²` over seen vertices.
pub fn fit_light(face: &LitFace, albedo: &[[f32; 3]]) -> [f32; 27] {
    let mut gamma = [0.0f32; 27];
    for c in 0..3 {
        let mut ata = [0.0f64; SH_BANDS * SH_BANDS];
        let mut atb = [0.0f64; SH_BANDS];
        for (v, albedo_v) in albedo.iter().enumerate() {
            let Some(col) = face.seen(v) else { continue };
            let y = sh_basis(face.normals[v]);
            let t = albedo_v[c] as f64;
            for a in 0..SH_BANDS {
                let ja = t * y[a] as f64;
                atb[a] += ja * col[c] as f64;
                for b in 0..SH_BANDS {
                    ata[a * SH_BANDS + b] += ja * t * y[b] as f64;
                }
            }
        }
        let scale = (0..SH_BANDS).map(|a| ata[a * SH_BANDS + a]).sum::<f64>() / 9.0;
        let ridge = [LIGHT_RIDGE * scale.max(1e-12); SH_BANDS];
        // Ridge towards w = 0.8·e0 (γ = 0): solve for the deviation from D3DFR's initial light.
        let base = |a: usize| if a == 0 { AMBIENT_INIT as f64 } else { 0.0 };
        let rhs: Vec<f64> = (0..SH_BANDS)
            .map(|a| {
                atb[a]
                    - (0..SH_BANDS)
                        .map(|b| ata[a * SH_BANDS + b] * base(b))
                        .sum::<f64>()
            })
            .collect();
        if let Some(dw) = ridge_solve(&ata, &rhs, &ridge, SH_BANDS) {
            for a in 0..SH_BANDS {
                gamma[c * SH_BANDS + a] = dw[a] as f32;
            }
        }
    }
    gamma
}

/// Shading `Φ(n)·(γ_c + 0.8·e0)` of one vertex, per channel.
pub fn shading(normal: [f32; 3], gamma: &[f32; 27]) -> [f64; 3] {
    let y = sh_basis(normal);
    std::array::from_fn(|c| {
        (0..SH_BANDS)
            .map(|b| {
                let w = gamma[c * SH_BANDS + b] + if b == 0 { AMBIENT_INIT } else { 0.0 };
                y[b] as f64 * w as f64
            })
            .sum()
    })
}

/// Alternates lighting and mean-albedo fits over `faces` (see the module header), then divides
/// each face's colours by its shading.
pub fn factor_lighting(faces: &[LitFace], vertices: usize) -> Factored {
    // Start: the mean seen colour under D3DFR's initial (ambient-only) light.
    let ambient = sgpn_kernels::render::sh::A0C0 as f64 * AMBIENT_INIT as f64;
    let mut mean = vec![[0.5f32; 3]; vertices];
    for (v, m) in mean.iter_mut().enumerate() {
        let (mut sum, mut n) = ([0.0f64; 3], 0usize);
        for f in faces {
            if let Some(c) = f.seen(v) {
                (0..3).for_each(|k| sum[k] += c[k] as f64);
                n += 1;
            }
        }
        if n > 0 {
            *m = std::array::from_fn(|k| (sum[k] / n as f64 / ambient) as f32);
        }
    }
    let mut gammas: Vec<[f32; 27]> = vec![[0.0; 27]; faces.len()];
    for _round in 0..ROUNDS {
        gammas = faces.par_iter().map(|f| fit_light(f, &mean)).collect();
        // Albedo per vertex and channel: Σ c·s / Σ s² over the faces that see it.
        mean = (0..vertices)
            .into_par_iter()
            .map(|v| {
                let (mut num, mut den) = ([0.0f64; 3], [0.0f64; 3]);
                for (f, g) in faces.iter().zip(&gammas) {
                    if let Some(c) = f.seen(v) {
                        let s = shading(f.normals[v], g);
                        for k in 0..3 {
                            num[k] += c[k] as f64 * s[k];
                            den[k] += s[k] * s[k];
                        }
                    }
                }
                std::array::from_fn(|k| {
                    if den[k] > 0.0 {
                        (num[k] / den[k]) as f32
                    } else {
                        mean[v][k]
                    }
                })
            })
            .collect();
        normalise_scale(&mut mean, &mut gammas);
    }
    let per_face: Vec<(Vec<f32>, f64, usize)> = faces
        .par_iter()
        .zip(&gammas)
        .map(|(f, g)| face_albedo(f, g, &mean))
        .collect();
    let (sq, n) = per_face
        .iter()
        .fold((0.0, 0usize), |(s, n), (_, e, m)| (s + e, n + m));
    Factored {
        mean,
        faces: per_face.into_iter().map(|(a, _, _)| a).collect(),
        gammas,
        rmse: (sq / n.max(1) as f64).sqrt(),
    }
}

/// One face's albedo `[V·3]`: its colours divided by its shading where seen (clamped), the
/// `mean` elsewhere; also the squared error of `mean · shading` against the seen colours and
/// their count.
pub fn face_albedo(face: &LitFace, gamma: &[f32; 27], mean: &[[f32; 3]]) -> (Vec<f32>, f64, usize) {
    let mut albedo = Vec::with_capacity(mean.len() * 3);
    let (mut sq, mut n) = (0.0f64, 0usize);
    for (v, m) in mean.iter().enumerate() {
        let s = shading(face.normals[v], gamma);
        let seen = face.seen(v);
        for k in 0..3 {
            let value = match seen {
                Some(c) if s[k] > MIN_SHADING => {
                    let e = c[k] as f64 - m[k] as f64 * s[k];
                    sq += e * e;
                    n += 1;
                    (c[k] as f64 / s[k]).clamp(ALBEDO_RANGE.0, ALBEDO_RANGE.1)
                }
                _ => m[k] as f64,
            };
            albedo.push(value as f32);
        }
    }
    (albedo, sq, n)
}

/// Albedo and light share a per-channel scale: move it so the faces' mean ambient weight
/// (γ_c0 + 0.8) is 0.8, as D3DFR's initial lighting assumes.
fn normalise_scale(mean: &mut [[f32; 3]], gammas: &mut [[f32; 27]]) {
    if gammas.is_empty() {
        return;
    }
    for c in 0..3 {
        let ambient = gammas
            .iter()
            .map(|g| (g[c * SH_BANDS] + AMBIENT_INIT) as f64)
            .sum::<f64>()
            / gammas.len() as f64;
        if ambient.is_nan() || ambient <= 1e-6 {
            continue;
        }
        let k = ambient / AMBIENT_INIT as f64;
        mean.iter_mut()
            .for_each(|m| m[c] = (m[c] as f64 * k) as f32);
        for g in gammas.iter_mut() {
            for b in 0..SH_BANDS {
                let w = g[c * SH_BANDS + b] as f64 + if b == 0 { AMBIENT_INIT as f64 } else { 0.0 };
                let w = w / k;
                g[c * SH_BANDS + b] = (w - if b == 0 { AMBIENT_INIT as f64 } else { 0.0 }) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Faces with a known albedo lit by known, different γ: the factorisation must recover the
    /// albedo (up to the fixed scale convention, which the lights here satisfy on average) and
    /// reproduce the colours.
    #[test]
    fn recovers_albedo_and_light_of_synthetic_faces() {
        let v = 200;
        let normals: Vec<[f32; 3]> = (0..v)
            .map(|i| {
                let a = i as f32 * 0.61;
                let b = (i as f32 * 0.37).sin() * 0.8;
                let n = [a.cos() * b, a.sin() * b, 1.0];
                let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                n.map(|x| x / l)
            })
            .collect();
        let albedo: Vec<[f32; 3]> = (0..v)
            .map(|i| {
                let t = i as f32 * 0.13;
                [
                    0.6 + 0.2 * t.sin(),
                    0.45 + 0.1 * t.cos(),
                    0.35 + 0.05 * (2.0 * t).sin(),
                ]
            })
            .collect();
        let lights: Vec<[f32; 27]> = (0..6)
            .map(|f| {
                let mut g = [0.0f32; 27];
                let s = if f % 2 == 0 { 1.0 } else { -1.0 };
                for c in 0..3 {
                    g[c * 9] = 0.1 * s; // ambients average to 0 → the scale convention holds
                    g[c * 9 + 1] = 0.15 * (f as f32 - 2.5) / 2.5;
                    g[c * 9 + 3] = 0.1 * s;
                }
                g
            })
            .collect();
        let colours: Vec<Vec<Option<[f32; 3]>>> = lights
            .iter()
            .map(|g| {
                (0..v)
                    .map(|i| {
                        let s = shading(normals[i], g);
                        Some(std::array::from_fn(|k| (albedo[i][k] as f64 * s[k]) as f32))
                    })
                    .collect()
            })
            .collect();
        let faces: Vec<LitFace> = colours
            .iter()
            .map(|c| LitFace {
                colours: c,
                normals: &normals,
            })
            .collect();
        let out = factor_lighting(&faces, v);
        assert!(out.rmse < 2e-3, "colour RMSE {}", out.rmse);
        let err = out
            .mean
            .iter()
            .zip(&albedo)
            .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
            .fold(0.0f32, f32::max);
        assert!(err < 0.02, "albedo error {err}");
        for (g, truth) in out.gammas.iter().zip(&lights) {
            assert!((g[1] - truth[1]).abs() < 0.02, "{} vs {}", g[1], truth[1]);
        }
    }
}
