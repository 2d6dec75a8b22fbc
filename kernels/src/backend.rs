//! The backend seam (docs/gpu-path.md): each face kernel as a function over plain buffers,
//! with the CPU reference here and the CUDA twin (`cuda::CudaKernels`) behind the same trait,
//! same signatures, same tests.

use crate::affine::Affine2;
use crate::error::KernelError;
use crate::frame::{self, FrameMut, FrameRef};
use crate::image::{Rect, RgbImage};
use crate::paste::{self, PasteParams};
use crate::render::{
    self, BatchRender, Camera, CoefficientBatch, FaceInput, MorphableParts, RenderTarget,
};
use crate::stabilise::{self, Previous};
use crate::{colour, warp};

/// The per-face kernels of the pipeline, on some device, over buffers that live where that
/// device computes: a frame's regions, crops and restored crops stay there from the first
/// stage to the write-back, and cross to the host only where a network runs there.
///
/// Layouts: a region is interleaved RGB `[h, w, 3]` in 0..255 with its alpha `[h, w]`; a crop
/// batch is planar `[N, 3, S, S]` in [-1, 1], crop `i` at `i·3·S·S`.
pub trait FaceKernels: Send {
    /// Floats where this backend computes: host memory for the CPU, device memory for CUDA.
    type Buffer: Send;

    /// `len` zeros.
    fn zeros(&self, len: usize) -> Result<Self::Buffer, KernelError>;

    /// A buffer holding `host`.
    fn upload(&self, host: &[f32]) -> Result<Self::Buffer, KernelError>;

    /// Copies `buffer` into `host` (the same length): for networks that run on the host.
    fn download(&self, buffer: &Self::Buffer, host: &mut [f32]) -> Result<(), KernelError>;

    /// The number of floats `buffer` holds.
    fn len(&self, buffer: &Self::Buffer) -> usize;

