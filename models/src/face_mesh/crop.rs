//! Where the face landmarker looks: the 192×192 crop that MediaPipe's face mesh pipeline feeds it
//! (`modules/face_landmark/face_landmark_landmarks_to_roi.pbtxt`: the bounding box of the face's
//! 468 landmarks, made square on its longer side and scaled by 1.5, rotated so that the eyes
//! are level). The landmarker was trained on crops framed that way, so this module frames every
//! face the same way, from what the project knows about a face:
//!
//! - 5 landmarks (RetinaFace order): the rotation comes from the eye line, as MediaPipe takes it
//!   from its detector's eye keypoints; scale and centre are the least-squares fit (under that
//!   rotation) of [`CROP_TEMPLATE`], where the 5 points of the frontal canonical mesh fall in
//!   MediaPipe's crop of it. Using all 5 points keeps the crop steady when one is noisy.
//! - a detector box only: no rotation; the crop centre and side follow the box with the factors
//!   [`BOX_SIDE_SCALE`] and [`BOX_CENTRE_SHIFT`], measured on RetinaFace boxes.

use sgpn_kernels::Affine2;

use super::canonical::CanonicalMesh;

/// Side of the landmarker's square input, in pixels.
pub const CROP_SIZE: usize = 192;
/// MediaPipe's ROI scale: the crop side is 1.5 × the longer side of the landmarks' bounding box.
pub const ROI_SCALE: f32 = 1.5;

/// Mesh points that stand for the project's 5 landmarks (image-left eye, image-right eye, nose,
/// image-left mouth corner, image-right mouth corner): an eye is the mean of its two corners.
pub const LEFT_EYE_CORNERS: [usize; 2] = [33, 133];
pub const RIGHT_EYE_CORNERS: [usize; 2] = [362, 263];
pub const NOSE_TIP: usize = 1;
pub const MOUTH_CORNERS: [usize; 2] = [61, 291];

/// The 5 landmarks of the canonical mesh in its MediaPipe crop, in crop pixels (pixel centres at
/// integers): [`crop_template`] of the canonical mesh, rounded to 3 decimals (a test recomputes it
/// from the file).
pub const CROP_TEMPLATE: [[f32; 2]; 5] = [
    [72.667, 72.346],
    [118.333, 72.346],
    [95.5, 99.529],
    [77.703, 122.830],
    [113.297, 122.830],
];

/// Crop side over the longer side of a RetinaFace box: the median ratio of the landmark-fitted
/// crop to the box on 120 `aaf-train` faces (every 97th file; 10–90 % range 1.30–1.48).
pub const BOX_SIDE_SCALE: f32 = 1.39;
/// Crop centre below the box centre, in box heights (RetinaFace boxes reach higher on the
/// forehead than MediaPipe's landmarks do): median of the same faces (10–90 % range 0.03–0.09;
/// the horizontal offset's median is 0.001 box widths, so none is applied).
pub const BOX_CENTRE_SHIFT: f32 = 0.06;

/// What frames a face for the landmarker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaceRegion {
    /// Left eye, right eye, nose, left mouth corner, right mouth corner, in image pixels.
    Landmarks([[f32; 2]; 5]),
    /// x0, y0, x1, y1 of a face detector box, in image pixels.
    Box([f32; 4]),
}

impl FaceRegion {
    /// The crop → image transform of the face's [`CROP_SIZE`] crop (see the module header), or
    /// `None` when the region cannot frame a face: non-finite values, coincident eyes, or an
    /// empty box.
    pub fn crop_to_image(&self) -> Option<Affine2> {
        let t = match self {
            FaceRegion::Landmarks(points) => fit_with_eye_rotation(&CROP_TEMPLATE, points)?,
            FaceRegion::Box([x0, y0, x1, y1]) => {
                let (w, h) = (x1 - x0, y1 - y0);
                if !(w > 0.0 && h > 0.0) {
                    return None;
                }
                let side = BOX_SIDE_SCALE * w.max(h);
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0 + BOX_CENTRE_SHIFT * h);
                let s = side / CROP_SIZE as f32;
                let half = (CROP_SIZE as f32 - 1.0) / 2.0;
                Affine2::scale_translate(s, cx - s * half, cy - s * half)
            }
        };
        t.m.iter().flatten().all(|v| v.is_finite()).then_some(t)
    }
}

