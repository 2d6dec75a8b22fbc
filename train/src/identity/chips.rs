//! From the project's aligned face crops to the input of dlib's face-recognition network.
//!
//! dlib aligns a face for its network with `get_face_chip_details(shape, 150, 0.25)`: a
//! similarity fitted to the 5 landmarks of `shape_predictor_5_face_landmarks.dat`. Our crops are
//! already aligned (template `sgpn`, `sgpn_models::contract::Template`), so the chip is nearly
//! the same square in every crop, and a fixed crop stands in for dlib's per-face fit. It was
//! measured with dlib 20.0.1 (`dlib-bin`) on the 88 hq512 faces that `sgpn-train prepare
//! --size 256 --template sgpn` keeps: dlib's frontal detector and 5-point model on each
//! 256-px crop, the chip rectangle averaged over the faces (per-face spread: centre 1.0 / 1.7 px,
//! side 5.5 px, angle 2°; the same rectangles within 0.1 px when measured on the 512-px
//! originals and mapped through each face's alignment).

use burn::prelude::*;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;

use super::dlib_format::{INPUT_MEANS, INPUT_SIZE};

/// Side of the aligned crops the fixed chip is stated for.
pub const CROP_SIZE: usize = 256;
/// Centre (x, y) of dlib's face chip in a 256-px `sgpn` crop, pixel centres at integers.
pub const CHIP_CENTRE: [f64; 2] = [128.6, 153.2];
/// Side of dlib's chip rectangle (`chip_details::rect`, right − left) in the 256-px crop.
pub const CHIP_SIDE: f64 = 157.5;
/// dlib's input layer divides by 256 after subtracting [`INPUT_MEANS`].
const DLIB_SCALE: f32 = 256.0;

/// Faces in [-1, 1], planar RGB [N, 3, S, S] aligned on the `sgpn` template (S = 256 for the
/// measured crop; other sizes scale it), to dlib-normalised chips [N, 3, 150, 150].
///
/// Crop then bilinear resize as dlib's `extract_image_chip` does: chip pixel 0 samples the
/// rectangle's left (top) edge and pixel 149 its right (bottom) edge. Where the rectangle is
/// more than twice the chip's side, dlib first halves the image (`pyramid_down<2>`); this halves
/// with a 2×2 average. The resampling is two matrix products (rows, then columns), so it is
/// differentiable on every backend without a gather.
///
/// # Panics
///
/// If `faces` is not [N, 3, S, S].
pub fn identity_chips(faces: Tensor<4>) -> Tensor<4> {
    let [_, channels, h, w] = faces.dims();
    assert!(
        channels == 3 && h == w,
        "identity_chips: expected square RGB faces [N, 3, S, S], got {:?}",
        faces.dims()
    );
    let mut scale = w as f64 / CROP_SIZE as f64;
    let mut faces = faces;
    while CHIP_SIDE * scale > 2.0 * INPUT_SIZE as f64 {
        faces = avg_pool2d(faces, AvgPoolOptions::new([2, 2]).with_stride([2, 2]));
        scale /= 2.0;
    }
    let [_, _, h, w] = faces.dims();
    let device = faces.device();
    let side = CHIP_SIDE * scale;
    // Pixel centres at integers: a 2×2 pool moves the centre of pixel i to (i − 0.5)/2.
    let centre = |c: f64| (c + 0.5) * scale - 0.5;
    let rows = resample_matrix(centre(CHIP_CENTRE[1]), side, h, &device);
    let cols = resample_matrix(centre(CHIP_CENTRE[0]), side, w, &device);
    let chips = rows
        .unsqueeze::<4>()
        .matmul(faces)
        .matmul(cols.transpose().unsqueeze::<4>());
    dlib_input(chips.add_scalar(1.0).mul_scalar(127.5))
}

/// dlib's input normalisation of RGB on 0..255: `(v − mean) / 256` per channel.
pub fn dlib_input(rgb: Tensor<4>) -> Tensor<4> {
    let device = rgb.device();
    let means = Tensor::<1>::from_floats(INPUT_MEANS, &device).reshape([1, 3, 1, 1]);
    (rgb - means).div_scalar(DLIB_SCALE)
}

/// [150, n]: row i holds the bilinear weights of the source pixels at
/// `centre − side/2 + i · side/149` along a dimension of `n` pixels (edge pixels repeat
/// outside, which the measured crop never reaches).
fn resample_matrix(centre: f64, side: f64, n: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; INPUT_SIZE * n];
    let last = (n - 1) as f64;
    for i in 0..INPUT_SIZE {
        let x = (centre - side / 2.0 + i as f64 * side / (INPUT_SIZE - 1) as f64).clamp(0.0, last);
        let x0 = x.floor();
        let f = x - x0;
        let x0 = x0 as usize;
        let x1 = (x0 + 1).min(n - 1);
        m[i * n + x0] += (1.0 - f) as f32;
        m[i * n + x1] += f as f32;
    }
    Tensor::from_data(TensorData::new(m, [INPUT_SIZE, n]), device)
}
