//! Face detector latency at the element's working sizes, 2 intra-op threads, CPU.
//! `cargo bench -p sgpn-models --bench detector` prints a table (target: ≤ 25 ms per frame).
//! CPU time includes ONNX Runtime's worker threads spinning while they wait for work.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sgpn_kernels::image::RgbImage;
use sgpn_models::{FaceDetector, SessionConfig};

const WARMUP: usize = 3;
const RUNS: usize = 30;

fn main() {
    let deps = std::env::var_os("SGPN_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps"));
    let photo = image::open(deps.join("data/whitehouse/obama.jpg"))
        .expect("run ./scripts/setup.sh first")
        .to_rgb8();
    let cfg = SessionConfig {
        intra_threads: 2,
        ..Default::default()
    };
    let mut det = FaceDetector::load(&deps.join("models/retinaface_mnet025.onnx"), &cfg)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("| size | faces | median ms | min ms | max ms | CPU ms per frame |");
    println!("|---|---|---|---|---|---|");
    for (w, h) in [(640u32, 360u32), (960, 540)] {
        // The portrait letterboxed into a video-shaped frame, so the detector has a face to find.
        let scaled = image::imageops::resize(
            &photo,
            photo.width() * h / photo.height(),
            h,
            image::imageops::FilterType::Triangle,
        );
        let mut frame = image::RgbImage::from_pixel(w, h, image::Rgb([90, 90, 90]));
        image::imageops::overlay(&mut frame, &scaled, i64::from((w - scaled.width()) / 2), 0);
        let img = RgbImage::from_rgb8(w as usize, h as usize, frame.as_raw()).unwrap();
        let mut faces = 0;
        for _ in 0..WARMUP {
            faces = det.detect(&img, 0.8, 0.4).unwrap().len();
        }
        let cpu_before = process_cpu_ms();
        let mut ms: Vec<f64> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                det.detect(&img, 0.8, 0.4).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let cpu = match (cpu_before, process_cpu_ms()) {
            (Some(a), Some(b)) => format!("{:.1}", (b - a) / RUNS as f64),
            _ => "n/a".to_owned(),
        };
        ms.sort_by(f64::total_cmp);
        println!(
            "| {w}x{h} | {faces} | {:.1} | {:.1} | {:.1} | {cpu} |",
            ms[RUNS / 2],
            ms[0],
            ms[RUNS - 1]
        );
    }
}

/// User + system CPU time of this process from `/proc/self/stat` (Linux), in ms. Wall time on
/// a machine shared with other jobs mostly measures the others; CPU time does not.
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel reports in USER_HZ, 100 on every Linux architecture Rust targets.
    Some(ticks * 10.0)
}
