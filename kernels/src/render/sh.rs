//! Spherical-harmonics shading as D3DFR computes vertex colours (Deep3DFaceRecon
//! `models/bfm.py`: `SH`, `compute_color`; paper Sec. 3.1): nine real SH basis functions of the
//! (rotated) unit normal, scaled by Lambertian convolution factors `a = [π, 2π/√3, 2π/√8]` and
//! normalisations `c = [1/√(4π), √3/√(4π), 3√5/√(12π)]`; `gamma` (27 values) reshaped to
//! [3, 9] = one row of 9 band weights per RGB channel, with D3DFR's initial lighting 0.8 added
//! to each channel's ambient weight; colour = albedo · Σ_b γ_cb · Φ_b(n) per channel.

use super::error::{RenderError, check_len};
use rayon::prelude::*;

/// SH bands per colour channel.
pub const SH_BANDS: usize = 9;
/// Length of D3DFR's `gamma` coefficient block (`coeffs[227:254]`): 9 bands × RGB.
pub const GAMMA_LEN: usize = 3 * SH_BANDS;
/// D3DFR `init_lit`: added to every channel's ambient (band 0) weight.
pub const AMBIENT_INIT: f32 = 0.8;

/// `a[0]·c[0] = π / √(4π) = √π / 2`.
pub const A0C0: f32 = 0.886_226_9;
/// `a[1]·c[1] = (2π/√3)·(√3/√(4π)) = √π`.
pub const A1C1: f32 = 1.772_453_9;
/// `a[2]·c[2] = (2π/√8)·(3√5/√(12π)) = 1.5·√(5π/6)`.
pub const A2C2: f32 = 2.427_032_4;
/// `0.5·a[2]·c[2] / √3`, the factor of band 6.
const A2C2_HALF_SQRT3: f32 = 0.700_623_9;
/// `0.5·a[2]·c[2]`, the factor of band 8.
const A2C2_HALF: f32 = 1.213_516_2;

/// D3DFR's basis `Y` for a unit normal, in its order: `[a0c0, −a1c1·ny, a1c1·nz, −a1c1·nx,
/// a2c2·nx·ny, −a2c2·ny·nz, 0.5·a2c2/√3·(3nz² − 1), −a2c2·nx·nz, 0.5·a2c2·(nx² − ny²)]`.
#[inline]
pub fn sh_basis(n: [f32; 3]) -> [f32; SH_BANDS] {
    let [x, y, z] = n;
    [
        A0C0,
        -A1C1 * y,
        A1C1 * z,
        -A1C1 * x,
        A2C2 * x * y,
        -A2C2 * y * z,
        A2C2_HALF_SQRT3 * (3.0 * z * z - 1.0),
        -A2C2 * x * z,
        A2C2_HALF * (x * x - y * y),
    ]
}

/// `gamma` as one row of band weights per channel, D3DFR's initial ambient light added.
pub fn sh_weights(gamma: &[f32; GAMMA_LEN]) -> [[f32; SH_BANDS]; 3] {
    std::array::from_fn(|c| {
        std::array::from_fn(|b| gamma[c * SH_BANDS + b] + if b == 0 { AMBIENT_INIT } else { 0.0 })
    })
}

/// D3DFR `compute_color`: per vertex and channel `albedo · Σ_b Y_b(n) · (γ_cb + [b = 0]·0.8)`.
/// `normals` must already be rotated into camera orientation (D3DFR shades `face_norm @ rot`).
/// Colours keep albedo's units (0..1 as D3DFR's texture, or 0..255) and are not clamped.
pub fn sh_shade(
    albedo: &[[f32; 3]],
    normals: &[[f32; 3]],
    gamma: &[f32; GAMMA_LEN],
) -> Result<Vec<[f32; 3]>, RenderError> {
    check_len(
        "normals (one per albedo entry)",
        albedo.len(),
        normals.len(),
    )?;
    let weights = sh_weights(gamma);
    Ok(albedo
        .par_iter()
        .zip(normals.par_iter())
        .map(|(t, &n)| {
            let y = sh_basis(n);
            std::array::from_fn(|c| {
                let w = &weights[c];
                let lit = y.iter().zip(w).fold(0.0f32, |acc, (yb, wb)| acc + yb * wb);
                t[c] * lit
            })
        })
        .collect())
}
