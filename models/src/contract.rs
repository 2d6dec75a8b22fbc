//! The generator contract (`models/README.md` is the reference for users): the ONNX interface a
//! face restoration network must have so the element can align faces for it, batch them and
//! paste the results back.
//!
//! - input `lq`, float32 `[N,3,S,S]`, RGB planar, values in [-1, 1] (`x / 127.5 - 1`);
//! - variant `full` only: input `render`, float32 `[N,3,S,S]`, the rendered 3D face `I_3d` of the
//!   same aligned crop (paper Sec. 3.1; docs/shape-prior.md "Tensors");
//! - output `restored`, float32 `[N,3,S,S]`, same layout and range;
//! - metadata `sgpn.template` (`sgpn` | `ffhq`: which 5-point alignment template the network was
//!   trained on), `sgpn.size` (S in pixels), `sgpn.variant` (`no3d` | `full`).
//!
//! Templates: the official SGPN code's and facexlib's FFHQ template.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ort::session::Session;

use crate::error::ModelError;
use crate::session_io::{self, DimRule};

pub const INPUT_LQ: &str = "lq";
pub const INPUT_RENDER: &str = "render";
/// Optional input of a `full` generator: the 3DMM coefficients of each face, `[N,K]` (the
/// official SGPN generator conditions its latent on them).
pub const INPUT_COEFFS: &str = "coeffs";
pub const OUTPUT_RESTORED: &str = "restored";
pub const META_TEMPLATE: &str = "sgpn.template";
pub const META_SIZE: &str = "sgpn.size";
pub const META_VARIANT: &str = "sgpn.variant";
/// Optional: the constant (R, G, B in grey levels) `sgpn-train calibrate-colour` added to the
/// output to remove the generator's measured colour shift.
pub const META_COLOUR_CALIBRATION: &str = "sgpn.colour_calibration";
/// Optional: the parameters of the per-face change gate `sgpn-train fit-gate` put in front of
/// the output (`restored = lq + α·(network − lq)`, α from the input's and the change's detail).
pub const META_CHANGE_GATE: &str = "sgpn.change_gate";

/// Face sizes this version accepts for `sgpn.size`.
pub const SIZE_RANGE: std::ops::RangeInclusive<usize> = 16..=2048;

const ROLE: &str = "generator";

/// The 5-point alignment template a generator was trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// The official SGPN code's template.
    Sgpn,
    /// facexlib's FFHQ template (GFPGAN, CodeFormer).
    Ffhq,
}

/// Template landmarks on a 512 face (the official SGPN code and facexlib): left eye, right eye, nose,
/// left mouth corner, right mouth corner.
const SGPN_512: [[f32; 2]; 5] = [
    [202.04, 242.88],
    [309.43, 242.29],
    [256.08, 303.96],
    [211.96, 366.83],
    [300.89, 366.34],
];
const FFHQ_512: [[f32; 2]; 5] = [
    [192.98, 239.95],
    [318.90, 240.19],
    [256.63, 314.02],
    [201.26, 371.41],
    [313.10, 371.15],
];

impl Template {
    /// The five landmarks on a `size`×`size` face (the 512 template scaled by size/512).
    pub fn landmarks(self, size: usize) -> [[f32; 2]; 5] {
        let base = match self {
            Template::Sgpn => SGPN_512,
            Template::Ffhq => FFHQ_512,
        };
        let s = size as f32 / 512.0;
        base.map(|[x, y]| [x * s, y * s])
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Template::Sgpn => "sgpn",
            Template::Ffhq => "ffhq",
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Template {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sgpn" => Ok(Template::Sgpn),
            "ffhq" => Ok(Template::Ffhq),
            other => Err(format!(
                "unknown template '{other}': expected 'sgpn' or 'ffhq'"
            )),
        }
    }
}

/// Which network family the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Generator conditioned on the LQ face only (no 3D prior inputs).
    No3d,
    /// The paper's full model: also takes the rendered 3D face (input `render`).
    Full,
}

impl Variant {
    /// The graph inputs a generator of this variant has, in this order.
    pub fn inputs(self) -> &'static [&'static str] {
        match self {
            Variant::No3d => &[INPUT_LQ],
            Variant::Full => &[INPUT_LQ, INPUT_RENDER],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::No3d => "no3d",
            Variant::Full => "full",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "no3d" => Ok(Variant::No3d),
            "full" => Ok(Variant::Full),
            other => Err(format!(
                "unknown variant '{other}': expected 'no3d' or 'full'"
            )),
        }
    }
}

