//! dlib's face-recognition network in burn (`sgpn_train::identity`) against dlib itself, its
//! reader on broken files, the fixed chip of the aligned crops, and the identity loss.
//!
//! `data/dlib_descriptors.json` holds dlib's own descriptors of four hq512 faces (four people).
//! Pillow's JPEG decoder and the `image` crate's differ by a grey level here and there, which
//! moves a descriptor by more than the port's error; so dlib was given the chips this test
//! builds ([`chip`]), which it writes to `target/tmp/identity_chips/`. With dlib 20.0.1 (PyPI
//! `dlib-bin==20.0.1.post1`, numpy, Pillow), from the workspace root, after a run of this test:
//!
//! ```python
//! import dlib, json, numpy as np
//! from PIL import Image
//! net = dlib.face_recognition_model_v1(".deps/models/dlib_face_recognition_resnet_model_v1.dat")
//! faces = []
//! for name in ["00005_0", "00022_0", "00082_0", "00119_0"]:
//!     c = np.asarray(Image.open(f"target/tmp/identity_chips/{name}.png"))
//!     faces.append({"file": name + ".jpg", "chip_sum": int(c.sum(dtype=np.int64)),
//!                   "descriptor": list(net.compute_face_descriptor(c))})
//! json.dump({"faces": faces}, open("train/tests/data/dlib_descriptors.json", "w"))
//! ```
//!
//! `chip_sum` tells a change of the chips (a new JPEG decoder) from an error of the port.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use sgpn_models::contract::Template;
use sgpn_train::data::cli::{default_detector, shared_data};
use sgpn_train::data::prepare::{RetinaFace, prepare_dir};
use sgpn_train::identity::chips::{CHIP_CENTRE, CHIP_SIDE};
use sgpn_train::identity::dlib_format::{INPUT_MEANS, parse_dlib_resnet};
use sgpn_train::identity::{
    IdentityNet, default_model_path, dlib_input, identity_chips, identity_loss,
};
use sgpn_train::model::init::normal_vec;
use sgpn_train::train::training_device;

const CHIP: usize = 150;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// The model file, or `None` (with the reason printed) when `scripts/setup-train.sh` has not
/// been run.
fn model() -> Option<PathBuf> {
    let path = default_model_path();
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "{} missing (scripts/setup-train.sh): skipped",
            path.display()
        );
        None
    }
}

fn hq512() -> Option<PathBuf> {
    let dir = shared_data("eval/hq512");
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!("shared evaluation data missing: skipped");
        None
    }
}

/// The fixture's chip: the 300×300 square at (110, 160) of a 512-px face, halved by 2×2 means
/// rounded half up; as an image, as planar RGB on 0..255, and the sum of its bytes.
fn chip(path: &Path) -> (image::RgbImage, Vec<f32>, u64) {
    let img = image::open(path).unwrap().to_rgb8();
    let chip = image::RgbImage::from_fn(CHIP as u32, CHIP as u32, |x, y| {
        let px = |dx: u32, dy: u32| img.get_pixel(110 + 2 * x + dx, 160 + 2 * y + dy).0;
        image::Rgb(std::array::from_fn(|c| {
            let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                .iter()
                .map(|&(dx, dy)| px(dx, dy)[c] as u32)
                .sum();
            ((sum + 2) / 4) as u8
        }))
    });
    let mut planar = vec![0f32; 3 * CHIP * CHIP];
    for (x, y, p) in chip.enumerate_pixels() {
        for c in 0..3 {
            planar[(c * CHIP + y as usize) * CHIP + x as usize] = p[c] as f32;
        }
    }
    let sum = chip.as_raw().iter().map(|&v| v as u64).sum();
    (chip, planar, sum)
}

#[derive(serde::Deserialize)]
struct Fixture {
    faces: Vec<FixtureFace>,
}

#[derive(serde::Deserialize)]
struct FixtureFace {
    file: String,
    chip_sum: u64,
    descriptor: Vec<f32>,
}

