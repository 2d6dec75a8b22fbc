//! `sgpn-train bench`: training step time (synthetic pairs, so data loading is not counted)
//! and generator forward time through ONNX Runtime on the CPU, printed as a table.

use std::time::Instant;

use clap::Args;

use super::source::{PairSource, SyntheticSource};
use super::trainer::{TrainConfig, Trainer};
use super::training_device;
use crate::export::onnx_run::{cpu_session, run_generator};
use crate::export::write_generator;
use burn::module::Module;

use crate::model::{Config, Generator, Variant};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Presets whose training step is timed.
    #[arg(long, value_delimiter = ',', default_value = "small256")]
    pub train_presets: Vec<String>,
    #[arg(long, default_value_t = 4)]
    pub train_batch: usize,
    /// Timed training steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub train_steps: u64,
    /// Presets whose ONNX forward pass is timed.
    #[arg(long, value_delimiter = ',', default_value = "small256,paper512")]
    pub onnx_presets: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub onnx_batches: Vec<usize>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed ONNX runs per size (after one warm-up run).
    #[arg(long, default_value_t = 2)]
    pub onnx_runs: usize,
    #[arg(long, default_value = "no3d")]
    pub variant: String,
    /// Generator files of the element's contract (e.g. an imported official model) timed as the
    /// element runs them (`sgpn_models::Generator`, every input it takes), median of the runs.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<std::path::PathBuf>,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let variant = Variant::parse(&args.variant)?;
    println!("| what | preset | batch | seconds | per image |");
    println!("|---|---|---|---|---|");
    // An empty list (`--train-presets ""`) skips the step.
    for preset in args.train_presets.iter().filter(|p| !p.is_empty()) {
        let cfg = Config::preset(preset, variant)?;
        let secs = train_step_seconds(&cfg, args.train_batch, args.train_steps)?;
        println!(
            "| train step (G+D, Adam, flex CPU) | {preset} | {} | {secs:.3} | {:.3} |",
            args.train_batch,
            secs / args.train_batch as f64
        );
    }
    let dir = std::env::temp_dir().join(format!("sgpn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for preset in args.onnx_presets.iter().filter(|p| !p.is_empty()) {
        let cfg = Config::preset(preset, variant)?;
        let g = Generator::new(&cfg, 0, &burn::prelude::Device::flex())?;
        println!(
            "| generator parameters | {preset} | - | {:.2} M | - |",
            g.num_params() as f64 / 1e6
        );
        let path = dir.join(format!("{preset}.onnx"));
        write_generator(&g, &path)?;
        drop(g);
        let mut session = cpu_session(&path, args.threads)?;
        for &n in &args.onnx_batches {
            let len = n * 3 * cfg.size * cfg.size;
            let lq: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
            let render = variant.has_render().then(|| lq.clone());
            run_generator(&mut session, n, cfg.size, &lq, render.as_deref())?;
            let t = Instant::now();
            for _ in 0..args.onnx_runs {
                run_generator(&mut session, n, cfg.size, &lq, render.as_deref())?;
            }
            let secs = t.elapsed().as_secs_f64() / args.onnx_runs.max(1) as f64;
            println!(
                "| generator forward (ORT CPU, {} threads) | {preset} | {n} | {secs:.3} | {:.3} |",
                args.threads,
                secs / n as f64
            );
        }
        std::fs::remove_file(&path).ok();
    }
    std::fs::remove_dir(&dir).ok();
    for path in &args.models {
        bench_contract_model(path, &args)?;
    }
    Ok(())
}

/// Times a contract generator file at each batch size: median seconds of `onnx_runs` runs after
/// one warm-up run.
fn bench_contract_model(path: &std::path::Path, args: &BenchArgs) -> anyhow::Result<()> {
    let cfg = sgpn_models::SessionConfig {
        intra_threads: args.threads,
        ..Default::default()
    };
    let mut g = sgpn_models::generator::Generator::load(path, &cfg)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for &n in &args.onnx_batches {
        let len = n * g.face_len();
        let lq: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
        let coefficients = vec![0.1f32; n * g.info.coefficients.unwrap_or(0)];
        let run = |g: &mut sgpn_models::generator::Generator| -> anyhow::Result<f64> {
            let t = Instant::now();
            match g.info.variant {
                sgpn_models::contract::Variant::No3d => g.restore(&lq, n)?,
                sgpn_models::contract::Variant::Full => {
                    g.restore_with_shape(&lq, &lq, &coefficients, n)?
                }
            };
            Ok(t.elapsed().as_secs_f64())
        };
        run(&mut g)?;
        let mut times = (0..args.onnx_runs.max(1))
            .map(|_| run(&mut g))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        times.sort_by(f64::total_cmp);
        let secs = times[times.len() / 2];
        println!(
            "| generator forward, median of {} (ORT CPU, {} threads) | {name} | {n} | {secs:.3} | {:.3} |",
            times.len(),
            args.threads,
            secs / n as f64
        );
    }
    Ok(())
}

/// Mean seconds per training step after one warm-up step.
pub fn train_step_seconds(cfg: &Config, batch: usize, steps: u64) -> anyhow::Result<f64> {
    let device = training_device();
    let train = TrainConfig {
        batch,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg.clone(), train, &device)?;
    let mut source = SyntheticSource {
        size: cfg.size,
        seed: 0,
    };
    let warm = source.batch(0, batch)?;
    trainer.step(&warm)?;
    let batches: Vec<_> = (1..=steps)
        .map(|s| source.batch(s, batch))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    for b in &batches {
        trainer.step(b)?;
    }
    Ok(t.elapsed().as_secs_f64() / steps.max(1) as f64)
}
