//! `sgpn-train compare-grid`: the picture of the paper's ablation (Sec. 4.3, variant A against
//! the full SGPN): for the first faces of an evaluation set, degraded exactly as `sgpn-train
//! eval` degrades them, one row `LQ | variant A | full | rendered 3D face | HQ`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use sgpn_face::ShapeConfig;
use sgpn_face::shape::ShapePrior;
use sgpn_models::SessionConfig;
use sgpn_models::generator::Generator;

use super::cli::default_sets;
use super::run::{
    aligned_set, degrade_face, eval_degradation, read_crop, restore_face, save_sheet, side_by_side,
};
use crate::data::cli::default_detector;
use crate::data::degrade::pair_seed;
use crate::data::pixels::{from_network_planar, to_network_planar};
use crate::data::prepare::RetinaFace;

#[derive(Args, Debug)]
pub struct CompareGridArgs {
    /// The variant-A (no3d) generator.
    #[arg(long)]
    pub no3d: PathBuf,
    /// The full generator.
    #[arg(long)]
    pub full: PathBuf,
    /// The full generator's shape regressor (ONNX).
    #[arg(long)]
    pub regressor: PathBuf,
    /// The 3DMM of the regressor.
    #[arg(long)]
    pub morphable: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Evaluation set name (`aaf-val`, `hq512`) or `name=folder`.
    #[arg(long, default_value = "aaf-val")]
    pub set: String,
    /// Rows (faces).
    #[arg(long, default_value_t = 6)]
    pub count: usize,
    /// The evaluation seed (`sgpn-train eval --seed`).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where aligned crops are cached (`<cache>/aligned/`), e.g. an eval output folder.
    #[arg(long, default_value = "runs/eval/compare")]
    pub cache: PathBuf,
}

pub fn compare_grid(args: CompareGridArgs) -> Result<()> {
    let session = SessionConfig::default();
    let load = |p: &PathBuf| {
        Generator::load(p, &session).with_context(|| format!("cannot load {}", p.display()))
    };
    let (mut no3d, mut full) = (load(&args.no3d)?, load(&args.full)?);
    anyhow::ensure!(
        (no3d.info.size, no3d.info.template) == (full.info.size, full.info.template),
        "the two generators must share size and template ({} px {} vs {} px {})",
        no3d.info.size,
        no3d.info.template,
        full.info.size,
        full.info.template
    );
    let mut shape = ShapePrior::load(
        &ShapeConfig {
            regressor_path: args.regressor.clone(),
            morphable_path: args.morphable.clone(),
        },
        &session,
        &full.info,
    )?;
    let (set, dir) = match args.set.split_once('=') {
        Some((name, dir)) => (name.to_string(), PathBuf::from(dir)),
        None => default_sets()
            .into_iter()
            .find(|set| set.name == args.set)
            .map(|set| (set.name, set.dir))
            .with_context(|| format!("unknown evaluation set {}", args.set))?,
    };
    let mut detector = RetinaFace::load(&default_detector(), &session)?;
    let size = full.info.size;
    let crops = aligned_set(
        &set,
        &dir,
        &args.cache,
        size,
        full.info.template,
        &mut detector,
        Some(args.count),
    )?;
    let cfg = eval_degradation(size);
    let mut rows = Vec::new();
    for (i, crop) in crops.iter().enumerate() {
        let (_, hq, small, bicubic) =
            degrade_face(&read_crop(crop)?, &cfg, pair_seed(args.seed, 0, i as u64))?;
        let lq = to_network_planar(&bicubic);
        let image = |planar: &[f32]| {
            from_network_planar(planar, size as u32, size as u32)
                .context("network output has the wrong size")
        };
        let (a, _) = restore_face(&mut no3d, None, &lq)?;
        let (f, render) = restore_face(&mut full, Some(&mut shape), &lq)?;
        let render = render.context("the full generator's render is missing")?;
        rows.push(side_by_side(&[
            small,
            image(&a)?,
            image(&f)?,
            image(&render)?,
            hq,
        ]));
    }
    save_sheet(&rows, &args.out)?;
    println!(
        "wrote {} ({} rows: LQ | variant A | full | rendered 3D | HQ)",
        args.out.display(),
        rows.len()
    );
    Ok(())
}
