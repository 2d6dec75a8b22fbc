//! The backend seam (docs/gpu-path.md): each face kernel as a function over plain buffers,
//! with the CPU reference here and the CUDA twin (`cuda::CudaKernels`) behind the same trait,
//! same signatures, same tests.

use crate::affine::Affine2;
use crate::error::KernelError;
use crate::image::RgbImage;
use crate::paste::{self, PasteParams};
use crate::warp;

/// The per-face kernels of the pipeline, on some device.
pub trait FaceKernels {
    /// Warps one crop per transform (`crop_to_src`) out of `src` into `out`, a batch
    /// [N, 3, S, S] in [-1, 1] ready for the generator.
    fn warp_face_crops(
        &self,
        src: &RgbImage,
        transforms: &[Affine2],
        size: usize,
        out: &mut [f32],
    ) -> Result<(), KernelError>;

    /// Blends one restored crop [3, S, S] into `region` and raises `alpha` where it pasted:
    /// the crop itself when `reference` is `None` (replace), the change `restored − reference`
    /// against the generator's input crop otherwise (residual); see [`paste::paste_back`].
    #[allow(clippy::too_many_arguments)]
    fn paste_back(
        &self,
        region: &mut RgbImage,
        alpha: &mut [f32],
        restored: &[f32],
        reference: Option<&[f32]>,
        size: usize,
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<(), KernelError>;
}

/// The CPU reference implementation (rayon over rows).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuKernels;

impl FaceKernels for CpuKernels {
    fn warp_face_crops(
        &self,
        src: &RgbImage,
        transforms: &[Affine2],
        size: usize,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        warp::check_batch(transforms.len(), size, out.len())?;
        for (t, crop) in transforms.iter().zip(out.chunks_exact_mut(3 * size * size)) {
            warp::warp_face_crop(src, t, size, crop)?;
        }
        Ok(())
    }

    fn paste_back(
        &self,
        region: &mut RgbImage,
        alpha: &mut [f32],
        restored: &[f32],
        reference: Option<&[f32]>,
        size: usize,
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<(), KernelError> {
        paste::paste_back(
            region,
            alpha,
            restored,
            reference,
            size,
            region_to_crop,
            params,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_warp_equals_single_warps() {
        let mut src = RgbImage::new(30, 20);
        for (i, v) in src.data.iter_mut().enumerate() {
            *v = (i % 251) as f32;
        }
        let ts = [
            Affine2::identity(),
            Affine2::scale_translate(0.5, 3.0, 2.0),
            Affine2::scale_translate(2.0, -4.0, 1.0),
        ];
        let mut batch = vec![0.0; 3 * 3 * 8 * 8];
        CpuKernels
            .warp_face_crops(&src, &ts, 8, &mut batch)
            .unwrap();
        for (t, got) in ts.iter().zip(batch.chunks(3 * 64)) {
            let mut one = vec![0.0; 3 * 64];
            warp::warp_face_crop(&src, t, 8, &mut one).unwrap();
            assert_eq!(got, &one[..]);
        }
        assert!(matches!(
            CpuKernels.warp_face_crops(&src, &ts, 8, &mut batch[1..]),
            Err(KernelError::BufferSize {
                expected: 576,
                found: 575,
                ..
            })
        ));
    }
}
