//! Cost of the shape regressor (paper Sec. 3.1): one burn training step (forward + backward,
//! batch 4, flex CPU) of the small256 preset, and the per-face latency of the exported
//! small256 and paper512 (ResNet-50) regressors through ONNX Runtime on the CPU (2 threads,
//! batch 1 and 4), as the element runs them. Prints a table of medians.
//! Run: `cargo bench -p sgpn-train --bench regressor`.

use burn::prelude::*;
use sgpn_models::{SessionConfig, Template};
use sgpn_train::export::regressor::{RegressorExportMeta, export_regressor};
use sgpn_train::model::regressor::{REGRESSOR_SIZE, RegressorConfig, ShapeRegressor};

#[path = "../../kernels/benches/timing/mod.rs"]
mod timing;
use timing::{ITERS, median_ms};

/// BFM09's coefficient count (paper Sec. 3.1).
const K: usize = 257;
const ORT_THREADS: usize = 2;
const TRAIN_BATCH: usize = 4;

fn faces(n: usize, device: &Device) -> Tensor<4> {
    let s = REGRESSOR_SIZE;
    let data: Vec<f32> = (0..n * 3 * s * s)
        .map(|i| (i % 97) as f32 / 48.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(data, [n, 3, s, s]), device)
}

fn row(what: &str, preset: &str, batch: usize, (wall, cpu): (f64, f64)) {
    println!(
        "| {what} | {preset} | {batch} | {wall:.1} | {:.1} | {cpu:.1} |",
        wall / batch as f64
    );
}

fn main() -> anyhow::Result<()> {
    println!("median of {ITERS} runs after one warm-up; CPU ms summed over threads");
    println!("| what | preset | batch | median ms | per face ms | CPU ms |");
    println!("|---|---|---|---|---|---|");

    let train_device = Device::flex().autodiff();
    let model = ShapeRegressor::new(&RegressorConfig::small256(), K, 0, &train_device)?;
    let x = faces(TRAIN_BATCH, &train_device);
    let step = median_ms(|| {
        let y = model.forward(x.clone()).expect("input shape is right");
        y.powi_scalar(2).mean().backward();
    });
    row(
        "train forward + backward (burn flex CPU)",
        "small256",
        TRAIN_BATCH,
        step,
    );

    let dir = std::env::temp_dir().join(format!("sgpn-regressor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let meta = RegressorExportMeta {
        template: Template::Sgpn,
        morphable_name: "bench".into(),
        morphable_sha256: "0".repeat(64),
    };
    let session = SessionConfig {
        intra_threads: ORT_THREADS,
        ..Default::default()
    };
    for preset in ["small256", "paper512"] {
        let path = dir.join(format!("{preset}.onnx"));
        let model = ShapeRegressor::new(&RegressorConfig::preset(preset)?, K, 0, &Device::flex())?;
        export_regressor(&model, &meta, &path)?;
        drop(model);
        let mut loaded = sgpn_models::ShapeRegressor::load(&path, &session)?;
        for n in [1, 4] {
            let input = faces(n, &Device::flex())
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("f32 tensor");
            let t = median_ms(|| {
                loaded.regress(&input, n).expect("regressor runs");
            });
            row(
                &format!("forward (ORT CPU, {ORT_THREADS} threads)"),
                preset,
                n,
                t,
            );
        }
        std::fs::remove_file(&path).ok();
    }
    std::fs::remove_dir(&dir).ok();
    Ok(())
}
