//! `sgpn-train import-official` and `sgpn-train official-fixture`.

use std::path::PathBuf;

use clap::Args;

use super::fixture::write_checkpoint;
use super::spec::{generator_spec, regressor_spec};

#[derive(Args, Debug)]
pub struct ImportOfficialArgs {
    /// The official generator checkpoint (`checkpoints/sgpn.pth`).
    #[arg(long)]
    pub generator: PathBuf,
    /// The official D3DFR regressor checkpoint (`checkpoints/d3dfr_finetune_ours.pth`).
    #[arg(long)]
    pub regressor: PathBuf,
    /// BFM09 as Deep3DFaceRecon converts it (`BFM/BFM_model_front.mat`); the element must be
    /// given this same file as `morphable-model`.
    #[arg(long)]
    pub morphable: PathBuf,
    /// Deep3DFaceRecon's 68 standard 3D landmarks (`BFM/similarity_Lm3D_all.mat`); default: next
    /// to `--morphable`.
    #[arg(long)]
    pub landmarks: Option<PathBuf>,
    /// Folder for `sgpn-paper512-official.onnx` and `d3dfr-official-regressor.onnx`.
    #[arg(long)]
    pub out_dir: PathBuf,
}

pub fn import_official(args: ImportOfficialArgs) -> anyhow::Result<()> {
    let landmarks = args.landmarks.unwrap_or_else(|| {
        args.morphable
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("similarity_Lm3D_all.mat")
    });
    std::fs::create_dir_all(&args.out_dir)?;
    let (generator, regressor) = super::import_all(
        &args.generator,
        &args.regressor,
        &args.morphable,
        &landmarks,
        &args.out_dir,
    )?;
    println!("wrote {}", generator.display());
    println!("wrote {}", regressor.display());
    println!(
        "run: sgpnrestore generator-model={} shape-regressor={} morphable-model={}",
        generator.display(),
        regressor.display(),
        args.morphable.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct OfficialFixtureArgs {
    /// Folder for `sgpn.pth` and `d3dfr_finetune_ours.pth` in the official format, filled with a
    /// deterministic pattern (test fixtures, not weights).
    #[arg(long)]
    pub out_dir: PathBuf,
}

pub fn official_fixture(args: OfficialFixtureArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out_dir)?;
    for (name, spec) in [
        ("sgpn.pth", generator_spec()),
        ("d3dfr_finetune_ours.pth", regressor_spec()),
    ] {
        let path = args.out_dir.join(name);
        write_checkpoint(&path, &spec)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