/// What the element needs to know about a generator that passed [`check_generator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorInfo {
    pub path: PathBuf,
    /// S: faces are aligned to S×S.
    pub size: usize,
    pub template: Template,
    pub variant: Variant,
    /// K when a `full` generator also takes the 3DMM coefficients of each face (input `coeffs`,
    /// float32 `[N,K]`, as the official SGPN generator does); `None` otherwise.
    pub coefficients: Option<usize>,
}

/// Checks a loaded generator session against the contract: metadata present and parseable,
/// exactly the inputs of its variant (`lq`, and `render` for `full`) and the output `restored`,
/// all float32 `[N,3,S,S]` with a dynamic N.
pub fn check_generator(path: &Path, session: &Session) -> Result<GeneratorInfo, ModelError> {
    let problem = session_io::contract_problem(ROLE, path);
    let metadata = session_io::metadata(session, &problem)?;
    let template = template_metadata(&metadata, &problem)?;
    let size_text = session_io::required_metadata(
        &metadata,
        META_SIZE,
        "the face size in pixels, e.g. 512",
        &problem,
    )?;
    let size = size_text
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|s| SIZE_RANGE.contains(s))
        .ok_or_else(|| {
            problem(format!(
                "metadata '{META_SIZE}' must be a face size in pixels ({}..={}), found '{size_text}'",
                SIZE_RANGE.start(),
                SIZE_RANGE.end()
            ))
        })?;
    let variant_text =
        session_io::required_metadata(&metadata, META_VARIANT, "'no3d' or 'full'", &problem)?;
    let variant = variant_text
        .parse::<Variant>()
        .map_err(|e| problem(format!("metadata '{META_VARIANT}': {e}")))?;

    let coefficients = coefficients_input(session, variant, &problem)?;
    let checked_elsewhere: &[&str] = match coefficients {
        Some(_) => &[INPUT_COEFFS],
        None => &[],
    };
    let s = size as i64;
    let rules = [
        DimRule::Dynamic,
        DimRule::Equals(3),
        DimRule::Equals(s),
        DimRule::Equals(s),
    ];
    let expected = format!("float32 [N,3,{s},{s}] with a dynamic N ({META_SIZE} = {size}");
    session_io::check_exactly(
        &problem,
        "input",
        session.inputs(),
        (variant.inputs(), checked_elsewhere),
        &rules,
        &format!("{expected}, {META_VARIANT} = {variant})"),
    )?;
    session_io::check_exactly(
        &problem,
        "output",
        session.outputs(),
        (&[OUTPUT_RESTORED], &[]),
        &rules,
        &format!("{expected})"),
    )?;
    Ok(GeneratorInfo {
        path: path.to_owned(),
        size,
        template,
        variant,
        coefficients,
    })
}

/// The optional `coeffs` input of a `full` generator: float32 `[N,K]` with a fixed K above the
/// 33 pose and light values.
fn coefficients_input(
    session: &Session,
    variant: Variant,
    problem: &dyn Fn(String) -> ModelError,
) -> Result<Option<usize>, ModelError> {
    let Some(outlet) = session.inputs().iter().find(|o| o.name() == INPUT_COEFFS) else {
        return Ok(None);
    };
    if variant == Variant::No3d {
        return Err(problem(format!(
            "is variant 'no3d' but has the input '{INPUT_COEFFS}' of a 'full' generator"
        )));
    }
    let k = match outlet.dtype() {
        ort::value::ValueType::Tensor { shape, .. } if shape.len() == 2 => shape[1],
        _ => -1,
    };
    let rules = [DimRule::Dynamic, DimRule::Any];
    if !session_io::matches_f32(outlet, &rules)
        || k <= crate::morphable::Coefficients::POSE_AND_LIGHT as i64
    {
        return Err(problem(format!(
            "input '{INPUT_COEFFS}' must be float32 [N,K] with a dynamic N and a fixed K above {}, found {}",
            crate::morphable::Coefficients::POSE_AND_LIGHT,
            session_io::describe(outlet)
        )));
    }
    Ok(Some(k as usize))
}

/// The `sgpn.template` metadata entry, which generators and shape regressors share: the
/// alignment their input faces must have.
pub(crate) fn template_metadata(
    metadata: &ort::session::ModelMetadata<'_>,
    problem: &dyn Fn(String) -> ModelError,
) -> Result<Template, ModelError> {
    session_io::required_metadata(metadata, META_TEMPLATE, "'sgpn' or 'ffhq'", problem)?
        .parse::<Template>()
        .map_err(|e| problem(format!("metadata '{META_TEMPLATE}': {e}")))
}
