//! `sgpn.AffbFuse`, the AFFB as one ONNX custom operator (ort's `operator` API): the generator
//! exported with `sgpn-train export --affb custom-op` runs in every session this crate builds,
//! on the CPU ([`AffbFuse`]) or, in a session with the CUDA provider, on the GPU
//! ([`AffbFuseCuda`]: `kernels/cuda/affb.cu` on ONNX Runtime's compute stream, the tensors left
//! where the provider put them). Inputs `F_inter, F_lq[, F_3d], W_mask, b_mask` (float, NCHW features; `W_mask`
//! `[C, 2C or 3C]`, `b_mask` `[C]`), output `[F_inter, F_blend]` `[N, 2C, H, W]`; the arithmetic is
//! `sgpn_kernels::affb::affb_fuse` (SGPN Sec. 3.2). The shipped generators keep the standard-op
//! form (a custom node splits TensorRT's partition of the graph).

use ort::operator::{
    BoxedKernel, ComputeContext, KernelContext, Operator, OperatorDomain, OperatorInput,
    OperatorOutput,
};
use ort::value::{DynTensorValueType, TensorElementType, ValueRef, ValueType};
use sgpn_kernels::affb::{AffbShape, affb_fuse};
use sgpn_kernels::cuda::CudaKernels;
use std::sync::{Arc, OnceLock};

/// The operator's domain and name, as the export writes them.
pub const DOMAIN: &str = "sgpn";
pub const NAME: &str = "AffbFuse";

pub struct AffbFuse;

/// The domain holding the operator (its CPU and CUDA kernels), for
/// `SessionBuilder::with_operators`.
pub fn domain() -> ort::Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)?
        .add(AffbFuse)?
        .add(AffbFuseCuda)
}

fn shape_error(what: String) -> ort::Error {
    ort::Error::new(format!("{DOMAIN}.{NAME}: {what}"))
}

/// The node's inputs, present and as many as the operator takes.
fn node_inputs(ctx: &ComputeContext) -> ort::Result<Vec<ValueRef<'_>>> {
    let count = ctx.num_inputs()?;
    if !(4..=5).contains(&count) {
        return Err(shape_error(format!("takes 4 or 5 inputs, found {count}")));
    }
    (0..count)
        .map(|i| {
            ctx.input(i)?
                .ok_or_else(|| shape_error(format!("input {i} is missing")))
        })
        .collect()
}

/// Checks the input shapes (features first, then `W_mask`, `b_mask`) against `F_inter`'s.
fn check_shapes(shapes: &[Vec<i64>]) -> ort::Result<AffbShape> {
    let (features, params) = shapes.split_at(shapes.len() - 2);
    let dims = &features[0];
    let [n, c, h, w] = dims[..] else {
        return Err(shape_error(format!(
            "F_inter must be [N, C, H, W], found {dims:?}"
        )));
    };
    for (i, other) in features.iter().enumerate() {
        if other != dims {
            return Err(shape_error(format!(
                "feature input {i} is {other:?}, F_inter is {dims:?}"
            )));
        }
    }
    let k = features.len() as i64;
    if params[0] != [c, k * c] || params[1] != [c] {
        return Err(shape_error(format!(
            "W_mask {:?} and b_mask {:?} do not fit {k} inputs of {c} channels",
            params[0], params[1]
        )));
    }
    Ok(AffbShape {
        n: n as usize,
        channels: c as usize,
        positions: (h * w) as usize,
    })
}

/// One node's computation on the CPU: checks every shape against `F_inter`'s and fuses.
fn compute(ctx: &ComputeContext) -> ort::Result<()> {
    let inputs = node_inputs(ctx)?;
    let count = inputs.len();
    let (mut shapes, mut data) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for input in &inputs {
        let (shape, values) = input.try_extract_tensor::<f32>()?;
        shapes.push(shape.to_vec());
        data.push(values);
    }
    let shape = check_shapes(&shapes)?;
    let (features, params) = data.split_at(count - 2);
    let (n, c, h, w) = (shapes[0][0], shapes[0][1], shapes[0][2], shapes[0][3]);
    let fused = affb_fuse(
        shape,
        features[0],
        features[1],
        features.get(2).copied(),
        params[0],
        params[1],
    );
    let mut output = ctx
        .output(0, vec![n, 2 * c, h, w])?
        .ok_or_else(|| shape_error("no output".into()))?;
    output
        .try_extract_tensor_mut::<f32>()?
        .1
        .copy_from_slice(&fused);
    Ok(())
}

