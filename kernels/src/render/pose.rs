//! Head pose as D3DFR applies it (Deep3DFaceRecon `models/bfm.py`: `compute_rotation`,
//! `transform`; paper Sec. 3.1): three angles in radians give `rot = (Rz·Ry·Rx)ᵀ`, and a point,
//! as a row vector, moves to `p·rot + t` — the same as rotating it by `Rz·Ry·Rx`.

/// D3DFR `compute_rotation`: `(Rz(z)·Ry(y)·Rx(x))ᵀ` for `angles = [x, y, z]` in radians,
/// row-major, to be applied to row vectors with [`rotate`].
pub fn rotation(angles: [f32; 3]) -> [[f32; 3]; 3] {
    let [(sx, cx), (sy, cy), (sz, cz)] = angles.map(f32::sin_cos);
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    let r = matmul(&matmul(&rz, &ry), &rx);
    std::array::from_fn(|i| std::array::from_fn(|j| r[j][i]))
}

/// `p·rot`, a row vector times a matrix (D3DFR's `face_shape @ rot`, also used on normals).
#[inline]
pub fn rotate(p: [f32; 3], rot: &[[f32; 3]; 3]) -> [f32; 3] {
    std::array::from_fn(|j| p[0] * rot[0][j] + p[1] * rot[1][j] + p[2] * rot[2][j])
}

fn matmul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}
