//! 2-D affine transforms and the Umeyama similarity fit used to align a face to its template
//! (facexlib `FaceRestoreHelper.align_warp_face`, which calls skimage's / OpenCV's
//! `estimateAffinePartial2D`-style similarity estimate; Umeyama, "Least-squares estimation of
//! transformation parameters between two point patterns", TPAMI 1991).
//!
//! Convention (docs/architecture.md): `Affine2` maps (x, y) to
//! (m00·x + m01·y + m02, m10·x + m11·y + m12), pixel centres at integer coordinates.

/// A 2×3 affine transform on pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine2 {
    pub m: [[f32; 3]; 2],
}

impl Default for Affine2 {
    fn default() -> Self {
        Self::identity()
    }
}

impl Affine2 {
    /// The transform that maps every point to itself.
    pub fn identity() -> Self {
        Self {
            m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        }
    }

    /// Uniform scale `s` about the origin followed by a translation by (tx, ty).
    pub fn scale_translate(s: f32, tx: f32, ty: f32) -> Self {
        Self {
            m: [[s, 0.0, tx], [0.0, s, ty]],
        }
    }

    /// Maps the point (x, y).
    #[inline(always)]
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let m = &self.m;
        (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        )
    }

    /// Determinant of the linear part.
    pub fn det(&self) -> f32 {
        self.m[0][0] * self.m[1][1] - self.m[0][1] * self.m[1][0]
    }

    /// The inverse transform, or `None` when the linear part is singular (or not finite).
    pub fn inverse(&self) -> Option<Affine2> {
        // Computed in f64: crop-to-frame transforms combine large translations with small scales.
        let [[a, b, c], [d, e, f]] = self.m.map(|r| r.map(f64::from));
        let det = a * e - b * d;
        let norm = a.abs().max(b.abs()).max(d.abs()).max(e.abs());
        if !det.is_finite() || norm == 0.0 || det.abs() <= 1e-12 * norm * norm {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        let out = Affine2 {
            m: [
                [ia as f32, ib as f32, (-(ia * c + ib * f)) as f32],
                [id as f32, ie as f32, (-(id * c + ie * f)) as f32],
            ],
        };
        out.m.iter().flatten().all(|v| v.is_finite()).then_some(out)
    }

    /// The composition "apply `self`, then `next`".
    pub fn then(&self, next: &Affine2) -> Affine2 {
        let a = self.m.map(|r| r.map(f64::from));
        let n = next.m.map(|r| r.map(f64::from));
        let mut out = [[0.0f32; 3]; 2];
        for (r, row) in out.iter_mut().enumerate() {
            row[0] = (n[r][0] * a[0][0] + n[r][1] * a[1][0]) as f32;
            row[1] = (n[r][0] * a[0][1] + n[r][1] * a[1][1]) as f32;
            row[2] = (n[r][0] * a[0][2] + n[r][1] * a[1][2] + n[r][2]) as f32;
        }
        Affine2 { m: out }
    }

    /// The geometric-mean scale factor, sqrt(|det|): how many destination pixels one source pixel
    /// spans along each axis (for a similarity, exactly its scale).
    pub fn scale(&self) -> f32 {
        self.det().abs().sqrt()
    }
}

/// Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping `src`
/// points onto `dst` points: Umeyama (1991) as skimage's `SimilarityTransform.estimate` and
/// facexlib use it.
///
/// In 2-D the Umeyama solution has a closed form: writing centred points as complex numbers,
/// the optimal `s·e^{iθ}` is `Σ conj(src_i)·dst_i / Σ |src_i|²`, which is the same minimiser
/// of `Σ |dst_i − (sR·src_i + t)|²` over proper rotations that the SVD route finds. Computed
/// in f64.
///
/// Returns `None` when the input cannot determine a similarity: fewer than two point pairs,
/// different lengths, non-finite coordinates, all `src` points coincident, or all `dst` points
/// coincident (the fit would collapse to scale 0).
pub fn umeyama_similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Affine2> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    let pts = || {
        src.iter()
            .zip(dst)
            .map(|(s, d)| ([s[0] as f64, s[1] as f64], [d[0] as f64, d[1] as f64]))
    };
    if pts().any(|(s, d)| {
        !(s[0].is_finite() && s[1].is_finite() && d[0].is_finite() && d[1].is_finite())
    }) {
        return None;
    }
    let n = src.len() as f64;
    let (mut sm, mut dm) = ([0.0f64; 2], [0.0f64; 2]);
    for (s, d) in pts() {
        sm[0] += s[0];
        sm[1] += s[1];
        dm[0] += d[0];
        dm[1] += d[1];
    }
    sm = sm.map(|v| v / n);
    dm = dm.map(|v| v / n);
    let (mut re, mut im, mut src_var, mut dst_var) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (s, d) in pts() {
        let (sx, sy) = (s[0] - sm[0], s[1] - sm[1]);
        let (dx, dy) = (d[0] - dm[0], d[1] - dm[1]);
        re += sx * dx + sy * dy;
        im += sx * dy - sy * dx;
        src_var += sx * sx + sy * sy;
        dst_var += dx * dx + dy * dy;
    }
    let src_extent = sm[0].abs().max(sm[1].abs()).max(1.0);
    let dst_extent = dm[0].abs().max(dm[1].abs()).max(1.0);
    if src_var <= 1e-12 * n * src_extent * src_extent
        || dst_var <= 1e-12 * n * dst_extent * dst_extent
    {
        return None;
    }
    let (a, b) = (re / src_var, im / src_var);
    if a.hypot(b) <= 1e-12 {
        // dst is uncorrelated with src (e.g. a point-symmetric pattern rotated by every angle).
        return None;
    }
    let tx = dm[0] - (a * sm[0] - b * sm[1]);
    let ty = dm[1] - (b * sm[0] + a * sm[1]);
    Some(Affine2 {
        m: [
            [a as f32, -b as f32, tx as f32],
            [b as f32, a as f32, ty as f32],
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The SGPN 512 template (from the official SGPN code).
    const TEMPLATE: [[f32; 2]; 5] = [
        [202.04, 242.88],
        [309.43, 242.29],
        [256.08, 303.96],
        [211.96, 366.83],
        [300.89, 366.34],
    ];

    fn similarity(scale: f32, angle: f32, tx: f32, ty: f32) -> Affine2 {
        let (s, c) = angle.sin_cos();
        Affine2 {
            m: [[scale * c, -scale * s, tx], [scale * s, scale * c, ty]],
        }
    }

    fn assert_close(a: &Affine2, b: &Affine2, tol: f32) {
        for r in 0..2 {
            for c in 0..3 {
                let t = tol * (1.0 + b.m[r][c].abs());
                assert!(
                    (a.m[r][c] - b.m[r][c]).abs() <= t,
                    "{a:?} != {b:?} at [{r}][{c}]"
                );
            }
        }
    }

    #[test]
    fn apply_inverse_and_then_agree() {
        let t = Affine2 {
            m: [[1.3, 0.4, 10.0], [-0.2, 0.9, -5.0]],
        };
        let inv = t.inverse().expect("invertible");
        let (x, y) = t.apply(3.0, 7.0);
        let (bx, by) = inv.apply(x, y);
        assert!((bx - 3.0).abs() < 1e-4 && (by - 7.0).abs() < 1e-4);
        assert_close(&t.then(&inv), &Affine2::identity(), 1e-6);
        let u = similarity(2.0, 0.3, 1.0, 2.0);
        let (px, py) = t.apply(5.0, -1.0);
        let (qx, qy) = u.apply(px, py);
        let (rx, ry) = t.then(&u).apply(5.0, -1.0);
        assert!((qx - rx).abs() < 1e-4 && (qy - ry).abs() < 1e-4);
        assert!((t.scale() - t.det().abs().sqrt()).abs() < 1e-7);
        assert!((similarity(2.5, 1.0, 0.0, 0.0).scale() - 2.5).abs() < 1e-5);
    }

    #[test]
    fn singular_has_no_inverse() {
        let t = Affine2 {
            m: [[1.0, 2.0, 3.0], [2.0, 4.0, 1.0]],
        };
        assert_eq!(t.inverse(), None);
        let zero = Affine2 { m: [[0.0; 3]; 2] };
        assert_eq!(zero.inverse(), None);
    }

    #[test]
    fn umeyama_recovers_exact_similarities() {
        for &(s, a, tx, ty) in &[
            (1.0, 0.0, 0.0, 0.0),
            (0.37, 0.2, -40.0, 12.5),
            (3.1, -2.5, 600.0, 300.0),
            (1.0, std::f32::consts::PI, 5.0, 5.0),
        ] {
            let truth = similarity(s, a, tx, ty);
            let dst: Vec<[f32; 2]> = TEMPLATE
                .iter()
                .map(|p| {
                    let (x, y) = truth.apply(p[0], p[1]);
                    [x, y]
                })
                .collect();
            let fit = umeyama_similarity(&TEMPLATE, &dst).expect("well-posed");
            assert_close(&fit, &truth, 1e-4);
        }
    }

    #[test]
    fn umeyama_with_noise_is_least_squares_and_close_to_truth() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let truth = similarity(0.5, 0.15, 100.0, 80.0);
        let dst: Vec<[f32; 2]> = TEMPLATE
            .iter()
            .map(|p| {
                let (x, y) = truth.apply(p[0], p[1]);
                [
                    x + rng.random_range(-1.0..1.0),
                    y + rng.random_range(-1.0..1.0),
                ]
            })
            .collect();
        let fit = umeyama_similarity(&TEMPLATE, &dst).expect("well-posed");
        assert!((fit.scale() - 0.5).abs() < 0.02, "scale {}", fit.scale());
        let sse = |t: &Affine2| -> f64 {
            TEMPLATE
                .iter()
                .zip(&dst)
                .map(|(p, d)| {
                    let (x, y) = t.apply(p[0], p[1]);
                    ((x - d[0]) as f64).powi(2) + ((y - d[1]) as f64).powi(2)
                })
                .sum()
        };
        // The fit is a minimum: any small perturbation of its parameters increases the error.
        let base = sse(&fit);
        assert!(base <= sse(&truth) + 1e-6);
        let ang = fit.m[1][0].atan2(fit.m[0][0]);
        for (ds, da, dx, dy) in [
            (1e-3, 0.0, 0.0, 0.0),
            (0.0, 1e-3, 0.0, 0.0),
            (0.0, 0.0, 0.05, 0.0),
            (0.0, 0.0, 0.0, -0.05),
        ] {
            let p = similarity(
                fit.scale() + ds,
                ang + da,
                fit.m[0][2] + dx,
                fit.m[1][2] + dy,
            );
            assert!(sse(&p) > base, "perturbed fit has lower error");
        }
    }

    #[test]
    fn umeyama_never_reflects() {
        // A mirrored point set: the best proper similarity still has det > 0.
        let dst: Vec<[f32; 2]> = TEMPLATE.iter().map(|p| [-p[0], p[1]]).collect();
        let fit = umeyama_similarity(&TEMPLATE, &dst).expect("mirrored set still correlates");
        assert!(fit.det() > 0.0);
    }

    #[test]
    fn umeyama_rejects_degenerate_input() {
        assert_eq!(umeyama_similarity(&[[1.0, 1.0]], &[[2.0, 2.0]]), None);
        assert_eq!(umeyama_similarity(&TEMPLATE, &TEMPLATE[..4]), None);
        assert_eq!(umeyama_similarity(&[[3.0, 3.0]; 5], &TEMPLATE), None);
        assert_eq!(umeyama_similarity(&TEMPLATE, &[[3.0, 3.0]; 5]), None);
        let mut nan = TEMPLATE;
        nan[2][0] = f32::NAN;
        assert_eq!(umeyama_similarity(&nan, &TEMPLATE), None);
    }
}