impl Operator for AffbFuse {
    type Kernel<'attr> = BoxedKernel<'attr>;

    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [OperatorInput::variadic(4).homogenous(TensorElementType::Float32)]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, _: &KernelContext<'attr>) -> ort::Result<Self::Kernel<'attr>> {
        Ok(Box::new(compute))
    }
}

/// The CUDA kernel of `sgpn.AffbFuse`: declared for ONNX Runtime's CUDA provider, so its inputs
/// and output stay on the GPU, and launched on the provider's compute stream (wrapped, not
/// owned), so it is ordered with the convolutions around it without a synchronisation.
pub struct AffbFuseCuda;

/// The kernels of the device the session runs on, loaded by the first node that runs.
struct CudaAffbKernel {
    kernels: Arc<OnceLock<Result<CudaKernels, String>>>,
}

impl CudaAffbKernel {
    fn compute(&self, ctx: &ComputeContext) -> ort::Result<()> {
        let inputs = node_inputs(ctx)?
            .into_iter()
            .map(|v| v.downcast::<DynTensorValueType>())
            .collect::<ort::Result<Vec<_>>>()?;
        let mut shapes = Vec::with_capacity(inputs.len());
        for input in &inputs {
            match input.dtype() {
                ValueType::Tensor { shape, ty, .. } if *ty == TensorElementType::Float32 => {
                    shapes.push(shape.to_vec())
                }
                other => {
                    return Err(shape_error(format!(
                        "inputs must be float tensors, found {other:?}"
                    )));
                }
            }
        }
        let shape = check_shapes(&shapes)?;
        let device = inputs[0].memory_info().device_id();
        let kernels = self
            .kernels
            .get_or_init(|| CudaKernels::new(device.max(0) as usize).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| shape_error(format!("CUDA kernels: {e}")))?;
        let raw = ctx.stream()?.ok_or_else(|| {
            shape_error("no CUDA compute stream (not on the CUDA provider)".into())
        })?;
        // SAFETY: ONNX Runtime's compute stream of this context's device, alive while the node
        // runs; the wrapper does not destroy it.
        let stream = unsafe { kernels.context().wrap_borrowed_stream(raw.as_ptr().cast()) };
        let (n, c, h, w) = (shapes[0][0], shapes[0][1], shapes[0][2], shapes[0][3]);
        let output = ctx
            .output(0, vec![n, 2 * c, h, w])?
            .ok_or_else(|| shape_error("no output".into()))?
            .downcast::<DynTensorValueType>()?;
        let address = |v: &ValueRef<'_, DynTensorValueType>| v.data_ptr() as u64;
        let count = inputs.len();
        let has_3d = count == 5;
        let d3 = if has_3d {
            address(&inputs[2])
        } else {
            address(&inputs[1])
        };
        let ptrs = [
            address(&inputs[0]),
            address(&inputs[1]),
            d3,
            address(&inputs[count - 2]),
            address(&inputs[count - 1]),
            // The output was just allocated for this node; its address is writable.
            output.data_ptr() as u64,
        ];
        // SAFETY: the provider allocated every tensor on this device with the shapes checked
        // above, and keeps them alive until its stream has run the launch.
        unsafe { kernels.launch_affb_on(&stream, shape, has_3d, ptrs) }
            .map_err(|e| shape_error(format!("launch: {e}")))
    }
}

impl Operator for AffbFuseCuda {
    type Kernel<'attr> = BoxedKernel<'attr>;

    fn name(&self) -> &str {
        NAME
    }

    fn execution_provider_type(&self) -> Option<&str> {
        Some("CUDAExecutionProvider")
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [OperatorInput::variadic(4).homogenous(TensorElementType::Float32)]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, _: &KernelContext<'attr>) -> ort::Result<Self::Kernel<'attr>> {
        let kernel = CudaAffbKernel {
            kernels: Arc::new(OnceLock::new()),
        };
        Ok(Box::new(move |ctx: &ComputeContext| kernel.compute(ctx)))
    }
}
