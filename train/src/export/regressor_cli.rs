//! `sgpn-train export-regressor`: a checkpoint's shape regressor to ONNX, stamped with the
//! SHA-256 of the 3DMM file it was trained with (docs/shape-prior.md), or a freshly
//! initialised preset (for size and speed checks).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sgpn_models::shape_regressor::sha256_file;
use sgpn_models::{MorphableModel, Template};

use super::regressor::{RegressorExportMeta, export_regressor};
use crate::model::regressor::checkpoint::REGRESSOR_FILE;
use crate::model::regressor::{RegressorConfig, ShapeRegressor};

#[derive(Args, Debug)]
pub struct ExportRegressorArgs {
    /// A checkpoint folder holding `regressor.bpk` and `regressor.json`.
    #[arg(long, required_unless_present = "init_preset")]
    pub checkpoint: Option<PathBuf>,
    /// Export an untrained regressor of this preset (`tiny`, `small256`, `paper512`) instead.
    #[arg(long, conflicts_with = "checkpoint")]
    pub init_preset: Option<String>,
    /// The 3DMM file (`.safetensors` or `.mat`) the regressor predicts coefficients of.
    #[arg(long)]
    pub morphable: PathBuf,
    /// The alignment template of the input faces (`sgpn` or `ffhq`).
    #[arg(long, default_value = "sgpn")]
    pub template: String,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn export(args: ExportRegressorArgs) -> anyhow::Result<()> {
    let template: Template = args
        .template
        .parse()
        .map_err(|e| anyhow::anyhow!("--template: {e}"))?;
    let morphable = MorphableModel::load(&args.morphable)
        .with_context(|| format!("loading the 3DMM {}", args.morphable.display()))?;
    let k = morphable.coefficient_count();
    let device = burn::prelude::Device::flex();
    let (model, from) = match (&args.checkpoint, &args.init_preset) {
        (Some(dir), _) => (
            ShapeRegressor::load(dir, &device)?,
            dir.join(REGRESSOR_FILE).display().to_string(),
        ),
        (None, Some(preset)) => (
            ShapeRegressor::new(&RegressorConfig::preset(preset)?, k, 0, &device)?,
            format!("untrained {preset}"),
        ),
        (None, None) => anyhow::bail!("give --checkpoint or --init-preset"),
    };
    anyhow::ensure!(
        model.coefficients() == k,
        "the regressor predicts {} coefficients but the 3DMM {} has {k}: was it trained with another 3DMM?",
        model.coefficients(),
        args.morphable.display()
    );
    let meta = RegressorExportMeta {
        template,
        morphable_name: args
            .morphable
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        morphable_sha256: sha256_file(&args.morphable)?,
    };
    export_regressor(&model, &meta, &args.out)?;
    println!(
        "wrote {} from {from} (K = {k}, 3DMM {} sha256 {})",
        args.out.display(),
        meta.morphable_name,
        meta.morphable_sha256
    );
    Ok(())
}
