//! Checking a session's declared inputs and outputs against what a model role expects, and
//! describing what was found in the ONNX notation users know (`float32 [N,3,512,512]`).

use ort::value::Outlet;
use ort::value::{TensorElementType, ValueType};

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
