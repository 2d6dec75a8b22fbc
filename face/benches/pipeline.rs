//! Per-stage timings of the face pipeline at 720p and 1080p with 1 and 4 faces.
//!
//! `cargo bench -p sgpn-face --bench pipeline` prints a table of median milliseconds per stage and
//! frames per second. The generators are identity networks with 256 and 512 crops unless
//! `SGPN_BENCH_GENERATOR` names a real one, so `restore` is then the batched ONNX Runtime call
//! overhead, and the other columns are what the speed targets are about.
//!
//! The shape step (paper Sec. 3.1) runs with `full` fixture generators of the same sizes, a
//! constant shape regressor fixture (`regress` is the resize to 224 plus the ONNX Runtime call,
//! not a ResNet) and the 441-vertex synthetic 3DMM (`render` is the 3DMM, SH shading and
//! rasterisation at the crop size, the part that scales with S); `SGPN_BENCH_REGRESSOR` and
//! `SGPN_BENCH_MORPHABLE` name real files instead, and a real full generator in
//! `SGPN_BENCH_GENERATOR` needs them.
//!
//! `paste` includes the colour fix (`sgpn_face::colour`) and the detail smoothing over frames
//! (`sgpn_face::stabilise`) at the element's defaults; `SGPN_BENCH_DETAIL_SMOOTHING=0` measures
//! paste-back without the smoothing.
//!
//! `SGPN_BENCH_KERNELS=cuda` runs the stages from the warp on with the CUDA kernels, the
//! buffers kept on the GPU (`KernelDevice::Cuda`; the networks stay on ONNX Runtime's CPU
//! provider, so `restore` then includes copying the crops to the host and back). The GPU's work
//! is asynchronous: `paste` includes waiting for it at the frame's download. 1080p is also run
//! with 8 faces, the size of the GPU path's target (all non-network work under 1 ms).

use std::path::{Path, PathBuf};

use sgpn_face::{
    FaceRestorer, KernelDevice, OutputMode, RestoreParams, RestorerConfig, ShapeConfig,
    StageTimings,
};
use sgpn_kernels::frame::{Colorimetry, FrameMut, PixelFormat};
use sgpn_models::contract::Template;
use sgpn_models::fixtures::{
    ellipsoid_cap_morphable, write_frontal_shape_prior, write_identity_generator,
    write_render_blend_generator,
};
use sgpn_models::runtime::Device;

const FRAMES: usize = 30;

fn deps() -> PathBuf {
    std::env::var_os("SGPN_DEPS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps")),
        PathBuf::from,
    )
}

/// A grey frame with `faces` copies of a White House portrait in two rows, each about
/// `height / 2.5` tall.
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
    let columns = faces.div_ceil(2).max(1);
    for i in 0..faces {
        let (x0, y0) = (
            40 + (i % columns) * (width / columns),
            20 + (i / columns) * (height / 2),
        );
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
    let real_shape = real_shape_prior();
    let generators: Vec<(PathBuf, Option<ShapeConfig>)> =
        match std::env::var_os("SGPN_BENCH_GENERATOR") {
            // A real full generator runs with the real shape prior files.
            Some(path) => vec![(PathBuf::from(path), real_shape)],
            None => {
                let shape = real_shape.unwrap_or_else(|| fixture_shape_prior(&dir));
                [256, 512]
                    .into_iter()
                    .flat_map(|size| {
                        let identity = dir.join(format!("identity{size}.onnx"));
                        write_identity_generator(&identity, size, Template::Sgpn).unwrap();
                        let full = dir.join(format!("full-fixture{size}.onnx"));
                        write_render_blend_generator(&full, size, Template::Sgpn).unwrap();
                        [(identity, None), (full, Some(shape.clone()))]
                    })
                    .collect()
            }
        };
    println!(
        "| generator | frame | faces | found | detect | track | align+warp | regress | render | render/face | restore | paste | all but detect+restore | fps |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (generator, shape) in &generators {
        bench_generator(generator, shape.as_ref());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The shape prior files `SGPN_BENCH_REGRESSOR` and `SGPN_BENCH_MORPHABLE`, if both are given.
fn real_shape_prior() -> Option<ShapeConfig> {
    let regressor = std::env::var_os("SGPN_BENCH_REGRESSOR")?;
    let morphable = std::env::var_os("SGPN_BENCH_MORPHABLE")?;
    Some(ShapeConfig {
        regressor_path: regressor.into(),
        morphable_path: morphable.into(),
    })
}

/// A frontal regressor and an ellipsoid-cap 3DMM written to `dir`.
fn fixture_shape_prior(dir: &Path) -> ShapeConfig {
    let morphable_path = dir.join("cap.safetensors");
    let regressor_path = dir.join("frontal-regressor.onnx");
    write_frontal_shape_prior(
        &ellipsoid_cap_morphable(80, 80, [0.8, 0.6, 0.5]),
        &morphable_path,
        &regressor_path,
        Template::Sgpn,
    )
    .unwrap();
    ShapeConfig {
        regressor_path,
        morphable_path,
    }
}

fn bench_generator(generator: &Path, shape: Option<&ShapeConfig>) {
    let cfg = RestorerConfig {
        detector_model: deps().join("models/retinaface_mnet025.onnx"),
        generator_model: generator.to_path_buf(),
        device: Device::Cpu,
        threads: 2,
        tensorrt: Default::default(),
        kernels: match std::env::var("SGPN_BENCH_KERNELS").as_deref() {
            Ok("cuda") => KernelDevice::Cuda,
            Ok("cpu") | Err(_) => KernelDevice::Cpu,
            Ok(other) => panic!("SGPN_BENCH_KERNELS: cpu or cuda, not {other}"),
        },
        shape: shape.cloned(),
        output_mode: OutputMode::Restored,
    };
    let name = generator
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let params = RestoreParams {
        detail_smoothing: std::env::var("SGPN_BENCH_DETAIL_SMOOTHING")
            .map_or(RestoreParams::default().detail_smoothing, |v| {
                v.parse().expect("SGPN_BENCH_DETAIL_SMOOTHING: a number")
            }),
        ..RestoreParams::default()
    };
    for (width, height, face_counts) in [(1280, 720, &[1, 4][..]), (1920, 1080, &[1, 4, 8][..])] {
        for &faces in face_counts {
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
                found = restorer.process_frame(&mut frame, &params).unwrap().len();
                if i >= 3 {
                    samples.push(*restorer.timings());
                }
            }
            let m = |f: fn(&StageTimings) -> f64| median(samples.iter().map(f).collect());
            let total = m(StageTimings::total);
            let render = m(|t| t.render);
            println!(
                "| {name} | {width}x{height} | {faces} | {found} | {:.2} | {:.3} | {:.2} | {:.2} | {render:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
                m(|t| t.detect),
                m(|t| t.track),
                m(|t| t.align_warp),
                m(|t| t.regress),
                render / found.max(1) as f64,
                m(|t| t.restore),
                m(|t| t.paste),
                m(|t| t.without_restore() - t.detect),
                1e3 / total
            );
        }
    }
}
