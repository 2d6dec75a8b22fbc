//! `sgpn-train fit-gate`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use sgpn_models::SessionConfig;
use sgpn_models::generator::Generator;

use super::fit::{GateParams, fit_gate, mean_gain};
use super::graph::{decode_ungated, with_change_gate};
use super::measure_faces;
use super::stats::FaceStats;
use crate::calibrate::cli::spread_pick;
use crate::data::degrade::Severity;
use crate::data::prepare::prepared_crops;
use crate::eval::cli::ShapePriorArgs;
use crate::eval::run::PairedDifference;

#[derive(Args, Debug)]
pub struct FitGateArgs {
    /// Generator ONNX file written by `sgpn-train export` (colour-calibrated or not), not gated.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the gated generator.
    #[arg(long)]
    pub out: PathBuf,
    /// Prepared training crops at the generator's size (`sgpn-train prepare --out`), never the
    /// evaluation sets: the gate is fitted here and judged by `eval`.
    #[arg(long)]
    pub data: PathBuf,
    /// Faces to measure, spread evenly over the prepared set.
    #[arg(long, default_value_t = 1200)]
    pub faces: usize,
    /// Seed of the degradations (face i: `pair_seed(seed, 0, i)`).
    #[arg(long, default_value_t = 13)]
    pub seed: u64,
    /// The largest gate value: 1 never amplifies the network's change.
    #[arg(long, default_value_t = 1.0)]
    pub max_alpha: f64,
    #[command(flatten)]
    pub shape: ShapePriorArgs,
}

/// One row of the report: the mean gain over bicubic (dB, ± standard error) of `faces` under
/// the ungated network, `gate` and the per-face best gate.
fn report_row(label: &str, faces: &[&FaceStats], gate: &GateParams, max: f64) -> String {
    let diff = |alpha: &dyn Fn(&FaceStats) -> f64| -> String {
        let v: Vec<f64> = faces.iter().map(|f| f.gain_db(alpha(f))).collect();
        match PairedDifference::of(&v) {
            Some(d) => format!("{:+.3} ± {:.3}", d.mean, d.std_err),
            None => "—".to_string(),
        }
    };
    let mean_alpha =
        faces.iter().map(|f| gate.alpha(&f.features)).sum::<f64>() / faces.len().max(1) as f64;
    format!(
        "| {label} | {} | {} | {} | {} | {mean_alpha:.2} |",
        faces.len(),
        diff(&|_| 1.0),
        diff(&|f| gate.alpha(&f.features)),
        diff(&|f| f.best_alpha(max)),
    )
}

/// The per-stratum table of `faces` under `gate`.
fn report(faces: &[FaceStats], gate: &GateParams, max: f64) -> String {
    let mut out = String::from(
        "| stratum | faces | ungated (dB) | gated (dB) | best per face (dB) | mean α |\n|---|---|---|---|---|---|\n",
    );
    for severity in Severity::ALL {
        let group: Vec<&FaceStats> = faces.iter().filter(|f| f.severity == severity).collect();
        out += &report_row(severity.as_str(), &group, gate, max);
        out.push('\n');
    }
    out += &report_row("all", &faces.iter().collect::<Vec<_>>(), gate, max);
    out.push('\n');
    out
}

/// `sgpn-train fit-gate`: measure, fit, check the fit on faces it did not see, write.
pub fn fit_gate_cmd(args: FitGateArgs) -> Result<()> {
    if args.out == args.model {
        bail!("--out must differ from --model: the ungated file is the reference");
    }
    if !(args.max_alpha > 0.0 && args.max_alpha.is_finite()) {
        bail!("--max-alpha must be positive, got {}", args.max_alpha);
    }
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    // Refuse a file that cannot be gated before spending the measurement on it.
    let model =
        decode_ungated(&bytes).with_context(|| format!("cannot gate {}", args.model.display()))?;
    let session = SessionConfig::default();
    let mut generator = Generator::load(&args.model, &session)
        .with_context(|| format!("cannot load the generator {}", args.model.display()))?;
    let mut shape = args.shape.load(&session, &generator)?;
    let crops = spread_pick(&prepared_crops(&args.data)?, args.faces);
    if crops.len() < 8 {
        bail!(
            "{} prepared crops in {}: the gate needs at least 8 (run `sgpn-train prepare --out {1}` on training photos)",
            crops.len(),
            args.data.display()
        );
    }
    let total = crops.len();
    eprintln!(
        "measuring {} on {total} training faces",
        args.model.display()
    );
    let faces = measure_faces(&mut generator, shape.as_mut(), &crops, args.seed, |done| {
        if done.is_multiple_of(100) || done == total {
            eprintln!("  {done}/{total} faces");
        }
    })?;

    if faces.len() < 8 {
        bail!(
            "only {} of {total} degraded faces differ from their HQ: too few to fit the gate",
            faces.len()
        );
    }
    // Two-fold check: fitted on half the faces, scored on the other half.
    let even: Vec<FaceStats> = faces.iter().step_by(2).cloned().collect();
    let odd: Vec<FaceStats> = faces.iter().skip(1).step_by(2).cloned().collect();
    let half = fit_gate(&even, args.max_alpha);
    println!(
        "fitted on the even faces ({}), scored on the odd ones ({}):\n{}",
        even.len(),
        odd.len(),
        report(&odd, &half, args.max_alpha)
    );

    let gate = fit_gate(&faces, args.max_alpha);
    println!(
        "fitted on all {} faces: {}\n{}",
        faces.len(),
        gate.text(),
        report(&faces, &gate, args.max_alpha)
    );
    let gated = with_change_gate(model, &gate)
        .with_context(|| format!("cannot gate {}", args.model.display()))?;
    std::fs::write(&args.out, gated)
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    // The written graph against the fit's own arithmetic, on the first faces. Whether a face
    // is skipped depends on its degraded pair alone, so the gated graph's faces are the first of
    // `faces`, in the same order.
    let check = &crops[..crops.len().min(16)];
    let mut gated = Generator::load(&args.out, &session)
        .with_context(|| format!("cannot load the gated generator {}", args.out.display()))?;
    let graph_stats = measure_faces(&mut gated, shape.as_mut(), check, args.seed, |_| {})?;
    let predicted = mean_gain(&faces[..graph_stats.len()], |f| gate.alpha(&f.features));
    let measured = mean_gain(&graph_stats, |_| 1.0);
    println!(
        "wrote {}: on the first {} faces the graph gains {measured:+.4} dB, the fit predicted {predicted:+.4} dB",
        args.out.display(),
        check.len()
    );
    if (measured - predicted).abs() > 0.01 {
        bail!(
            "the gated graph does not compute the fitted gate ({measured:+.4} vs {predicted:+.4} dB)"
        );
    }
    Ok(())
}
