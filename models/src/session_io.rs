//! Checking a session's declared inputs and outputs against what a model role expects, and
//! describing what was found in the ONNX notation users know (`float32 [N,3,512,512]`).

use std::path::Path;

use ort::session::{ModelMetadata, Session};
use ort::value::Outlet;
use ort::value::{TensorElementType, ValueType};

use crate::error::ModelError;

/// What one dimension of an expected tensor may be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DimRule {
    /// Must be symbolic (decided per call), e.g. the batch of a batched model.
    Dynamic,
    /// Must equal this value where the model fixes it; a symbolic dimension is accepted.
    Equals(i64),
    /// Anything.
    Any,
}

/// `true` when `outlet` is a float32 tensor whose rank and dimensions follow `rules`.
pub(crate) fn matches_f32(outlet: &Outlet, rules: &[DimRule]) -> bool {
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return false;
    };
    *ty == TensorElementType::Float32
        && shape.len() == rules.len()
        && shape.iter().zip(rules).all(|(&d, rule)| match rule {
            DimRule::Dynamic => d < 0,
            DimRule::Equals(v) => d < 0 || d == *v,
            DimRule::Any => true,
        })
}

/// `float32 [N,3,512,512]`; symbolic dimensions by their name (or `?`).
pub(crate) fn describe(outlet: &Outlet) -> String {
    match outlet.dtype() {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => {
            let dims: Vec<String> = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    if d >= 0 {
                        d.to_string()
                    } else {
                        match dimension_symbols.get(i) {
                            Some(s) if !s.is_empty() => s.clone(),
                            _ => "?".to_owned(),
                        }
                    }
                })
                .collect();
            format!("{} [{}]", elem_name(*ty), dims.join(","))
        }
        other => format!("non-tensor {other:?}"),
    }
}

/// ONNX's own names for element types.
fn elem_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "float32".to_owned(),
        TensorElementType::Float16 => "float16".to_owned(),
        TensorElementType::Float64 => "float64".to_owned(),
        TensorElementType::Int64 => "int64".to_owned(),
        TensorElementType::Int32 => "int32".to_owned(),
        TensorElementType::Uint8 => "uint8".to_owned(),
        other => other.to_string(),
    }
}

/// `'lq' float32 [N,3,512,512], 'x' int64 [1]` — for messages about missing names.
pub(crate) fn list(outlets: &[Outlet]) -> String {
    if outlets.is_empty() {
        return "none".to_owned();
    }
    outlets
        .iter()
        .map(|o| format!("'{}' {}", o.name(), describe(o)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outlets (a session's inputs or outputs) must be exactly the tensors `names`, each
/// following `rules`: a missing name, an extra tensor or a wrong type or shape is reported
/// through `problem` with what was expected (`expected`, e.g. `float32 [N,3,512,512]`) and what
/// the file holds. Outlets named in `checked_elsewhere` (optional tensors with rules of their
/// own) are not counted as extra.
pub(crate) fn check_exactly(
    problem: &dyn Fn(String) -> ModelError,
    kind: &str,
    outlets: &[Outlet],
    (names, checked_elsewhere): (&[&str], &[&str]),
    rules: &[DimRule],
    expected: &str,
) -> Result<(), ModelError> {
    for name in names {
        let Some(outlet) = outlets.iter().find(|o| o.name() == *name) else {
            return Err(problem(format!(
                "has no {kind} '{name}' (expected {kind} '{name}' {expected}; found {kind}s: {})",
                list(outlets)
            )));
        };
        if !matches_f32(outlet, rules) {
            return Err(problem(format!(
                "{kind} '{name}' must be {expected}, found {}",
                describe(outlet)
            )));
        }
    }
    let counted = outlets
        .iter()
        .filter(|o| !checked_elsewhere.contains(&o.name()))
        .count();
    if counted != names.len() {
        let wanted = match names {
            [one] => format!("one {kind} '{one}'"),
            _ => format!(
                "the {kind}s {}",
                names
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        return Err(problem(format!(
            "must have exactly {wanted}, found {kind}s: {}",
            list(outlets)
        )));
    }
    Ok(())
}

/// A contract problem of the file at `path` in its `role` (`generator`, `shape regressor`).
pub(crate) fn contract_problem(role: &'static str, path: &Path) -> impl Fn(String) -> ModelError {
    let path = path.to_owned();
    move |problem| ModelError::Contract {
        role,
        path: path.clone(),
        problem,
    }
}

/// The session's metadata; a failure to read it is reported through `problem`.
pub(crate) fn metadata<'s>(
    session: &'s Session,
    problem: &dyn Fn(String) -> ModelError,
) -> Result<ModelMetadata<'s>, ModelError> {
    session
        .metadata()
        .map_err(|e| problem(format!("cannot read its metadata: {e}")))
}

/// The custom metadata entry `key` (`ModelProto.metadata_props`); a missing one is reported
/// through `problem` as `metadata '{key}' is missing (expected {expected})`.
pub(crate) fn required_metadata(
    metadata: &ModelMetadata<'_>,
    key: &str,
    expected: &str,
    problem: &dyn Fn(String) -> ModelError,
) -> Result<String, ModelError> {
    metadata
        .custom(key)
        .ok_or_else(|| problem(format!("metadata '{key}' is missing (expected {expected})")))
}
