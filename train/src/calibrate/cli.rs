//! `sgpn-train calibrate-colour`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use sgpn_models::SessionConfig;
use sgpn_models::generator::Generator;

use super::graph::{decode_uncalibrated, offset_text, with_colour_offset};
use super::measure_colour_shift;
use crate::data::prepare::prepared_crops;
use crate::eval::cli::ShapePriorArgs;

#[derive(Args, Debug)]
pub struct CalibrateColourArgs {
    /// Generator ONNX file written by `sgpn-train export`.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the calibrated generator.
    #[arg(long)]
    pub out: PathBuf,
    /// Prepared training crops at the generator's size (`sgpn-train prepare --out`), never the
    /// evaluation sets: the offset is fitted here and judged by `eval`.
    #[arg(long)]
    pub data: PathBuf,
    /// Faces to measure, spread evenly over the prepared set.
    #[arg(long, default_value_t = 256)]
    pub faces: usize,
    /// Seed of the degradations (face i: `pair_seed(seed, 0, i)`).
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    #[command(flatten)]
    pub shape: ShapePriorArgs,
}

/// `faces` crops spread evenly over `all` (sorted by name, so the pick is reproducible).
pub fn spread_pick(all: &[PathBuf], faces: usize) -> Vec<PathBuf> {
    let stride = (all.len() / faces.max(1)).max(1);
    all.iter().step_by(stride).take(faces).cloned().collect()
}

/// `sgpn-train calibrate-colour`: measure, write the offset, measure again.
pub fn calibrate_colour(args: CalibrateColourArgs) -> Result<()> {
    if args.out == args.model {
        bail!("--out must differ from --model: the uncalibrated export is the reference");
    }
    let session = SessionConfig::default();
    let load = |path: &PathBuf| {
        Generator::load(path, &session)
            .with_context(|| format!("cannot load the generator {}", path.display()))
    };
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    // Refuse a file that cannot be calibrated before spending the measurement on it.
    let model = decode_uncalibrated(&bytes)
        .with_context(|| format!("cannot calibrate {}", args.model.display()))?;
    let mut generator = load(&args.model)?;
    let mut shape = args.shape.load(&session, &generator)?;
    let crops = spread_pick(&prepared_crops(&args.data)?, args.faces);
    if crops.is_empty() {
        bail!(
            "no prepared crops in {}: run `sgpn-train prepare --out {0}` on training photos first",
            args.data.display()
        );
    }
    let total = crops.len();
    let report = |done: usize| {
        if done.is_multiple_of(32) || done == total {
            eprintln!("  {done}/{total} faces");
        }
    };
    eprintln!(
        "measuring {} on {total} training faces",
        args.model.display()
    );
    let before = measure_colour_shift(&mut generator, shape.as_mut(), &crops, args.seed, report)?;
    println!("colour shift before: {before}");

    let offset = before.correction();
    let calibrated = with_colour_offset(model, offset)
        .with_context(|| format!("cannot calibrate {}", args.model.display()))?;
    std::fs::write(&args.out, calibrated)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} with offset {} grey levels (R G B)",
        args.out.display(),
        offset_text(offset)
    );

    let mut generator = load(&args.out)?;
    let after = measure_colour_shift(&mut generator, shape.as_mut(), &crops, args.seed, report)?;
    println!("colour shift after (same faces): {after}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_are_picked_evenly_over_the_whole_set() {
        let all: Vec<PathBuf> = (0..10).map(|i| PathBuf::from(format!("{i}.png"))).collect();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter().map(|p| p.display().to_string()).collect()
        };
        assert_eq!(names(spread_pick(&all, 3)), ["0.png", "3.png", "6.png"]);
        assert_eq!(
            spread_pick(&all, 50).len(),
            10,
            "fewer faces than asked: all"
        );
        assert_eq!(spread_pick(&all, 0).len(), 0);
    }
}
