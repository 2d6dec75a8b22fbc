//! `sgpn-train real-grid`: generators on real degraded photographs, which have no ground truth
//! (`shared/data/real-lq`: old prints, film scans, web JPEGs). Each face is aligned as the
//! element aligns it and restored as it is, without any synthetic degradation; one row per face,
//! `input | restored by each model`. NIQE (no reference) of each column is printed as a rough
//! guide; the picture is the check.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use sgpn_models::SessionConfig;
use sgpn_models::generator::Generator;

use super::cli::ShapePriorArgs;
use super::niqe::NiqeModel;
use super::run::{aligned_set, quantized, read_crop, restore_face, save_sheet, side_by_side};
use crate::data::cli::{default_detector, deps_file};
use crate::data::pixels::{from_network_planar, luma_bt601, to_network_planar};
use crate::data::prepare::RetinaFace;

#[derive(Args, Debug)]
pub struct RealGridArgs {
    /// Generators to compare, one column each (the same size and template); a `full` one takes
    /// its shape prior from `--regressor` and `--morphable`.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// Folder of real degraded photos or face crops.
    #[arg(long)]
    pub input: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Rows (faces), the first in file-name order.
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// Where aligned crops are cached (`<cache>/aligned/`).
    #[arg(long, default_value = "runs/eval/real")]
    pub cache: PathBuf,
    #[arg(long, default_value_os_t = deps_file("data/niqe_image_params.mat"))]
    pub niqe_params: PathBuf,
    #[command(flatten)]
    pub shape: ShapePriorArgs,
}

pub fn real_grid(args: RealGridArgs) -> Result<()> {
    let session = SessionConfig::default();
    let mut generators = args
        .models
        .iter()
        .map(|p| {
            Generator::load(p, &session).with_context(|| format!("cannot load {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let (size, template) = (generators[0].info.size, generators[0].info.template);
    if let Some(g) = generators
        .iter()
        .find(|g| (g.info.size, g.info.template) != (size, template))
    {
        anyhow::bail!(
            "{} is {} px {}, the first model {size} px {template}: one grid needs one alignment",
            g.info.path.display(),
            g.info.size,
            g.info.template
        );
    }
    let mut shapes = generators
        .iter()
        .map(|g| match g.info.variant {
            sgpn_models::Variant::Full => args.shape.load(&session, g),
            sgpn_models::Variant::No3d => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    let niqe = NiqeModel::load(&args.niqe_params)?;
    let mut detector = RetinaFace::load(&default_detector(), &session)?;
    let crops = aligned_set(
        "real",
        &args.input,
        &args.cache,
        size,
        template,
        &mut detector,
        Some(args.count),
    )?;
    anyhow::ensure!(
        !crops.is_empty(),
        "no face found in {} (the grid needs at least one)",
        args.input.display()
    );
    let mut rows = Vec::new();
    let mut niqe_sums = vec![(0.0, 0usize); generators.len() + 1];
    for crop in &crops {
        let input = read_crop(crop)?;
        let lq = to_network_planar(&input);
        let mut row = vec![input];
        for (generator, shape) in generators.iter_mut().zip(shapes.iter_mut()) {
            let (out, _) = restore_face(generator, shape.as_mut(), &lq)?;
            row.push(quantized(
                &from_network_planar(&out, size as u32, size as u32)
                    .context("generator output has the wrong size")?,
            ));
        }
        for (k, image) in row.iter().enumerate() {
            if let Ok(v) = niqe.score(&luma_bt601(image), size, size) {
                niqe_sums[k].0 += v;
                niqe_sums[k].1 += 1;
            }
        }
        rows.push(side_by_side(&row));
    }
    save_sheet(&rows, &args.out)?;
    let names: Vec<String> = std::iter::once("input".to_string())
        .chain(args.models.iter().map(|p| p.display().to_string()))
        .collect();
    println!(
        "wrote {} ({} rows: {})",
        args.out.display(),
        rows.len(),
        names.join(" | ")
    );
    for (name, (sum, n)) in names.iter().zip(niqe_sums) {
        if n > 0 {
            println!("NIQE {name}: {:.2} (mean of {n})", sum / n as f64);
        }
    }
    Ok(())
}
