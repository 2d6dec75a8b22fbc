//! Per-stage timings of the face pipeline at 720p and 1080p with 1 and 4 faces.
//!
//! `cargo bench -p sgpn-face --bench pipeline` prints a table of median milliseconds per stage and
//! frames per second. The generators are identity networks with 256 and 512 crops unless
//! `SGPN_BENCH_GENERATOR` names a real one, so `restore` is then the batched ONNX Runtime call
//! overhead, and the other columns are what the speed targets are about.

use std::path::PathBuf;

use sgpn_face::{FaceRestorer, RestoreParams, RestorerConfig, StageTimings};
use sgpn_kernels::frame::{Colorimetry, FrameMut, PixelFormat};
use sgpn_models::contract::Template;
use sgpn_models::fixtures::write_identity_generator;
use sgpn_models::runtime::Device;

const FRAMES: usize = 30;

fn deps() -> PathBuf {
    std::env::var_os("SGPN_DEPS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps")),
        PathBuf::from,
    )
}

/// A grey frame with `faces` copies of a White House portrait, each about `height / 2.5` tall.
fn frame_with_faces(width: usize, height: usize, faces: usize) -> Vec<u8> {
    let photo = image::open(deps().join("data/whitehouse/obama.jpg"))
        .expect("run ./scripts/setup.sh")
        .to_rgb8();
    let tile_h = (height as f32 / 2.5) as u32;
    let tile_w = tile_h * photo.width() / photo.height();
    let tile = image::imageops::resize(
        &photo,
        tile_w,
        tile_h,
        image::imageops::FilterType::Triangle,
    );
    let mut rgbx = vec![128u8; width * height * 4];
    for i in 0..faces {
        let (x0, y0) = (40 + (i % 2) * (width / 2), 20 + (i / 2) * (height / 2));
        for (x, y, p) in tile.enumerate_pixels() {
            let (fx, fy) = (x0 + x as usize, y0 + y as usize);
            if fx < width && fy < height {
                rgbx[(fy * width + fx) * 4..][..3].copy_from_slice(&p.0);
            }
        }
    }
    rgbx
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("sgpn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let generators: Vec<PathBuf> = match std::env::var_os("SGPN_BENCH_GENERATOR") {
        Some(path) => vec![PathBuf::from(path)],
        None => [256, 512]
            .into_iter()
            .map(|size| {
                let p = dir.join(format!("identity{size}.onnx"));
                write_identity_generator(&p, size, Template::Sgpn).unwrap();
                p
            })
            .collect(),
    };
    println!(
        "| generator | frame | faces | found | detect | track | align+warp | restore | paste | all but detect+restore | fps |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for generator in &generators {
        bench_generator(generator);
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn bench_generator(generator: &std::path::Path) {
    let cfg = RestorerConfig {
        detector_model: deps().join("models/retinaface_mnet025.onnx"),
        generator_model: generator.to_path_buf(),
        device: Device::Cpu,
        threads: 2,
    };
    let name = generator
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for (width, height) in [(1280, 720), (1920, 1080)] {
        for faces in [1, 4] {
            let original = frame_with_faces(width, height, faces);
            let mut restorer = FaceRestorer::new(&cfg).unwrap();
            let mut samples: Vec<StageTimings> = Vec::new();
            let mut found = 0;
            for i in 0..FRAMES + 3 {
                let mut pixels = original.clone();
                let mut frame = FrameMut::new(
                    PixelFormat::Rgbx,
                    width,
                    height,
                    vec![&mut pixels[..]],
                    vec![width * 4],
                    Colorimetry::default(),
                )
                .unwrap();
                found = restorer
                    .process_frame(&mut frame, &RestoreParams::default())
                    .unwrap()
                    .len();
                if i >= 3 {
                    samples.push(*restorer.timings());
                }
            }
            let m = |f: fn(&StageTimings) -> f64| median(samples.iter().map(f).collect());
            let total = m(StageTimings::total);
            println!(
                "| {name} | {width}x{height} | {faces} | {found} | {:.2} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
                m(|t| t.detect),
                m(|t| t.track),
                m(|t| t.align_warp),
                m(|t| t.restore),
                m(|t| t.paste),
                m(|t| t.without_restore() - t.detect),
                1e3 / total
            );
        }
    }
}
