//! The data subcommands of `sgpn-train`: `prepare` and `degrade-grid`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use sgpn_models::SessionConfig;
use sgpn_models::contract::Template;

use super::degrade::DegradationConfig;
use super::grid::degrade_grid as write_grid;
use super::prepare::{RetinaFace, prepare_dir};

/// A file fetched by `scripts/setup.sh`: `$SGPN_DEPS/<rel>`, else the source tree's `.deps/<rel>`.
pub fn deps_file(rel: &str) -> PathBuf {
    std::env::var_os("SGPN_DEPS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps")))
        .join(rel)
}

/// Shared research data: `$SGPN_SHARED_DATA/<rel>`, else `../shared/data/<rel>` next to the
/// source tree.
pub fn shared_data(rel: &str) -> PathBuf {
    std::env::var_os("SGPN_SHARED_DATA")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
        .join(rel)
}

/// Default RetinaFace model path.
pub fn default_detector() -> PathBuf {
    deps_file("models/retinaface_mnet025.onnx")
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Folder of photos (.jpg/.png).
    #[arg(long)]
    pub input: PathBuf,
    /// Crop side in pixels.
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    /// Alignment template: sgpn or ffhq.
    #[arg(long, default_value = "sgpn")]
    pub template: Template,
    /// Cache folder (crops/ and results.jsonl); re-runs skip photos already handled.
    #[arg(long)]
    pub out: PathBuf,
    /// Handle at most the first N photos (sorted by name).
    #[arg(long)]
    pub limit: Option<usize>,
    /// RetinaFace ONNX model.
    #[arg(long, default_value_os_t = default_detector())]
    pub detector: PathBuf,
}

/// `sgpn-train prepare`.
pub fn prepare(args: PrepareArgs) -> Result<()> {
    let mut detector = RetinaFace::load(&args.detector, &SessionConfig::default())?;
    let template = args.template.landmarks(args.size);
    let start = Instant::now();
    let summary = prepare_dir(
        &args.input,
        &args.out,
        args.size,
        &template,
        &mut detector,
        args.limit,
        |done, total| {
            if done % 200 == 0 || done == total {
                eprintln!(
                    "prepare: {done}/{total} ({:.0} s)",
                    start.elapsed().as_secs_f32()
                );
            }
        },
    )?;
    println!("{summary}");
    Ok(())
}

#[derive(Args, Debug)]
pub struct DegradeGridArgs {
    /// Folder of HQ images (prepared crops, or photos: their centred square is used).
    #[arg(long)]
    pub input: PathBuf,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of HQ | LQ pairs.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Tile side in pixels; the paper's 512-px blur and downsampling ranges are scaled to it
    /// (`DegradationConfig::for_size`).
    #[arg(long, default_value_t = 256)]
    pub size: u32,
}

/// `sgpn-train degrade-grid`.
pub fn degrade_grid(args: DegradeGridArgs) -> Result<()> {
    let cfg = DegradationConfig::for_size(args.size);
    let report = write_grid(
        &args.input,
        &args.out,
        args.count,
        args.seed,
        args.size,
        &cfg,
    )
    .with_context(|| format!("degrade-grid from {}", args.input.display()))?;
    for (i, (path, d)) in report.iter().enumerate() {
        let passes: Vec<String> = d
            .passes
            .iter()
            .map(|p| {
                format!(
                    "{:?} r={} noise={:.1} q={}",
                    p.blur, p.downscale, p.noise_sigma, p.jpeg_quality
                )
            })
            .collect();
        println!(
            "{i:2} {}: {}{}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            passes.join(" then "),
            if d.flip { ", flipped" } else { "" }
        );
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
