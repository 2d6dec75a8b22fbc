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
use crate::device::Device;
use crate::device_memory::{DeviceTensor, check_cuda_provider};
use crate::error::ModelError;
use crate::runtime::{SessionConfig, build_session};

pub struct Generator {
    pub info: GeneratorInfo,
    session: Session,
    device: Device,
}

/// The device-bound tensors of one generator run ([`Generator::restore_on_device`]).
#[derive(Clone, Copy, Debug)]
pub struct DeviceBatch<'a> {
    pub lq: DeviceTensor,
    /// The rendered 3D faces, for a `full` generator.
    pub render: Option<DeviceTensor>,
    /// The 3DMM coefficients `[batch,K]` on the host, for a generator that takes them (a few
    /// hundred floats: the provider copies them).
    pub coefficients: Option<&'a [f32]>,
    /// Where the restored faces go.
    pub restored: DeviceTensor,
    pub batch: usize,
}

impl Generator {
    /// Builds the session and checks the contract; the error names the file and what is wrong.
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Self, ModelError> {
        let session = build_session(path, cfg)?;
        let info = check_generator(path, &session)?;
        Ok(Self {
            info,
            session,
            device: cfg.device,
        })
    }

    /// Whether the session runs on a CUDA provider (`cuda`, `tensorrt`), so that
    /// [`Generator::restore_on_device`] can take the batch where the kernels left it.
    pub fn takes_device_memory(&self) -> bool {
        self.device != Device::Cpu
    }

    /// Restores a batch that lives in CUDA device memory into device memory, with no host
    /// copy: the inputs and the output are bound to the caller's buffers (ONNX Runtime's
    /// IoBinding). The session must run on a CUDA provider ([`Generator::takes_device_memory`]),
    /// on the stream the buffers were written on (`SessionConfig::compute_stream`), so that the
    /// run follows the kernels that filled them and precedes those that read the result.
    ///
    /// # Safety
    /// Each address must point to `batch·3·S·S` floats of device memory on its ordinal that
    /// stay allocated, and are not written by anything else, until this call returns.
    pub unsafe fn restore_on_device(&mut self, b: DeviceBatch<'_>) -> Result<(), ModelError> {
        let s = self.info.size;
        let path = self.info.path.clone();
        let runtime_err = |e: ort::Error| ModelError::Runtime {
            path: path.clone(),
            reason: e.to_string(),
        };
        check_cuda_provider(self.device, &path)?;
        self.check_inputs(b.render.is_some(), b.batch)?;
        let coefficients = self.check_coefficients(b.coefficients, b.batch)?;
        let shape = [b.batch, 3, s, s];
        // SAFETY (of each `bind`): the caller guarantees the address holds `shape` floats on
        // that device for the whole run.
        let bound = |t: DeviceTensor| unsafe { t.bind(shape) }.map_err(runtime_err);
        let mut binding = self.session.create_binding().map_err(runtime_err)?;
        let lq = bound(b.lq)?;
        binding.bind_input(INPUT_LQ, &lq).map_err(runtime_err)?;
        if let Some(render) = b.render {
            let render = bound(render)?;
            binding
                .bind_input(INPUT_RENDER, &render)
                .map_err(runtime_err)?;
        }
        if let Some((k, c)) = coefficients {
            let c = TensorRef::from_array_view(([b.batch, k], c)).map_err(runtime_err)?;
            binding.bind_input(INPUT_COEFFS, &c).map_err(runtime_err)?;
        }
        binding
            .bind_output(OUTPUT_RESTORED, bound(b.restored)?)
            .map_err(runtime_err)?;
        self.session.run_binding(&binding).map_err(runtime_err)?;
        Ok(())
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

    /// The variant takes a rendered face exactly when `has_render`, and the batch is not empty.
    fn check_inputs(&self, has_render: bool, batch: usize) -> Result<(), ModelError> {
        let s = self.info.size;
        let path = self.info.path.as_path();
        let shape_error = |what: &str, found: String| ModelError::Shape {
            path: path.to_owned(),
            what: what.to_owned(),
            expected: format!("{} values ([{batch},3,{s},{s}])", batch * self.face_len()),
            found,
        };
        match (self.info.variant, has_render) {
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
        Ok(())
    }

    /// The coefficients `[batch,K]` with their K, for a generator that takes them.
    fn check_coefficients<'c>(
        &self,
        coefficients: Option<&'c [f32]>,
        batch: usize,
    ) -> Result<Option<(usize, &'c [f32])>, ModelError> {
        let path = self.info.path.as_path();
        match (self.info.coefficients, coefficients) {
            (None, _) => Ok(None),
            (Some(k), None) => Err(ModelError::Shape {
                path: path.to_owned(),
                what: format!(
                    "input '{INPUT_COEFFS}' (this generator takes the 3DMM coefficients of each face)"
                ),
                expected: format!("{} values ([{batch},{k}])", batch * k),
                found: "none".to_owned(),
            }),
            (Some(k), Some(c)) if c.len() != batch * k => Err(ModelError::Shape {
                path: path.to_owned(),
                what: format!("input '{INPUT_COEFFS}'"),
                expected: format!("{} values ([{batch},{k}])", batch * k),
                found: format!("{} values", c.len()),
            }),
            (Some(k), Some(c)) => Ok(Some((k, c))),
        }
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
        self.check_inputs(render.is_some(), batch)?;
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
        let coefficients = self.check_coefficients(coefficients, batch)?;
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