#[test]
fn descriptors_match_dlib() {
    let (Some(model), Some(dir)) = (model(), hq512()) else {
        return;
    };
    let fixture: Fixture =
        serde_json::from_str(include_str!("data/dlib_descriptors.json")).unwrap();
    let device = Device::flex();
    let net = IdentityNet::load(&model, &device).unwrap();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("identity_chips");
    std::fs::create_dir_all(&out).unwrap();
    let mut input = Vec::new();
    let mut sums = Vec::new();
    for face in &fixture.faces {
        let (rgb, planar, sum) = chip(&dir.join(&face.file));
        let stem = face.file.trim_end_matches(".jpg");
        rgb.save(out.join(format!("{stem}.png"))).unwrap();
        input.extend(planar);
        sums.push(sum);
    }
    for (face, sum) in fixture.faces.iter().zip(sums) {
        assert_eq!(
            sum, face.chip_sum,
            "{}: the chip's pixels differ from the ones dlib saw (JPEG decoder?)",
            face.file
        );
    }
    let n = fixture.faces.len();
    let x = Tensor::<4>::from_data(TensorData::new(input, [n, 3, CHIP, CHIP]), &device);
    let got = values(net.forward(dlib_input(x)));
    let mut max_diff = 0f32;
    for (i, face) in fixture.faces.iter().enumerate() {
        for (g, w) in got[i * 128..(i + 1) * 128].iter().zip(&face.descriptor) {
            max_diff = max_diff.max((g - w).abs());
        }
    }
    eprintln!("max |burn − dlib| over {n} descriptors: {max_diff:.2e}");
    assert!(max_diff < 1e-5, "max abs difference {max_diff}");
}

