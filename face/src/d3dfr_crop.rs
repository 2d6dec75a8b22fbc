//! The official SGPN code's crop into Deep3DFaceRecon's 224-px frame, for shape regressors whose
//! metadata asks for it (`sgpn.regressor.crop = d3dfr`, `models/README.md`): D3DFR's alignment
//! (`align_img`: a least-squares fit of five 3D reference landmarks to the face's five 2D ones,
//! "POS", giving a scale and a shift; one reference unit becomes 102 px), applied to the landmarks
//! of the aligned S×S crop. Because the fit has no rotation, crop → 224 is a uniform scale and a
//! translation. The regressor sees the crop warped by it; the face is rendered in the 224 frame
//! with D3DFR's camera, and the render and its coverage are warped back to the crop bilinearly
//! (zero outside) and combined as `2·colour·coverage − 1`, as the official code does before its
//! generator sees the render (`sgpn_kernels::render::warp_back`, with its CUDA twin).

use sgpn_kernels::affine::Affine2;

/// Side of D3DFR's frame.
pub const FRAME: usize = 224;
/// D3DFR's `rescale_factor`: pixels per reference unit at 224.
const RESCALE: f64 = 102.0;

/// The crop → 224 transform for a face whose five landmarks in the `size` crop are `points`;
/// `None` when the points are degenerate (the fit has no scale).
pub fn crop_to_frame(
    points: &[[f32; 2]; 5],
    reference: &[[f32; 3]; 5],
    size: usize,
) -> Option<Affine2> {
    // x ≈ R1·X + tx and y ≈ R2·X + ty, solved separately (normal equations of [X Y Z 1]).
    let rows: Vec<[f64; 4]> = reference
        .iter()
        .map(|p| [p[0] as f64, p[1] as f64, p[2] as f64, 1.0])
        .collect();
    let fit = |target: &dyn Fn(usize) -> f64| -> Option<[f64; 4]> {
        let mut ata = [[0.0f64; 4]; 4];
        let mut atb = [0.0f64; 4];
        for (i, r) in rows.iter().enumerate() {
            for a in 0..4 {
                atb[a] += r[a] * target(i);
                for b in 0..4 {
                    ata[a][b] += r[a] * r[b];
                }
            }
        }
        solve4(ata, atb)
    };
    let fx = fit(&|i| points[i][0] as f64)?;
    let fy = fit(&|i| points[i][1] as f64)?;
    let norm = |k: &[f64; 4]| (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt();
    let s_pos = (norm(&fx) + norm(&fy)) / 2.0;
    if !(s_pos.is_finite() && s_pos > 1e-9) {
        return None;
    }
    let s = RESCALE / s_pos;
    let (tx, ty) = (fx[3], fy[3]);
    // The official code flips y (S − 1 − y) before the fit and after the crop, truncates the
    // resized side to an integer, and centres a 224 window on it; in unflipped coordinates that
    // is x' = s·x + bx, y' = s·y + by with:
    let half = size as f64 / 2.0;
    let resized_half = (size as f64 * s).trunc() / 2.0;
    let frame_half = FRAME as f64 / 2.0;
    let bx = (half - tx) * s - resized_half + frame_half;
    let by = (FRAME as f64 - 1.0 - frame_half) - (ty + half) * s + resized_half;
    Some(Affine2::scale_translate(s as f32, bx as f32, by as f32))
}

/// Gaussian elimination with partial pivoting; `None` for a singular system.
fn solve4(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let pivot = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..4 {
            let f = a[row][col] / pivot_row[col];
            for (v, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 4];
    for row in (0..4).rev() {
        let tail: f64 = (row + 1..4).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference points on a plane z = 0, and 2D points that are their image under scale 50 and
    /// shift (256, 240): the fit recovers scale 102/50 and puts the reference origin where D3DFR
    /// puts it.
    #[test]
    fn the_fit_of_an_exact_projection_gives_the_official_scale_and_shift() {
        let reference = [
            [-0.3, 0.3, 0.0],
            [0.3, 0.3, 0.1],
            [0.0, 0.0, 0.3],
            [-0.25, -0.3, 0.05],
            [0.25, -0.3, 0.0],
        ];
        let points = reference.map(|p| [256.0 + 50.0 * p[0], 240.0 + 50.0 * p[1]]);
        let m = crop_to_frame(&points, &reference, 512).unwrap();
        let s = 102.0 / 50.0;
        assert!((m.m[0][0] - s).abs() < 1e-4, "{m:?}");
        assert_eq!(m.m[0][1], 0.0);
        // The reference origin (the crop point (256, 240)) lands at (112 + δ, 111 − δ) with
        // δ = (512·s − ⌊512·s⌋)/2.
        let delta = (512.0 * s - (512.0f32 * s).trunc()) / 2.0;
        let (x, y) = m.apply(256.0, 240.0);
        assert!((x - (112.0 + delta)).abs() < 1e-3, "{x}");
        assert!((y - (111.0 - delta)).abs() < 1e-3, "{y}");
    }

    #[test]
    fn collinear_points_have_no_fit() {
        let reference = [[0.0, 0.0, 0.0]; 5];
        assert!(crop_to_frame(&[[1.0, 2.0]; 5], &reference, 512).is_none());
    }
}