/// The project's 5 landmarks from 468 mesh points (x, y of `point(i)`), in landmark order.
pub(crate) fn five_landmarks(point: impl Fn(usize) -> [f32; 2]) -> [[f32; 2]; 5] {
    let mean = |[a, b]: [usize; 2]| {
        let (p, q) = (point(a), point(b));
        [(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0]
    };
    let [ml, mr] = MOUTH_CORNERS;
    [
        mean(LEFT_EYE_CORNERS),
        mean(RIGHT_EYE_CORNERS),
        point(NOSE_TIP),
        point(ml),
        point(mr),
    ]
}

/// Where the canonical mesh's 5 landmarks fall in MediaPipe's crop of the frontal canonical face
/// (image y = −mesh y): the crop is centred on the bounding box of all vertices and is
/// [`ROI_SCALE`] × its longer side wide. [`CROP_TEMPLATE`] holds the result.
pub fn crop_template(mesh: &CanonicalMesh) -> [[f32; 2]; 5] {
    let image_xy = |i: usize| [mesh.vertices[i][0], -mesh.vertices[i][1]];
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for i in 0..mesh.vertices.len() {
        let p = image_xy(i);
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let side = ROI_SCALE * (hi[0] - lo[0]).max(hi[1] - lo[1]);
    let half = (CROP_SIZE as f32 - 1.0) / 2.0;
    five_landmarks(image_xy).map(|p| {
        [
            (p[0] - centre[0]) / side * CROP_SIZE as f32 + half,
            (p[1] - centre[1]) / side * CROP_SIZE as f32 + half,
        ]
    })
}

/// The similarity crop → image that turns the crop's x axis onto the eye line of `image` and
/// maps `template` onto `image` with least squared error under that rotation (scale and
/// translation in closed form: the rotation-constrained Umeyama fit). Computed in f64.
fn fit_with_eye_rotation(template: &[[f32; 2]; 5], image: &[[f32; 2]; 5]) -> Option<Affine2> {
    let q: Vec<[f64; 2]> = image.iter().map(|p| p.map(f64::from)).collect();
    let p: Vec<[f64; 2]> = template.iter().map(|p| p.map(f64::from)).collect();
    let (ex, ey) = (q[1][0] - q[0][0], q[1][1] - q[0][1]);
    let eye_distance = ex.hypot(ey);
    if !(eye_distance > 0.0 && eye_distance.is_finite()) {
        return None;
    }
    let (c, s) = (ex / eye_distance, ey / eye_distance);
    let mean = |v: &[[f64; 2]]| {
        let n = v.len() as f64;
        [
            v.iter().map(|a| a[0]).sum::<f64>() / n,
            v.iter().map(|a| a[1]).sum::<f64>() / n,
        ]
    };
    let (pm, qm) = (mean(&p), mean(&q));
    let (mut num, mut den) = (0.0, 0.0);
    for (a, b) in p.iter().zip(&q) {
        let (px, py) = (a[0] - pm[0], a[1] - pm[1]);
        let (rx, ry) = (c * px - s * py, s * px + c * py);
        num += rx * (b[0] - qm[0]) + ry * (b[1] - qm[1]);
        den += rx * rx + ry * ry;
    }
    let scale = num / den;
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let (a, b) = (scale * c, scale * s);
    let m = [
        [a, -b, qm[0] - (a * pm[0] - b * pm[1])],
        [b, a, qm[1] - (b * pm[0] + a * pm[1])],
    ];
    Some(Affine2 {
        m: m.map(|r| r.map(|v| v as f32)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template itself maps to itself; a rotated, scaled, shifted copy is recovered exactly.
    #[test]
    fn landmark_fit_recovers_a_similarity() {
        let id = FaceRegion::Landmarks(CROP_TEMPLATE)
            .crop_to_image()
            .unwrap();
        for (v, w) in
            id.m.iter()
                .flatten()
                .zip(Affine2::identity().m.iter().flatten())
        {
            assert!((v - w).abs() < 1e-4, "{id:?}");
        }
        let (angle, scale, tx, ty) = (0.3f32, 2.5f32, 410.0f32, -35.0f32);
        let (c, s) = (scale * angle.cos(), scale * angle.sin());
        let moved = CROP_TEMPLATE.map(|[x, y]| [c * x - s * y + tx, s * x + c * y + ty]);
        let t = FaceRegion::Landmarks(moved).crop_to_image().unwrap();
        let want = [[c, -s, tx], [s, c, ty]];
        for (v, w) in t.m.iter().flatten().zip(want.iter().flatten()) {
            assert!((v - w).abs() < 1e-3, "{t:?} vs {want:?}");
        }
    }

    #[test]
    fn rotation_follows_the_eyes_not_the_mouth() {
        // Mouth corners pulled to one side (a smirk) must not tilt the crop.
        let mut lm = CROP_TEMPLATE;
        lm[3][1] += 8.0;
        let t = FaceRegion::Landmarks(lm).crop_to_image().unwrap();
        assert!(t.m[1][0].abs() < 1e-6 && t.m[0][1].abs() < 1e-6, "{t:?}");
    }

    #[test]
    fn degenerate_regions_give_none() {
        let mut same_eyes = CROP_TEMPLATE;
        same_eyes[1] = same_eyes[0];
        assert_eq!(FaceRegion::Landmarks(same_eyes).crop_to_image(), None);
        let mut nan = CROP_TEMPLATE;
        nan[2][0] = f32::NAN;
        assert_eq!(FaceRegion::Landmarks(nan).crop_to_image(), None);
        assert_eq!(
            FaceRegion::Box([10.0, 10.0, 10.0, 50.0]).crop_to_image(),
            None
        );
        assert_eq!(
            FaceRegion::Box([0.0, 0.0, f32::INFINITY, 5.0]).crop_to_image(),
            None
        );
    }

    #[test]
    fn box_crop_is_centred_below_the_box_centre_and_wider() {
        let t = FaceRegion::Box([100.0, 50.0, 200.0, 170.0])
            .crop_to_image()
            .unwrap();
        let half = (CROP_SIZE as f32 - 1.0) / 2.0;
        let (cx, cy) = t.apply(half, half);
        assert!((cx - 150.0).abs() < 1e-3);
        assert!((cy - (110.0 + BOX_CENTRE_SHIFT * 120.0)).abs() < 1e-3);
        assert!((t.scale() * CROP_SIZE as f32 - BOX_SIDE_SCALE * 120.0).abs() < 1e-3);
    }
}
