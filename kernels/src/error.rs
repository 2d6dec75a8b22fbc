//! Typed errors of the kernels: every buffer or parameter mismatch names what was expected.

/// Why a kernel refused its inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KernelError {
    #[error("{what}: buffer holds {found} values, expected {expected}")]
    BufferSize {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("crop size must be at least 1 pixel, found {0}")]
    EmptyCrop(usize),
    #[error("{what} is not invertible: {transform:?}")]
    SingularTransform {
        what: &'static str,
        transform: crate::Affine2,
    },
    #[error("{what} has non-finite coefficients: {transform:?}")]
    NonFiniteTransform {
        what: &'static str,
        transform: crate::Affine2,
    },
    #[error("paste parameter {name} = {value} is outside {range}")]
    PasteParam {
        name: &'static str,
        value: f32,
        range: &'static str,
    },
    #[error("CUDA: {0}")]
    Cuda(String),
    #[error("face renderer: {0}")]
    Render(#[from] crate::render::RenderError),
}

/// Checks that `found` matches `expected`, naming the buffer otherwise.
pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), KernelError> {
    if expected == found {
        Ok(())
    } else {
        Err(KernelError::BufferSize {
            what,
            expected,
            found,
        })
    }
}
