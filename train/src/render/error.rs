//! Typed errors of the differentiable renderer: each names the input and what was wrong with it.
//! Failures of the visibility pass come from the CPU reference unchanged
//! ([`sgpn_kernels::render::RenderError`]).

use sgpn_kernels::render::RenderError;

/// Why the differentiable renderer refused its inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DiffRenderError {
    #[error("{what}: shape {found:?}, expected {expected}")]
    Shape {
        what: &'static str,
        expected: String,
        found: Vec<usize>,
    },
    #[error("the mesh has no triangles: nothing to render")]
    EmptyMesh,
    #[error("{what} holds a NaN or infinite value")]
    NonFinite { what: &'static str },
    #[error("landmark {landmark} refers to vertex {index}, but the mesh has {vertices} vertices")]
    LandmarkIndex {
        landmark: usize,
        index: u32,
        vertices: usize,
    },
    #[error(transparent)]
    Kernel(#[from] RenderError),
}

/// Checks `found` against `expected`, where `None` matches any extent; the message shows the
/// expected shape with `names` standing in for the free extents.
pub(crate) fn check_shape(
    what: &'static str,
    found: &[usize],
    expected: &[Option<usize>],
    names: &[&str],
) -> Result<(), DiffRenderError> {
    let fits = found.len() == expected.len()
        && found
            .iter()
            .zip(expected)
            .all(|(f, e)| e.is_none_or(|e| e == *f));
    if fits {
        return Ok(());
    }
    let mut free = names.iter();
    let dims: Vec<String> = expected
        .iter()
        .map(|e| match e {
            Some(n) => n.to_string(),
            None => free.next().copied().unwrap_or("_").to_string(),
        })
        .collect();
    Err(DiffRenderError::Shape {
        what,
        expected: format!("[{}]", dims.join(", ")),
        found: found.to_vec(),
    })
}
