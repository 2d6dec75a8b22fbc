//! Network tensors in CUDA device memory (the GPU path's IoBinding, docs/architecture.md): a
//! buffer the kernels own, described by its device and address, bound to a session input or
//! output with no host copy, and the check that the session can take it.

use std::path::Path;

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::value::{Shape, TensorRefMut};

use crate::device::Device;
use crate::error::ModelError;

/// A float tensor in CUDA device memory, `[batch,3,S,S]` like the contract's host tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceTensor {
    /// The CUDA device ordinal.
    pub ordinal: i32,
    /// The device address of the first float.
    pub address: u64,
}

impl DeviceTensor {
    /// This memory as an ONNX Runtime tensor of `shape` on the CUDA device, to bind to a
    /// session input or output.
    ///
    /// # Safety
    /// The address must hold `shape`'s product of floats on that device while the tensor is
    /// used.
    pub unsafe fn bind<const N: usize>(
        &self,
        shape: [usize; N],
    ) -> Result<TensorRefMut<'static, f32>, ort::Error> {
        let info = MemoryInfo::new(
            AllocationDevice::CUDA,
            self.ordinal,
            AllocatorType::Device,
            MemoryType::Default,
        )?;
        // SAFETY: as the caller guarantees.
        unsafe { TensorRefMut::from_raw(info, self.address as usize as *mut _, Shape::from(shape)) }
    }
}

/// Device-bound tensors need a session on a CUDA provider; one on the CPU is refused with an
/// error that names the model file and says what to choose.
pub(crate) fn check_cuda_provider(device: Device, path: &Path) -> Result<(), ModelError> {
    if device == Device::Cpu {
        return Err(ModelError::Runtime {
            path: path.to_owned(),
            reason: "device-bound inputs need a CUDA provider (device=cuda or tensorrt), the \
                     session runs on the CPU"
                .to_owned(),
        });
    }
    Ok(())
}
