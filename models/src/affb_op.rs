//! `sgpn.AffbFuse`, the AFFB as one ONNX custom operator (ort's `operator` API), on the CPU:
//! the generator exported with `sgpn-train export --affb custom-op` runs in every session this
//! crate builds. Inputs `F_inter, F_lq[, F_3d], W_mask, b_mask` (float, NCHW features; `W_mask`
//! [C, 2C or 3C], `b_mask` [C]), output `[F_inter, F_blend]` [N, 2C, H, W]; the arithmetic is
//! `sgpn_kernels::affb::affb_fuse` (SGPN Sec. 3.2). The shipped generators keep the standard-op
//! form (a custom node splits TensorRT's partition of the graph).

use ort::operator::{
    BoxedKernel, ComputeContext, KernelContext, Operator, OperatorDomain, OperatorInput,
    OperatorOutput,
};
use ort::value::TensorElementType;
use sgpn_kernels::affb::{AffbShape, affb_fuse};

/// The operator's domain and name, as the export writes them.
pub const DOMAIN: &str = "sgpn";
pub const NAME: &str = "AffbFuse";

pub struct AffbFuse;

/// The domain holding the operator, for `SessionBuilder::with_operators`.
pub fn domain() -> ort::Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)?.add(AffbFuse)
}

fn shape_error(what: String) -> ort::Error {
    ort::Error::new(format!("{DOMAIN}.{NAME}: {what}"))
}

/// One node's computation: checks every shape against `F_inter`'s and fuses.
fn compute(ctx: &ComputeContext) -> ort::Result<()> {
    let count = ctx.num_inputs()?;
    if !(4..=5).contains(&count) {
        return Err(shape_error(format!("takes 4 or 5 inputs, found {count}")));
    }
    let mut inputs = Vec::with_capacity(count);
    for i in 0..count {
        inputs.push(
            ctx.input(i)?
                .ok_or_else(|| shape_error(format!("input {i} is missing")))?,
        );
    }
    let mut tensors = Vec::with_capacity(count);
    for input in &inputs {
        let (shape, data) = input.try_extract_tensor::<f32>()?;
        tensors.push((shape.to_vec(), data));
    }
    let (features, params) = tensors.split_at(count - 2);
    let dims = &features[0].0;
    let [n, c, h, w] = dims[..] else {
        return Err(shape_error(format!(
            "F_inter must be [N, C, H, W], found {dims:?}"
        )));
    };
    for (i, (other, _)) in features.iter().enumerate() {
        if other != dims {
            return Err(shape_error(format!(
                "feature input {i} is {other:?}, F_inter is {dims:?}"
            )));
        }
    }
    let k = features.len() as i64;
    if params[0].0 != [c, k * c] || params[1].0 != [c] {
        return Err(shape_error(format!(
            "W_mask {:?} and b_mask {:?} do not fit {k} inputs of {c} channels",
            params[0].0, params[1].0
        )));
    }
    let shape = AffbShape {
        n: n as usize,
        channels: c as usize,
        positions: (h * w) as usize,
    };
    let fused = affb_fuse(
        shape,
        features[0].1,
        features[1].1,
        features.get(2).map(|f| f.1),
        params[0].1,
        params[1].1,
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
