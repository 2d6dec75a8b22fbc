//! Geometry between the landmarker's image-space mesh and the 3DMM frame: the axis change, the
//! similarity Procrustes alignment that removes pose and scale before the PCA (Generalised
//! Procrustes analysis as in BFM/Blanz–Vetter model building), and D3DFR's Euler angles of a
//! rotation (the inverse of `compute_rotation`, `sgpn_kernels::render::rotation`).

use crate::linalg::symmetric_eigen;

/// A similarity transform `q ≈ scale · rotation · p + translation` (column vectors).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub scale: f64,
    /// Row-major rotation acting on column vectors.
    pub rotation: [[f64; 3]; 3],
    pub translation: [f64; 3],
}

impl Similarity {
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let r = &self.rotation;
        std::array::from_fn(|i| {
            self.scale * (r[i][0] * p[0] + r[i][1] * p[1] + r[i][2] * p[2]) + self.translation[i]
        })
    }
}

/// Landmarker points (x right, y down in image pixels; z relative depth, smaller = nearer) in
/// the 3DMM's axes (x right, y up, z towards the camera), same pixel scale: y and z flip sign.
pub fn image_to_model_axes(points: &[[f32; 3]]) -> Vec<[f64; 3]> {
    points
        .iter()
        .map(|p| [p[0] as f64, -(p[1] as f64), -(p[2] as f64)])
        .collect()
}

/// Least-squares similarity from `source` to `target` (equal weights): Umeyama's scale and
/// translation with Horn's quaternion rotation (1987, the top eigenvector of the 4×4 matrix of
/// the cross-covariance), which cannot return a reflection. `None` for fewer than 3 points or a
/// degenerate (all-equal) source.
pub fn procrustes(source: &[[f64; 3]], target: &[[f64; 3]]) -> Option<Similarity> {
    let n = source.len();
    if n < 3 || target.len() != n {
        return None;
    }
    let centroid = |pts: &[[f64; 3]]| -> [f64; 3] {
        std::array::from_fn(|k| pts.iter().map(|p| p[k]).sum::<f64>() / n as f64)
    };
    let (ca, cb) = (centroid(source), centroid(target));
    let mut s = [[0.0f64; 3]; 3];
    let mut source_var = 0.0;
    for (a, b) in source.iter().zip(target) {
        let a = [a[0] - ca[0], a[1] - ca[1], a[2] - ca[2]];
        let b = [b[0] - cb[0], b[1] - cb[1], b[2] - cb[2]];
        for i in 0..3 {
            for j in 0..3 {
                s[i][j] += a[i] * b[j];
            }
        }
        source_var += a[0] * a[0] + a[1] * a[1] + a[2] * a[2];
    }
    if source_var <= 1e-300 || !source_var.is_finite() {
        return None;
    }
    let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = s;
    let horn = [
        sxx + syy + szz,
        syz - szy,
        szx - sxz,
        sxy - syx,
        syz - szy,
        sxx - syy - szz,
        sxy + syx,
        szx + sxz,
        szx - sxz,
        sxy + syx,
        -sxx + syy - szz,
        syz + szy,
        sxy - syx,
        szx + sxz,
        syz + szy,
        -sxx - syy + szz,
    ];
    let (_, vectors) = symmetric_eigen(&horn, 4);
    let [w, x, y, z] = [vectors[0][0], vectors[0][1], vectors[0][2], vectors[0][3]];
    let rotation = [
        [
            w * w + x * x - y * y - z * z,
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            w * w - x * x + y * y - z * z,
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            w * w - x * x - y * y + z * z,
        ],
    ];
    let mut dot = 0.0;
    for (a, b) in source.iter().zip(target) {
        let a = [a[0] - ca[0], a[1] - ca[1], a[2] - ca[2]];
        let b = [b[0] - cb[0], b[1] - cb[1], b[2] - cb[2]];
        for i in 0..3 {
            dot += b[i] * (0..3).map(|j| rotation[i][j] * a[j]).sum::<f64>();
        }
    }
    let scale = dot / source_var;
    let rc: [f64; 3] = std::array::from_fn(|i| (0..3).map(|j| rotation[i][j] * ca[j]).sum());
    let translation = std::array::from_fn(|i| cb[i] - scale * rc[i]);
    Some(Similarity {
        scale,
        rotation,
        translation,
    })
}

/// D3DFR angles `[x, y, z]` whose `compute_rotation` (`(Rz·Ry·Rx)ᵀ` on row vectors) equals the
/// column-vector rotation `m = Rz·Ry·Rx`: `m[2][0] = −sin y`, `m[2][1] = cos y·sin x`,
/// `m[2][2] = cos y·cos x`, `m[1][0] = sin z·cos y`, `m[0][0] = cos z·cos y`.
pub fn d3dfr_angles(m: &[[f64; 3]; 3]) -> [f32; 3] {
    let y = (-m[2][0]).clamp(-1.0, 1.0).asin();
    let x = m[2][1].atan2(m[2][2]);
    let z = m[1][0].atan2(m[0][0]);
    [x as f32, y as f32, z as f32]
}

/// Points centred on their centroid.
pub fn centred(points: &[[f64; 3]]) -> Vec<[f64; 3]> {
    let n = points.len().max(1) as f64;
    let c: [f64; 3] = std::array::from_fn(|k| points.iter().map(|p| p[k]).sum::<f64>() / n);
    points
        .iter()
        .map(|p| [p[0] - c[0], p[1] - c[1], p[2] - c[2]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgpn_kernels::render::{rotate, rotation};

    #[test]
    fn procrustes_recovers_a_similarity() {
        let source: Vec<[f64; 3]> = (0..20)
            .map(|i| {
                let t = i as f64;
                [t.sin() * 3.0, (t * 0.7).cos() * 2.0, (t * 1.3).sin()]
            })
            .collect();
        let angles = [0.3f32, -0.4, 0.2];
        let rot = rotation(angles);
        let truth = |p: [f64; 3]| {
            let r = rotate([p[0] as f32, p[1] as f32, p[2] as f32], &rot);
            [
                2.5 * r[0] as f64 + 1.0,
                2.5 * r[1] as f64 - 2.0,
                2.5 * r[2] as f64 + 0.5,
            ]
        };
        let target: Vec<[f64; 3]> = source.iter().map(|&p| truth(p)).collect();
        let sim = procrustes(&source, &target).unwrap();
        assert!((sim.scale - 2.5).abs() < 1e-5, "{}", sim.scale);
        for (p, q) in source.iter().zip(&target) {
            let a = sim.apply(*p);
            assert!((0..3).all(|k| (a[k] - q[k]).abs() < 1e-4), "{a:?} vs {q:?}");
        }
        // The angles of the recovered rotation reproduce D3DFR's rotation.
        let back = d3dfr_angles(&sim.rotation);
        for k in 0..3 {
            assert!((back[k] - angles[k]).abs() < 1e-4, "{back:?} vs {angles:?}");
        }
    }

    #[test]
    fn procrustes_refuses_degenerate_input() {
        assert!(procrustes(&[[1.0; 3]; 5], &[[0.0; 3]; 5]).is_none());
        assert!(procrustes(&[[1.0; 3]; 2], &[[0.0; 3]; 2]).is_none());
    }
}
