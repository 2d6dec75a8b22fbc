//! Spherical-harmonics shading as D3DFR computes vertex colours (Deep3DFaceRecon
//! `models/bfm.py`: `SH`, `compute_color`; paper Sec. 3.1), on tensors: the nine-band basis of
//! the rotated normals times `gamma` reshaped to [3, 9] (plus D3DFR's ambient 0.8), times the
//! albedo. Constants and band order are the CPU reference's ([`sgpn_kernels::render::sh`]).

use burn::prelude::*;
use sgpn_kernels::render::sh::{A0C0, A1C1, A2C2, AMBIENT_INIT, SH_BANDS};

/// D3DFR `compute_color`: `albedo` [N, V, 3] · Σ_b Y_b(`normals`) · (γ_cb + [b = 0]·0.8), with
/// `normals` [N, V, 3] already rotated and `gamma` [N, 27]. Colours keep albedo's units.
pub fn sh_shade(albedo: Tensor<3>, normals: Tensor<3>, gamma: Tensor<2>) -> Tensor<3> {
    let [n, _] = gamma.dims();
    let device = gamma.device();
    let axis = |k| normals.clone().narrow(2, k, 1);
    let (x, y, z) = (axis(0), axis(1), axis(2));
    // Bands 6 and 8 carry 0.5·a2c2/√3 and 0.5·a2c2 (see the reference's basis).
    let band6 = 0.5 * A2C2 / 3f32.sqrt();
    let band8 = 0.5 * A2C2;
    let basis = Tensor::cat(
        vec![
            x.zeros_like().add_scalar(A0C0),
            y.clone() * (-A1C1),
            z.clone() * A1C1,
            x.clone() * (-A1C1),
            (x.clone() * y.clone()) * A2C2,
            (y.clone() * z.clone()) * (-A2C2),
            (z.clone().square() * 3.0).sub_scalar(1.0) * band6,
            (x.clone() * z) * (-A2C2),
            (x.square() - y.square()) * band8,
        ],
        2,
    );
    let mut ambient = vec![0.0f32; 3 * SH_BANDS];
    for band0 in ambient.iter_mut().step_by(SH_BANDS) {
        *band0 = AMBIENT_INIT;
    }
    let ambient = Tensor::<3>::from_data(TensorData::new(ambient, [1, 3, SH_BANDS]), &device);
    let weights = gamma.reshape([n, 3, SH_BANDS]) + ambient;
    albedo * basis.matmul(weights.swap_dims(1, 2))
}
