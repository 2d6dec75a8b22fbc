//! Head pose and D3DFR's perspective camera on tensors (Deep3DFaceRecon `models/bfm.py`:
//! `compute_rotation`, `transform`, `to_camera`, `to_image`; paper Sec. 3.1), batched over faces
//! and differentiable in the angles, the translation and the vertices. The per-point CPU
//! reference is [`sgpn_kernels::render::rotation`] and [`Camera::project`].

use burn::prelude::*;
use sgpn_kernels::render::Camera;

/// D3DFR `compute_rotation` for `angles` [N, 3] = (x, y, z) in radians: `(Rz·Ry·Rx)ᵀ` [N, 3, 3],
/// to be applied to row vectors (`points.matmul(rotation)`).
pub fn rotation(angles: Tensor<2>) -> Tensor<3> {
    let [n, _] = angles.dims();
    let device = angles.device();
    let one = Tensor::<2>::ones([n, 1], &device);
    let zero = Tensor::<2>::zeros([n, 1], &device);
    let (s, c): (Vec<Tensor<2>>, Vec<Tensor<2>>) = (0..3)
        .map(|k| {
            let a = angles.clone().narrow(1, k, 1);
            (a.clone().sin(), a.cos())
        })
        .unzip();
    let matrix = |entries: [&Tensor<2>; 9]| {
        Tensor::cat(entries.into_iter().cloned().collect(), 1).reshape([n, 3, 3])
    };
    let (o, z) = (&one, &zero);
    let (nsx, nsy, nsz) = (s[0].clone().neg(), s[1].clone().neg(), s[2].clone().neg());
    let rx = matrix([o, z, z, z, &c[0], &nsx, z, &s[0], &c[0]]);
    let ry = matrix([&c[1], z, &s[1], z, o, z, &nsy, z, &c[1]]);
    let rz = matrix([&c[2], &nsz, z, &s[2], &c[2], z, z, z, o]);
    rz.matmul(ry).matmul(rx).swap_dims(1, 2)
}

/// Model-space `vertices` [N, V, 3] → screen [N, V, 3]: rotated (`vertices·rotation`), moved by
/// `translation` [N, 3], then `camera`'s `to_camera` and `project` — x, y in pixels (y down,
/// pixel centres at +0.5) and camera-space depth, the layout the rasteriser takes.
pub fn to_screen(
    vertices: Tensor<3>,
    rotation: Tensor<3>,
    translation: Tensor<2>,
    camera: &Camera,
) -> Tensor<3> {
    let world = vertices.matmul(rotation) + translation.unsqueeze_dim::<3>(1);
    let coord = |k| world.clone().narrow(2, k, 1);
    // to_camera: z' = distance − z.
    let depth = coord(2).neg().add_scalar(camera.distance);
    let x = (coord(0) * camera.focal)
        .div(depth.clone())
        .add_scalar(camera.center);
    let y = (coord(1) * (-camera.focal))
        .div(depth.clone())
        .add_scalar(camera.center);
    Tensor::cat(vec![x, y, depth], 2)
}
