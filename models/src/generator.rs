//! A restoration network that follows the generator contract ([`crate::contract`]): loads and
//! checks the model, then restores batches of aligned faces.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;

use crate::contract::{GeneratorInfo, INPUT_LQ, OUTPUT_RESTORED, check_generator};
use crate::error::ModelError;
use crate::runtime::{SessionConfig, build_session};

pub struct Generator {
    pub info: GeneratorInfo,
    session: Session,
}

impl Generator {
    /// Builds the session and checks the contract; the error names the file and what is wrong.
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Self, ModelError> {
        let session = build_session(path, cfg)?;
        let info = check_generator(path, &session)?;
        Ok(Self { info, session })
    }

    /// Values in one face tensor: 3·S·S.
    pub fn face_len(&self) -> usize {
        3 * self.info.size * self.info.size
    }

    /// Restores `batch` aligned faces: `lq` is [batch,3,S,S] planar RGB in [-1, 1]; the result
    /// has the same layout and range.
    pub fn restore(&mut self, lq: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let s = self.info.size;
        let shape = [batch, 3, s, s];
        let want_len = batch * self.face_len();
        let path = self.info.path.as_path();
        let shape_error = |what: &str, found: String| ModelError::Shape {
            path: path.to_owned(),
            what: what.to_owned(),
            expected: format!("{want_len} values ([{batch},3,{s},{s}])"),
            found,
        };
        if batch == 0 {
            return Err(shape_error("the batch size", "0".to_owned()));
        }
        if lq.len() != want_len {
            return Err(shape_error("input 'lq'", format!("{} values", lq.len())));
        }
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let input = TensorRef::from_array_view((shape, lq)).map_err(runtime_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_LQ => input])
            .map_err(runtime_err)?;
        let (out_shape, data) = outputs[OUTPUT_RESTORED]
            .try_extract_tensor::<f32>()
            .map_err(runtime_err)?;
        let expected_shape = shape.map(|d| d as i64);
        if **out_shape != expected_shape {
            return Err(shape_error(
                "output 'restored'",
                format!("shape {:?}", &**out_shape),
            ));
        }
        Ok(data.to_vec())
    }
}
