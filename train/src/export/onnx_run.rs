//! Running an exported generator in ONNX Runtime through the project's one session builder
//! (`sgpn_models::build_session`): used by the export check, the tests and `bench`.

use std::path::Path;

use anyhow::Context;
use ort::session::{Session, SessionInputValue};
use ort::value::TensorRef;
use sgpn_models::{SessionConfig, build_session};

use super::{INPUT_LQ, INPUT_RENDER, OUTPUT_RESTORED};

/// A CPU session with `threads` intra-op threads (0: ONNX Runtime decides).
pub fn cpu_session(path: &Path, threads: usize) -> anyhow::Result<Session> {
    let cfg = SessionConfig {
        intra_threads: threads,
        ..Default::default()
    };
    build_session(path, &cfg).with_context(|| format!("opening {}", path.display()))
}

/// `restored` for `lq` (and `render`), each planar [n, 3, size, size].
pub fn run_generator(
    session: &mut Session,
    n: usize,
    size: usize,
    lq: &[f32],
    render: Option<&[f32]>,
) -> anyhow::Result<Vec<f32>> {
    let shape = vec![n as i64, 3, size as i64, size as i64];
    let mut inputs = vec![(
        std::borrow::Cow::from(INPUT_LQ),
        SessionInputValue::from(TensorRef::from_array_view((shape.clone(), lq))?),
    )];
    if let Some(r) = render {
        inputs.push((
            std::borrow::Cow::from(INPUT_RENDER),
            SessionInputValue::from(TensorRef::from_array_view((shape, r))?),
        ));
    }
    let outputs = session.run(inputs)?;
    let (_, data) = outputs[OUTPUT_RESTORED].try_extract_tensor::<f32>()?;
    Ok(data.to_vec())
}
