//! RetinaFace on real photos: one face per White House portrait with landmarks in face order,
//! several faces in a group photo, none in a face-free image.

use std::path::{Path, PathBuf};

use sgpn_kernels::image::RgbImage;
use sgpn_models::{Detection, FaceDetector, ModelError, SessionConfig};

mod support;
use support::load_working_copy;

fn deps() -> PathBuf {
    std::env::var_os("SGPN_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps"))
}

fn shared_data() -> PathBuf {
    std::env::var_os("SGPN_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn detector() -> FaceDetector {
    let cfg = SessionConfig {
        intra_threads: 2,
        ..Default::default()
    };
    FaceDetector::load(&deps().join("models/retinaface_mnet025.onnx"), &cfg).unwrap()
}

/// Eyes above the nose above the mouth corners, image-left before image-right, all inside the
/// box: what any frontal or moderately turned face satisfies.
fn assert_plausible(d: &Detection, what: &str) {
    let [le, re, nose, lm, rm] = d.landmarks;
    let [x0, y0, x1, y1] = d.bbox;
    assert!(
        le[0] < re[0] && lm[0] < rm[0],
        "{what}: left/right order {d:?}"
    );
    assert!(
        le[1].max(re[1]) < nose[1] && nose[1] < lm[1].min(rm[1]),
        "{what}: vertical order {d:?}"
    );
    for p in d.landmarks {
        assert!(
            p[0] > x0 && p[0] < x1 && p[1] > y0 && p[1] < y1,
            "{what}: landmark outside box {d:?}"
        );
    }
}

#[test]
fn each_white_house_portrait_has_exactly_one_plausible_face() {
    let mut det = detector();
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let img = load_working_copy(&deps().join("data/whitehouse").join(name), 640);
        let faces = det.detect(&img, 0.8, 0.4).unwrap();
        println!("{name} {}x{}: {faces:?}", img.width, img.height);
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        let f = &faces[0];
        assert!(f.score > 0.95, "{name}: {f:?}");
        assert_plausible(f, name);
        // A portrait: the face spans a sizeable part of the frame.
        let side = (f.bbox[2] - f.bbox[0]).min(f.bbox[3] - f.bbox[1]);
        assert!(
            side > 0.1 * img.width.min(img.height) as f32,
            "{name}: {f:?}"
        );
    }
}

#[test]
fn coordinates_follow_the_image_scale() {
    let mut det = detector();
    let path = deps().join("data/whitehouse/obama.jpg");
    let small = det
        .detect(&load_working_copy(&path, 320), 0.8, 0.4)
        .unwrap();
    let large = det
        .detect(&load_working_copy(&path, 640), 0.8, 0.4)
        .unwrap();
    assert_eq!((small.len(), large.len()), (1, 1));
    for (a, b) in small[0].landmarks.iter().zip(&large[0].landmarks) {
        // Same point at half the scale, to within a few pixels of the larger image.
        assert!(
            (a[0] * 2.0 - b[0]).abs() < 6.0 && (a[1] * 2.0 - b[1]).abs() < 6.0,
            "{small:?} {large:?}"
        );
    }
}

#[test]
fn a_group_photo_has_several_faces_sorted_by_score() {
    let mut det = detector();
    // Four young men side by side, heads at about the same height (GFPGAN/CodeFormer input).
    let img = load_working_copy(&shared_data().join("real-lq/whole/02.png"), 960);
    let faces = det.detect(&img, 0.8, 0.4).unwrap();
    assert_eq!(faces.len(), 4, "{faces:?}");
    let mut centres: Vec<f32> = faces
        .iter()
        .map(|f| (f.bbox[0] + f.bbox[2]) / 2.0)
        .collect();
    centres.sort_by(f32::total_cmp);
    for pair in centres.windows(2) {
        assert!(pair[1] - pair[0] > 100.0, "one face per person: {faces:?}");
    }
    assert!(faces.windows(2).all(|w| w[0].score >= w[1].score));
    for (i, f) in faces.iter().enumerate() {
        assert_plausible(f, &format!("face {i}"));
    }
    // NMS: no two kept faces overlap much.
    for (i, a) in faces.iter().enumerate() {
        for b in &faces[i + 1..] {
            let ix = (a.bbox[2].min(b.bbox[2]) - a.bbox[0].max(b.bbox[0])).max(0.0);
            let iy = (a.bbox[3].min(b.bbox[3]) - a.bbox[1].max(b.bbox[1])).max(0.0);
            let area = |d: &Detection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
            assert!(ix * iy / (area(a) + area(b) - ix * iy) <= 0.4);
        }
    }
}

#[test]
fn images_without_faces_give_none() {
    let mut det = detector();
    let grey = RgbImage {
        width: 640,
        height: 360,
        data: vec![128.0; 640 * 360 * 3],
    };
    assert_eq!(det.detect(&grey, 0.8, 0.4).unwrap(), vec![]);
    // A smooth colour gradient: structure but no face.
    let mut gradient = RgbImage::new(320, 240);
    for y in 0..240 {
        for x in 0..320 {
            let i = (y * 320 + x) * 3;
            gradient.data[i..i + 3].copy_from_slice(&[
                x as f32 * 0.8,
                y as f32,
                255.0 - x as f32 * 0.5,
            ]);
        }
    }
    assert_eq!(det.detect(&gradient, 0.8, 0.4).unwrap(), vec![]);
    // Real photo content without a face: the lower part of the group photo (shirts, jackets,
    // hands, a belt), below every chin.
    let group = image::open(shared_data().join("real-lq/whole/02.png"))
        .unwrap()
        .to_rgb8();
    let (w, h) = (group.width(), group.height());
    let bottom = image::imageops::crop_imm(&group, 0, h * 2 / 3, w, h - h * 2 / 3).to_image();
    let bottom = RgbImage::from_rgb8(
        bottom.width() as usize,
        bottom.height() as usize,
        bottom.as_raw(),
    )
    .unwrap();
    assert_eq!(det.detect(&bottom, 0.8, 0.4).unwrap(), vec![]);
}

#[test]
fn a_malformed_image_is_an_error_naming_the_model() {
    let mut det = detector();
    let bad = RgbImage {
        width: 10,
        height: 10,
        data: vec![0.0; 299],
    };
    let err = det.detect(&bad, 0.8, 0.4).unwrap_err();
    assert!(matches!(err, ModelError::Shape { .. }), "{err:?}");
    assert!(
        err.to_string().contains("retinaface_mnet025.onnx")
            && err.to_string().contains("10x10 with 299 values")
    );
}

#[test]
fn a_generator_is_not_accepted_as_a_detector() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("not_a_detector.onnx");
    sgpn_models::fixtures::write_identity_generator(&path, 32, sgpn_models::Template::Sgpn)
        .unwrap();
    let err = FaceDetector::load(&path, &SessionConfig::default())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.starts_with("face detector model ") && msg.contains("has no input 'input'"),
        "{msg}"
    );
}

#[test]
fn tiny_and_odd_sized_images_are_handled() {
    let mut det = detector();
    for (w, h) in [(1, 1), (7, 5), (33, 17), (641, 359)] {
        let img = RgbImage {
            width: w,
            height: h,
            data: vec![100.0; w * h * 3],
        };
        let faces = det.detect(&img, 0.8, 0.4);
        println!("{w}x{h}: {faces:?}");
        assert_eq!(faces.unwrap(), vec![], "{w}x{h}");
    }
}

#[test]
fn sessions_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<FaceDetector>();
    assert_send::<sgpn_models::Generator>();
    assert_send::<ModelError>();
}