#[test]
fn malformed_model_files_are_errors() {
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("text", b"this is not a dlib network".to_vec()),
        ("zeros", vec![0u8; 4096]),
    ] {
        let err = parse_dlib_resnet(&bytes, what).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    let err = IdentityNet::load(Path::new("/nonexistent/dlib.dat"), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/dlib.dat"), "{err}");

    let Some(model) = model() else {
        return;
    };
    let bytes = std::fs::read(&model).unwrap();
    assert!(parse_dlib_resnet(&bytes, "whole").is_ok());
    // Cut inside the versions, the input layer, the first tensors and the fc layer.
    for cut in [
        1,
        40,
        300,
        320,
        1000,
        100_000,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let err = parse_dlib_resnet(&bytes[..cut], "cut")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ends"), "cut at {cut}: {err}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(parse_dlib_resnet(&longer, "longer").is_err());
    // The fc layer's version (byte 0x1e): 2 → 3 is not an add_layer version.
    let mut other = bytes.clone();
    other[0x1e] = 3;
    let err = parse_dlib_resnet(&other, "other").unwrap_err().to_string();
    assert!(err.contains("version 3"), "{err}");
    // The input layer's name, first letter.
    let at = bytes
        .windows(21)
        .position(|w| w == b"input_rgb_image_sized")
        .unwrap();
    let mut renamed = bytes;
    renamed[at] = b'X';
    let err = parse_dlib_resnet(&renamed, "renamed")
        .unwrap_err()
        .to_string();
    assert!(err.contains("Xnput_rgb_image_sized"), "{err}");
}

/// `identity_chips` is dlib's `extract_image_chip` on the fixed rectangle (bilinear, chip pixel
/// 0 on the left edge, 149 on the right), followed by dlib's input normalisation.
#[test]
fn identity_chips_is_the_bilinear_crop_of_the_fixed_rectangle() {
    let device = Device::flex();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let faces: Vec<f32> = normal_vec(&mut rng, 2 * 3 * 256 * 256)
        .into_iter()
        .map(|v| (v * 0.5).clamp(-1.0, 1.0))
        .collect();
    let t = Tensor::<4>::from_data(TensorData::new(faces.clone(), [2, 3, 256, 256]), &device);
    let got = values(identity_chips(t.clone()));
    let pos = |c: f64, i: usize| c - CHIP_SIDE / 2.0 + i as f64 * CHIP_SIDE / (CHIP - 1) as f64;
    let mut max_diff = 0f64;
    for n in 0..2 {
        for c in 0..3 {
            let plane = &faces[(n * 3 + c) * 256 * 256..][..256 * 256];
            for i in 0..CHIP {
                for j in 0..CHIP {
                    let (x, y) = (pos(CHIP_CENTRE[0], j), pos(CHIP_CENTRE[1], i));
                    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
                    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
                    let p = |xx: usize, yy: usize| plane[yy * 256 + xx] as f64;
                    let v = (1.0 - fy) * ((1.0 - fx) * p(x0, y0) + fx * p(x0 + 1, y0))
                        + fy * ((1.0 - fx) * p(x0, y0 + 1) + fx * p(x0 + 1, y0 + 1));
                    let want = ((v + 1.0) * 127.5 - INPUT_MEANS[c] as f64) / 256.0;
                    let g = got[((n * 3 + c) * CHIP + i) * CHIP + j] as f64;
                    max_diff = max_diff.max((g - want).abs());
                }
            }
        }
    }
    assert!(max_diff < 1e-5, "max abs difference {max_diff}");

    // A 512-px crop takes dlib's pyramid step first: the 2× nearest upsampling of a 256 face
    // halves back to it exactly, so both give the same chip.
    let big = values(identity_chips(
        t.reshape([2, 3, 256, 1, 256, 1])
            .repeat_dim(3, 2)
            .repeat_dim(5, 2)
            .reshape([2, 3, 512, 512]),
    ));
    let diff = big
        .iter()
        .zip(&got)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-5, "512 vs 256: {diff}");
}

/// The project's aligned 256-px crops of hq512 through the fixed chip: photos of one person
/// give close descriptors, photos of different people distant ones (dlib's same-person
/// threshold is a Euclidean distance of 0.6).
#[test]
fn the_fixed_chip_keeps_people_apart() {
    let (Some(model), Some(dir)) = (model(), hq512()) else {
        return;
    };
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("identity_hq512_256");
    let cfg = sgpn_models::SessionConfig::default();
    let mut detector = RetinaFace::load(&default_detector(), &cfg).unwrap();
    prepare_dir(
        &dir,
        &cache,
        256,
        &Template::Sgpn.landmarks(256),
        &mut detector,
        None,
        |_, _| {},
    )
    .unwrap();
    let crops = sgpn_train::data::prepare::prepared_crops(&cache).unwrap();
    let device = Device::flex();
    let net = IdentityNet::load(&model, &device).unwrap();
    let mut descriptors: Vec<(String, Vec<f32>)> = Vec::new();
    for batch in crops.chunks(16) {
        let mut planar = Vec::new();
        for path in batch {
            let img = image::open(path).unwrap().to_rgb8();
            planar.extend(sgpn_train::data::pixels::to_network_planar(
                &sgpn_train::data::pixels::rgb8_to_f32(&img),
            ));
        }
        let x =
            Tensor::<4>::from_data(TensorData::new(planar, [batch.len(), 3, 256, 256]), &device);
        let d = values(net.forward(identity_chips(x)));
        for (path, d) in batch.iter().zip(d.chunks(128)) {
            let name = path.file_name().unwrap().to_string_lossy();
            let person = name.split('_').next().unwrap().to_string();
            descriptors.push((person, d.to_vec()));
        }
    }
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for (i, (pa, a)) in descriptors.iter().enumerate() {
        for (pb, b) in &descriptors[i + 1..] {
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt();
            if pa == pb { &mut same } else { &mut different }.push(d);
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let max = same.iter().fold(0f32, |m, &v| m.max(v));
    let min = different.iter().fold(f32::MAX, |m, &v| m.min(v));
    let over = same.iter().filter(|&&d| d > 0.6).count();
    let under = different.iter().filter(|&&d| d < 0.6).count();
    eprintln!(
        "{} faces: same person {:.3} (max {max:.3}, {over}/{} over 0.6), different people {:.3} \
         (min {min:.3}, {under}/{} under 0.6)",
        descriptors.len(),
        mean(&same),
        same.len(),
        mean(&different),
        different.len(),
    );
    assert!(mean(&same) < 0.5 && mean(&different) > 0.8);
    assert!(over + under <= (same.len() + different.len()) / 100);
}

#[test]
fn identity_loss_is_zero_for_the_target_and_reaches_the_restored_face() {
    let Some(model) = model() else {
        return;
    };
    let device = training_device();
    let net = IdentityNet::load(&model, &device).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let target = Tensor::<4>::from_data(
        TensorData::new(
            normal_vec(&mut rng, 4 * 3 * 256 * 256)
                .into_iter()
                .map(|v| (v * 0.5).clamp(-1.0, 1.0))
                .collect::<Vec<_>>(),
            [4, 3, 256, 256],
        ),
        &device,
    );
    let same = values(identity_loss(&net, target.clone(), target.clone()))[0];
    assert!(same.abs() < 1e-5, "{same}");

    // Forward + backward at batch 4, as a training step runs it (printed, not asserted).
    let mut times = Vec::new();
    for _ in 0..3 {
        let restored = target.clone().flip([3]).require_grad();
        let start = Instant::now();
        let loss = identity_loss(&net, restored.clone(), target.clone());
        let grads = loss.clone().backward();
        let g = restored
            .grad(&grads)
            .expect("the restored faces get a gradient");
        let g_abs = values(g.abs().sum())[0];
        times.push(start.elapsed().as_secs_f64());
        assert!(values(loss)[0] > 1e-4 && g_abs > 0.0);
        assert!(net.fc.grad(&grads).is_none(), "the network is frozen");
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "identity loss forward + backward, batch 4: median {:.3} s of {times:.3?}",
        times[1]
    );
}
