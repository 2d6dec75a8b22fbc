//! A restoration network that follows the generator contract ([`crate::contract`]): loads and
//! checks the model, then restores batches of aligned faces — from the LQ faces alone (variant
//! `no3d`), or with the rendered 3D faces of the shape prior as well (variant `full`, paper
//! Sec. 3.1).

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;

use crate::contract::{
    GeneratorInfo, INPUT_COEFFS, INPUT_LQ, INPUT_RENDER, OUTPUT_RESTORED, Variant, check_generator,
};
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

    /// Restores `batch` aligned faces with a `no3d` generator: `lq` is `[batch,3,S,S]` planar RGB
    /// in [-1, 1]; the result has the same layout and range.
    pub fn restore(&mut self, lq: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        self.run(lq, None, None, batch)
    }

    /// Restores `batch` aligned faces with a `full` generator: `render` holds the rendered 3D
    /// faces of the same crops (`[batch,3,S,S]`, docs/shape-prior.md "Tensors").
    pub fn restore_with_render(
        &mut self,
        lq: &[f32],
        render: &[f32],
        batch: usize,
    ) -> Result<Vec<f32>, ModelError> {
        self.run(lq, Some(render), None, batch)
    }

    /// As [`Generator::restore_with_render`], for a generator that also takes each face's 3DMM
    /// coefficients (`[batch,K]`, [`GeneratorInfo::coefficients`]); `coefficients` is ignored by
    /// one that does not.
    pub fn restore_with_shape(
        &mut self,
        lq: &[f32],
        render: &[f32],
        coefficients: &[f32],
        batch: usize,
    ) -> Result<Vec<f32>, ModelError> {
        let coefficients = self.info.coefficients.map(|_| coefficients);
        self.run(lq, Some(render), coefficients, batch)
    }

    fn run(
        &mut self,
        lq: &[f32],
        render: Option<&[f32]>,
        coefficients: Option<&[f32]>,
        batch: usize,
    ) -> Result<Vec<f32>, ModelError> {
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
        match (self.info.variant, render.is_some()) {
            (Variant::Full, false) => {
                return Err(shape_error(
                    "input 'render' (variant 'full' takes the rendered 3D faces)",
                    "none".to_owned(),
                ));
            }
            (Variant::No3d, true) => {
                return Err(ModelError::Contract {
                    role: "generator",
                    path: path.to_owned(),
                    problem: "is variant 'no3d' and takes no rendered 3D faces ('render')"
                        .to_owned(),
                });
            }
            _ => {}
        }
        if batch == 0 {
            return Err(shape_error("the batch size", "0".to_owned()));
        }
        if lq.len() != want_len {
            return Err(shape_error("input 'lq'", format!("{} values", lq.len())));
        }
        if let Some(render) = render
            && render.len() != want_len
        {
            return Err(shape_error(
                "input 'render'",
                format!("{} values", render.len()),
            ));
        }
        let coefficients = match (self.info.coefficients, coefficients) {
            (None, _) => None,
            (Some(k), None) => {
                return Err(ModelError::Shape {
                    path: path.to_owned(),
                    what: format!(
                        "input '{INPUT_COEFFS}' (this generator takes the 3DMM coefficients of each face)"
                    ),
                    expected: format!("{} values ([{batch},{k}])", batch * k),
                    found: "none".to_owned(),
                });
            }
            (Some(k), Some(c)) if c.len() != batch * k => {
                return Err(ModelError::Shape {
                    path: path.to_owned(),
                    what: format!("input '{INPUT_COEFFS}'"),
                    expected: format!("{} values ([{batch},{k}])", batch * k),
                    found: format!("{} values", c.len()),
                });
            }
            (Some(k), Some(c)) => Some((k, c)),
        };
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let lq = TensorRef::from_array_view((shape, lq)).map_err(runtime_err)?;
        let outputs = match render {
            None => self.session.run(ort::inputs![INPUT_LQ => lq]),
            Some(render) => {
                let render = TensorRef::from_array_view((shape, render)).map_err(runtime_err)?;
                match coefficients {
                    None => self
                        .session
                        .run(ort::inputs![INPUT_LQ => lq, INPUT_RENDER => render]),
                    Some((k, c)) => {
                        let c = TensorRef::from_array_view(([batch, k], c)).map_err(runtime_err)?;
                        self.session.run(
                            ort::inputs![INPUT_LQ => lq, INPUT_RENDER => render, INPUT_COEFFS => c],
                        )
                    }
                }
            }
        }
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
