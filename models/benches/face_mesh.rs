//! Face landmarker latency per face (crop warp + ONNX Runtime + mapping back), 2 intra-op
//! threads, CPU, for batches of 1, 4 and 16 faces of one White House portrait.
//! `cargo bench -p sgpn-models --bench face_mesh` prints a table; needs
//! `./scripts/setup-train.sh` (the landmarker) and `./scripts/setup.sh` (detector and photo).

use std::path::{Path, PathBuf};
use std::time::Instant;

use sgpn_kernels::image::RgbImage;
use sgpn_models::{FaceDetector, FaceMeshLandmarker, FaceRegion, SessionConfig};

const WARMUP: usize = 3;
const RUNS: usize = 20;

fn main() {
    let deps = std::env::var_os("SGPN_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps"));
    let photo = image::open(deps.join("data/whitehouse/obama.jpg"))
        .expect("run ./scripts/setup.sh first")
        .to_rgb8();
    let photo = image::imageops::resize(
        &photo,
        640 * photo.width() / photo.height(),
        640,
        image::imageops::FilterType::Triangle,
    );
    let img = RgbImage::from_rgb8(photo.width() as usize, 640, photo.as_raw()).unwrap();
    let cfg = SessionConfig {
        intra_threads: 2,
        ..Default::default()
    };
    let mut det = FaceDetector::load(&deps.join("models/retinaface_mnet025.onnx"), &cfg)
        .unwrap_or_else(|e| panic!("{e}"));
    let face = det.detect(&img, 0.8, 0.4).unwrap().remove(0);
    let mut lmk = FaceMeshLandmarker::load(&deps.join("models/face_landmark.onnx"), &cfg)
        .unwrap_or_else(|e| panic!("{e} (run ./scripts/setup-train.sh)"));
    println!("| faces per call | median ms per face | min ms per face | max ms per face |");
    println!("|---|---|---|---|");
    for batch in [1usize, 4, 16] {
        let regions = vec![FaceRegion::Landmarks(face.landmarks); batch];
        for _ in 0..WARMUP {
            lmk.landmarks(&img, &regions).unwrap();
        }
        let mut ms: Vec<f64> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                lmk.landmarks(&img, &regions).unwrap();
                t.elapsed().as_secs_f64() * 1e3 / batch as f64
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "| {batch} | {:.2} | {:.2} | {:.2} |",
            ms[RUNS / 2],
            ms[0],
            ms[RUNS - 1]
        );
    }
}
