//! Typed errors of the face renderer: each one names the input and what was wrong with it.
//!
//! The renderer keeps its own error type because its failures (a triangle pointing past the
//! vertex list, a non-finite vertex) do not fit the buffer/transform cases of
//! [`crate::KernelError`].

/// Why the renderer refused its inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RenderError {
    #[error("{what}: holds {found} entries, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("triangle {triangle} refers to vertex {index}, but there are only {vertices} vertices")]
    TriangleIndex {
        triangle: usize,
        index: u32,
        vertices: usize,
    },
    #[error("{what}[{index}] is not finite: {value:?}")]
    NonFinite {
        what: &'static str,
        index: usize,
        value: [f32; 3],
    },
    #[error("gamma[{index}] is not finite: {value}")]
    NonFiniteGamma { index: usize, value: f32 },
    #[error("render size must be 1..={max} pixels, found {found}")]
    Size { found: usize, max: usize },
    #[error("camera {field} = {value} is invalid: {expected}")]
    Camera {
        field: &'static str,
        value: f32,
        expected: &'static str,
    },
    /// One face of a batch ([`super::batch`]) was refused.
    #[error("face {face} of the batch: {source}")]
    Face {
        face: usize,
        source: Box<RenderError>,
    },
}

impl RenderError {
    /// This error as face `face`'s of a batch.
    pub(crate) fn in_face(self, face: usize) -> Self {
        RenderError::Face {
            face,
            source: Box::new(self),
        }
    }
}

/// Checks that `found` entries match `expected`, naming the input otherwise.
pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), RenderError> {
    if expected == found {
        Ok(())
    } else {
        Err(RenderError::Length {
            what,
            expected,
            found,
        })
    }
}

/// Checks that every entry of `values` is finite, naming the first that is not.
pub(crate) fn check_finite(what: &'static str, values: &[[f32; 3]]) -> Result<(), RenderError> {
    match values.iter().position(|v| !v.iter().all(|c| c.is_finite())) {
        None => Ok(()),
        Some(index) => Err(RenderError::NonFinite {
            what,
            index,
            value: values[index],
        }),
    }
}

/// Checks that every triangle's indices lie below `vertices`, naming the first that does not.
pub(crate) fn check_triangles(triangles: &[[u32; 3]], vertices: usize) -> Result<(), RenderError> {
    for (triangle, tri) in triangles.iter().enumerate() {
        if let Some(&index) = tri.iter().find(|&&i| i as usize >= vertices) {
            return Err(RenderError::TriangleIndex {
                triangle,
                index,
                vertices,
            });
        }
    }
    Ok(())
}