    /// `buffer`'s floats when it is host memory already, so that a network on the host reads
    /// it without a copy; `None` for device memory (use [`FaceKernels::download`]).
    fn as_host<'a>(&self, _buffer: &'a Self::Buffer) -> Option<&'a [f32]> {
        None
    }

    /// A buffer holding `host`, taking it without a copy where the backend computes on the
    /// host.
    fn upload_owned(&self, host: Vec<f32>) -> Result<Self::Buffer, KernelError> {
        self.upload(&host)
    }

    /// A copy of `buffer`, on the same device.
    fn duplicate(&self, buffer: &Self::Buffer) -> Result<Self::Buffer, KernelError>;

    /// Where `buffer` lives for ONNX Runtime's CUDA provider: `(device ordinal, address)`, or
    /// `None` for host memory.
    fn device_address(&self, _buffer: &Self::Buffer) -> Option<(i32, u64)> {
        None
    }

    /// Called before the faces of a frame are read and written back: a device backend keeps one
    /// copy of the frame for all of them.
    fn begin_frame(&self, _frame: &FrameRef) -> Result<(), KernelError> {
        Ok(())
    }

    /// Called after the last face of the frame was written back: a device backend stores its
    /// copy into `frame`.
    fn end_frame(&self, _frame: &mut FrameMut) -> Result<(), KernelError> {
        Ok(())
    }

    /// The pixels of `rect` as an RGB region ([`frame::read_region`]).
    fn read_region(&self, frame: &FrameRef, rect: Rect) -> Result<Self::Buffer, KernelError>;

    /// Blends region `rgb` into `rect` under `alpha` in the frame's own format
    /// ([`frame::write_region`]).
    fn write_region(
        &self,
        frame: &mut FrameMut,
        rect: Rect,
        rgb: &Self::Buffer,
        alpha: &Self::Buffer,
    ) -> Result<(), KernelError>;

    /// Warps one crop per transform (`crop_to_src`) out of `region` (`width × height`) into
    /// the crop batch `crops`, the first into slot `first` ([`warp::warp_face_crop`]).
    #[allow(clippy::too_many_arguments)]
    fn warp_face_crops(
        &self,
        region: &Self::Buffer,
        width: usize,
        height: usize,
        transforms: &[Affine2],
        size: usize,
        crops: &mut Self::Buffer,
        first: usize,
    ) -> Result<(), KernelError>;

    /// Crop `slot` of a batch as an interleaved RGB region of `size × size` pixels in 0..255,
    /// `(v + 1)·127.5`: a crop to warp again (the shape regressor's input is cut from it).
    fn crop_to_region(
        &self,
        crops: &Self::Buffer,
        slot: usize,
        size: usize,
    ) -> Result<Self::Buffer, KernelError>;

    /// Blends crop `slot` of the batch `restored` (`slot_size` = (slot, S)) into `region`
    /// (`dims` = (width, height)) and raises
    /// `alpha` where it pasted: the crop itself when `reference` is `None` (replace), the
    /// change `restored − reference` against crop `slot` of the generator's input batch
    /// otherwise (residual); see [`paste::paste_back`].
    #[allow(clippy::too_many_arguments)]
    fn paste_back(
        &self,
        region: &mut Self::Buffer,
        alpha: &mut Self::Buffer,
        dims: (usize, usize),
        restored: &Self::Buffer,
        reference: Option<&Self::Buffer>,
        slot_size: (usize, usize),
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<(), KernelError>;

    /// The colour fix of a batch of restored crops against the crops the generator was given
    /// ([`colour::match_coarse_colour`] per crop).
    fn colour_fix(
        &self,
        lq: &Self::Buffer,
        restored: &mut Self::Buffer,
        size: usize,
    ) -> Result<(), KernelError>;

    /// `change = pasted − input`, value by value: what a paste-back changed in a region.
    fn region_change(
        &self,
        pasted: &Self::Buffer,
        input: &Self::Buffer,
        change: &mut Self::Buffer,
    ) -> Result<(), KernelError>;

    /// `covered = 1` where `alpha > 0`, else 0: the pixels a paste-back reached, which the
    /// write-back then replaces by the already blended region and leaves alone elsewhere.
    fn coverage(&self, alpha: &Self::Buffer, covered: &mut Self::Buffer)
    -> Result<(), KernelError>;

    /// One face's detail smoothing ([`stabilise::blend_with_history`]).
    fn blend_with_history(
        &self,
        rect: Rect,
        input: &Self::Buffer,
        pasted: &mut Self::Buffer,
        change: &mut Self::Buffer,
        previous: &Previous<'_, Self::Buffer>,
        strength: f32,
    ) -> Result<(), KernelError>;

    /// The shape prior's faces, one topology, rendered together ([`render::render_batch`]; the
    /// paper's `I_3d`, Sec. 3.1). A refused face is [`KernelError::Render`] naming it.
    fn render_faces(
        &self,
        faces: &[FaceInput<'_>],
        triangles: &[[u32; 3]],
        camera: &Camera,
    ) -> Result<BatchRender, KernelError>;

    /// A 3DMM kept where this backend renders: the CPU renders from the caller's copy, a device
    /// keeps its own, uploaded once.
    type Morphable: Send;

    /// Makes `model` ready for [`FaceKernels::render_crops`].
    fn load_morphable(&self, model: &MorphableParts<'_>) -> Result<Self::Morphable, KernelError>;

    /// The shape prior's `I_3d` straight from the coefficients ([`render::render_crops`]):
    /// rendered with `camera`, put into `target`; the generator's `render` batch `[N,3,S,S]` in
    /// [-1, 1] and the coverage `[N,S,S]`. `loaded` is `model` after
    /// [`FaceKernels::load_morphable`]. A refused face is [`KernelError::Render`] naming it.
    fn render_crops(
        &self,
        model: &MorphableParts<'_>,
        loaded: &Self::Morphable,
        batch: &CoefficientBatch<'_>,
        camera: &Camera,
        target: RenderTarget<'_>,
    ) -> Result<(Self::Buffer, Self::Buffer), KernelError>;
}

/// The CPU reference implementation (rayon over rows), on host vectors.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuKernels;

/// `region` as an image of `width × height` for the references, and back.
fn with_image<R>(
    region: &mut Vec<f32>,
    (width, height): (usize, usize),
    f: impl FnOnce(&mut RgbImage) -> R,
) -> R {
    let mut image = RgbImage {
        width,
        height,
        data: std::mem::take(region),
    };
    let out = f(&mut image);
    *region = image.data;
    out
}

/// A batch of `len` floats holds slots `..end` of `n` floats each.
pub(crate) fn check_slot(
    what: &'static str,
    len: usize,
    end: usize,
    n: usize,
) -> Result<(), KernelError> {
    if len < end * n {
        return Err(KernelError::BufferSize {
            what,
            expected: end * n,
            found: len,
        });
    }
    Ok(())
}

/// Crop `slot` of a batch of `[3,S,S]` crops.
fn crop_at(batch: &[f32], slot: usize, size: usize) -> Result<&[f32], KernelError> {
    let n = 3 * size * size;
    check_slot("crop batch", batch.len(), slot + 1, n)?;
    Ok(&batch[slot * n..(slot + 1) * n])
}

impl FaceKernels for CpuKernels {
    type Buffer = Vec<f32>;

    fn zeros(&self, len: usize) -> Result<Vec<f32>, KernelError> {
        Ok(vec![0.0; len])
    }

    fn upload(&self, host: &[f32]) -> Result<Vec<f32>, KernelError> {
        Ok(host.to_vec())
    }

    fn download(&self, buffer: &Vec<f32>, host: &mut [f32]) -> Result<(), KernelError> {
        crate::error::check_len("download", buffer.len(), host.len())?;
        host.copy_from_slice(buffer);
        Ok(())
    }

    fn len(&self, buffer: &Vec<f32>) -> usize {
        buffer.len()
    }

    fn as_host<'a>(&self, buffer: &'a Vec<f32>) -> Option<&'a [f32]> {
        Some(buffer)
    }

    fn upload_owned(&self, host: Vec<f32>) -> Result<Vec<f32>, KernelError> {
        Ok(host)
    }

    fn duplicate(&self, buffer: &Vec<f32>) -> Result<Vec<f32>, KernelError> {
        Ok(buffer.clone())
    }

    fn read_region(&self, frame: &FrameRef, rect: Rect) -> Result<Vec<f32>, KernelError> {
        Ok(frame::read_region(frame, rect).data)
    }

    fn write_region(
        &self,
        frame: &mut FrameMut,
        rect: Rect,
        rgb: &Vec<f32>,
        alpha: &Vec<f32>,
    ) -> Result<(), KernelError> {
        crate::error::check_len("write_region region", 3 * rect.area(), rgb.len())?;
        crate::error::check_len("write_region alpha", rect.area(), alpha.len())?;
        frame::write_region_from(frame, rect, rgb, alpha);
        Ok(())
    }

    fn warp_face_crops(
        &self,
        region: &Vec<f32>,
        width: usize,
        height: usize,
        transforms: &[Affine2],
        size: usize,
        crops: &mut Vec<f32>,
        first: usize,
    ) -> Result<(), KernelError> {
        let n = 3 * size * size;
        let end = first + transforms.len();
        check_slot("warp_face_crops crop batch", crops.len(), end, n)?;
        let out = &mut crops[first * n..end * n];
        warp::check_batch(transforms.len(), size, out.len())?;
        for (t, crop) in transforms.iter().zip(out.chunks_exact_mut(n)) {
            warp::warp_crop_from(region, (width, height), t, size, crop)?;
        }
        Ok(())
    }

    fn crop_to_region(
        &self,
        crops: &Vec<f32>,
        slot: usize,
        size: usize,
    ) -> Result<Vec<f32>, KernelError> {
        let crop = crop_at(crops, slot, size)?;
        let plane = size * size;
        Ok((0..3 * plane)
            .map(|j| (crop[(j % 3) * plane + j / 3] + 1.0) * 127.5)
            .collect())
    }

    fn paste_back(
        &self,
        region: &mut Vec<f32>,
        alpha: &mut Vec<f32>,
        dims: (usize, usize),
        restored: &Vec<f32>,
        reference: Option<&Vec<f32>>,
        (slot, size): (usize, usize),
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<(), KernelError> {
        let restored = crop_at(restored, slot, size)?;
        let reference = reference.map(|r| crop_at(r, slot, size)).transpose()?;
        with_image(region, dims, |image| {
            paste::paste_back(
                image,
                alpha,
                restored,
                reference,
                size,
                region_to_crop,
                params,
            )
        })
    }

    fn colour_fix(
        &self,
        lq: &Vec<f32>,
        restored: &mut Vec<f32>,
        size: usize,
    ) -> Result<(), KernelError> {
        let n = 3 * size * size;
        check_crops("colour fix", size, lq.len(), restored.len())?;
        for (r, l) in restored.chunks_exact_mut(n).zip(lq.chunks_exact(n)) {
            colour::match_coarse_colour(l, r, size);
        }
        Ok(())
    }

    fn region_change(
        &self,
        pasted: &Vec<f32>,
        input: &Vec<f32>,
        change: &mut Vec<f32>,
    ) -> Result<(), KernelError> {
        crate::error::check_len("region change input", pasted.len(), input.len())?;
        crate::error::check_len("region change output", pasted.len(), change.len())?;
        for ((c, p), i) in change.iter_mut().zip(pasted).zip(input) {
            *c = p - i;
        }
        Ok(())
    }

    fn coverage(&self, alpha: &Vec<f32>, covered: &mut Vec<f32>) -> Result<(), KernelError> {
        crate::error::check_len("coverage", alpha.len(), covered.len())?;
        for (c, &a) in covered.iter_mut().zip(alpha) {
            *c = if a > 0.0 { 1.0 } else { 0.0 };
        }
        Ok(())
    }

    fn blend_with_history(
        &self,
        rect: Rect,
        input: &Vec<f32>,
        pasted: &mut Vec<f32>,
        change: &mut Vec<f32>,
        previous: &Previous<'_, Vec<f32>>,
        strength: f32,
    ) -> Result<(), KernelError> {
        let len = 3 * rect.area();
        crate::error::check_len("detail smoothing input", len, input.len())?;
        crate::error::check_len("detail smoothing pasted", len, pasted.len())?;
        crate::error::check_len("detail smoothing change", len, change.len())?;
        let before = 3 * previous.rect.area();
        crate::error::check_len("detail smoothing history", before, previous.input.len())?;
        crate::error::check_len("detail smoothing history", before, previous.change.len())?;
        let previous = Previous {
            rect: previous.rect,
            input: previous.input.as_slice(),
            change: previous.change.as_slice(),
        };
        stabilise::blend_with_history(rect, input, pasted, change, &previous, strength);
        Ok(())
    }

    fn render_faces(
        &self,
        faces: &[FaceInput<'_>],
        triangles: &[[u32; 3]],
        camera: &Camera,
    ) -> Result<BatchRender, KernelError> {
        Ok(render::render_batch(faces, triangles, camera)?)
    }

    /// Nothing to copy: the reference renders from the caller's model.
    type Morphable = ();

    fn load_morphable(&self, model: &MorphableParts<'_>) -> Result<(), KernelError> {
        Ok(model.check()?)
    }

    fn render_crops(
        &self,
        model: &MorphableParts<'_>,
        _loaded: &(),
        batch: &CoefficientBatch<'_>,
        camera: &Camera,
        target: RenderTarget<'_>,
    ) -> Result<(Vec<f32>, Vec<f32>), KernelError> {
        Ok(render::render_crops(model, batch, camera, target)?)
    }
}

/// `lq` and `restored` hold the same whole number of `[3,S,S]` crops of side `size` (≥ 1).
pub(crate) fn check_crops(
    what: &'static str,
    size: usize,
    lq: usize,
    restored: usize,
) -> Result<(), KernelError> {
    crate::error::check_len(what, lq, restored)?;
    let crop = 3 * size * size;
    if crop == 0 {
        return Err(KernelError::EmptyCrop(size));
    }
    crate::error::check_len(what, restored / crop * crop, restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_warp_equals_single_warps_into_their_slots() {
        let mut src = RgbImage::new(30, 20);
        for (i, v) in src.data.iter_mut().enumerate() {
            *v = (i % 251) as f32;
        }
        let ts = [
            Affine2::identity(),
            Affine2::scale_translate(0.5, 3.0, 2.0),
            Affine2::scale_translate(2.0, -4.0, 1.0),
        ];
        // Slot 0 stays as it was; the three crops go to slots 1..4.
        let mut batch = vec![7.0; 4 * 3 * 8 * 8];
        CpuKernels
            .warp_face_crops(&src.data, 30, 20, &ts, 8, &mut batch, 1)
            .unwrap();
        assert!(batch[..3 * 64].iter().all(|&v| v == 7.0));
        for (t, got) in ts.iter().zip(batch[3 * 64..].chunks(3 * 64)) {
            let mut one = vec![0.0; 3 * 64];
            warp::warp_face_crop(&src, t, 8, &mut one).unwrap();
            assert_eq!(got, &one[..]);
        }
        assert!(matches!(
            CpuKernels.warp_face_crops(&src.data, 30, 20, &ts, 8, &mut batch, 2),
            Err(KernelError::BufferSize {
                expected: 960,
                found: 768,
                ..
            })
        ));
    }

    #[test]
    fn a_crop_becomes_an_interleaved_region() {
        // Two crops of side 2; slot 1 holds planes r, g, b.
        let mut batch = vec![0.0; 24];
        batch[12..].copy_from_slice(&[
            -1.0, 0.0, 1.0, 0.5, // r
            1.0, 1.0, 1.0, 1.0, // g
            -1.0, -1.0, -0.5, 0.0, // b
        ]);
        let region = CpuKernels.crop_to_region(&batch, 1, 2).unwrap();
        assert_eq!(
            region,
            [
                0.0, 255.0, 0.0, 127.5, 255.0, 0.0, 255.0, 255.0, 63.75, 191.25, 255.0, 127.5
            ]
        );
        assert!(CpuKernels.crop_to_region(&batch, 2, 2).is_err());
    }

    /// The region-level helpers of the paste-back: what changed, and where it was pasted.
    #[test]
    fn region_change_and_coverage() {
        let mut change = vec![0.0; 3];
        CpuKernels
            .region_change(&vec![10.0, 5.0, 255.0], &vec![4.0, 5.0, 0.0], &mut change)
            .unwrap();
        assert_eq!(change, [6.0, 0.0, 255.0]);
        let mut covered = vec![9.0; 4];
        CpuKernels
            .coverage(&vec![0.0, 1e-6, 0.5, -1.0], &mut covered)
            .unwrap();
        assert_eq!(covered, [0.0, 1.0, 1.0, 0.0]);
        assert!(CpuKernels.coverage(&vec![0.0; 3], &mut covered).is_err());
    }

    /// The batch render of the shape prior equals one `render_face` per face, and a refused
    /// face is named by its place in the batch.
    #[test]
    fn batched_render_equals_single_renders_and_names_a_bad_face() {
        let (sphere, triangles) = render::fixtures::uv_sphere(0.8, 12, 16);
        let albedo = vec![[0.6, 0.5, 0.4]; sphere.len()];
        let mut gamma = [0.0f32; render::GAMMA_LEN];
        gamma[1] = 0.3;
        let camera = Camera::scaled(48);
        let poses = [
            ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
            ([0.1, 0.6, 0.0], [0.2, 0.0, -0.5]),
        ];
        let faces: Vec<FaceInput<'_>> = poses
            .iter()
            .map(|&(angles, translation)| FaceInput {
                vertices: &sphere,
                albedo: &albedo,
                pose: render::FacePose {
                    angles,
                    translation,
                    gamma: &gamma,
                },
            })
            .collect();
        let batch = CpuKernels
            .render_faces(&faces, &triangles, &camera)
            .unwrap();
        let plane = 48 * 48;
        for (i, &(angles, translation)) in poses.iter().enumerate() {
            let one = render::render_face(
                &sphere,
                &triangles,
                &albedo,
                angles,
                translation,
                &gamma,
                &camera,
            )
            .unwrap();
            assert!(one.mask.iter().any(|&m| m > 0.0), "face {i} is drawn");
            assert_eq!(batch.mask[i * plane..(i + 1) * plane], one.mask[..]);
            assert_eq!(
                batch.image[3 * i * plane..3 * (i + 1) * plane],
                one.image.data[..]
            );
        }
        let mut bad = faces.clone();
        bad[1].pose.translation = [f32::NAN, 0.0, 0.0];
        let err = CpuKernels
            .render_faces(&bad, &triangles, &camera)
            .unwrap_err();
        assert!(
            matches!(
                &err,
                KernelError::Render(render::RenderError::Face { face: 1, .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("face 1 of the batch"), "{err}");
    }
}
