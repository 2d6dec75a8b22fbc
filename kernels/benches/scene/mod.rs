//! The scene the kernel benches share: a 1080p frame with 4 faces of ~300 px at slight angles.

use sgpn_kernels::{Affine2, Rect, RgbImage, crop_bounds};

pub const W: usize = 1920;
pub const H: usize = 1080;
/// Side of each face's crop square in frame pixels.
pub const FACE_PX: f32 = 300.0;

/// One face: the crop → frame transform and the frame rectangle covering the crop.
pub struct Face {
    pub crop_to_frame: Affine2,
    pub rect: Rect,
}

pub fn faces(size: usize) -> Vec<Face> {
    let centres = [
        (400.0, 300.0),
        (900.0, 500.0),
        (1400.0, 350.0),
        (1000.0, 850.0),
    ];
    centres
        .iter()
        .enumerate()
        .map(|(i, &(cx, cy))| {
            let angle = 0.1 * i as f32 - 0.15;
            let s = FACE_PX / size as f32;
            let (sn, cs) = angle.sin_cos();
            let half = (size as f32 - 1.0) / 2.0;
            let lin = [[s * cs, -s * sn], [s * sn, s * cs]];
            let crop_to_frame = Affine2 {
                m: [
                    [
                        lin[0][0],
                        lin[0][1],
                        cx - lin[0][0] * half - lin[0][1] * half,
                    ],
                    [
                        lin[1][0],
                        lin[1][1],
                        cy - lin[1][0] * half - lin[1][1] * half,
                    ],
                ],
            };
            let rect = crop_bounds(&crop_to_frame, size, W, H).unwrap();
            Face {
                crop_to_frame,
                rect,
            }
        })
        .collect()
}

/// The frame -> region shift of a face's rectangle.
pub fn region_offset(rect: Rect) -> Affine2 {
    Affine2::scale_translate(1.0, -(rect.x as f32), -(rect.y as f32))
}

/// The whole frame as interleaved RGB `f32` with a deterministic texture (what the GPU path
/// uploads once per frame).
#[allow(dead_code)] // the CUDA bench's; `kernels` reads native frames instead
pub fn textured_rgb() -> RgbImage {
    let mut frame = RgbImage::new(W, H);
    for (i, v) in frame.data.iter_mut().enumerate() {
        *v = ((i * 31 + i / (3 * W) * 7) % 200 + 20) as f32;
    }
    frame
}
