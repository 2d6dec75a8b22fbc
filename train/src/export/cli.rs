//! `sgpn-train export`: a checkpoint's generator to ONNX (or a freshly initialised preset). By
//! default the generator's exponential moving average, which StyleGAN2 and GFPGAN ship.

use std::path::PathBuf;

use clap::Args;

use crate::model::{Config, Generator, Variant};
use crate::train::checkpoint::{GeneratorWeights, generator_file, load_generator};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint folder (`<run>/checkpoint`).
    #[arg(long, required_unless_present = "init_preset")]
    pub checkpoint: Option<PathBuf>,
    /// Export an untrained generator of this preset instead (for size and speed checks).
    #[arg(long, conflicts_with = "checkpoint")]
    pub init_preset: Option<String>,
    /// Export the trained generator itself instead of its exponential moving average (the
    /// default; a checkpoint without `generator_ema.bpk` has only the generator).
    #[arg(long, conflicts_with = "init_preset")]
    pub raw_generator: bool,
    #[arg(long, default_value = "no3d")]
    pub variant: String,
    #[arg(long)]
    pub out: PathBuf,
    /// Write each AFFB as one `sgpn.AffbFuse` custom-operator node (needs a runtime that
    /// registers it) instead of standard ONNX operators.
    #[arg(long)]
    pub affb_custom_op: bool,
}

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let device = burn::prelude::Device::flex();
    let weights = if args.raw_generator {
        GeneratorWeights::Raw
    } else {
        GeneratorWeights::Ema
    };
    let (generator, from) = match (&args.checkpoint, &args.init_preset) {
        (Some(dir), _) => (
            load_generator(dir, &device, weights)?,
            generator_file(dir, weights).display().to_string(),
        ),
        (None, Some(preset)) => (
            Generator::new(
                &Config::preset(preset, Variant::parse(&args.variant)?)?,
                0,
                &device,
            )?,
            format!("untrained {preset}"),
        ),
        (None, None) => anyhow::bail!("give --checkpoint or --init-preset"),
    };
    let affb = if args.affb_custom_op {
        super::AffbExport::CustomOp
    } else {
        super::AffbExport::StandardOps
    };
    super::write_generator_with(&generator, &args.out, affb)?;
    println!(
        "wrote {} from {from} ({} px, variant {})",
        args.out.display(),
        generator.config.size,
        generator.config.variant.as_str()
    );
    Ok(())
}
