//! The backend seam (docs/gpu-path.md): each face kernel as a function over plain buffers,
//! with the CPU reference here and the CUDA twin (`cuda::CudaKernels`) behind the same trait,
//! same signatures, same tests.

use crate::affine::Affine2;
use crate::error::KernelError;
use crate::frame::{self, FrameMut, FrameRef};
use crate::image::{Rect, RgbImage};
use crate::paste::{self, PasteParams};
use crate::render::{self, BatchRender, Camera, FaceInput};
use crate::stabilise::{self, Previous};
use crate::{colour, warp};

/// The per-face kernels of the pipeline, on some device.
pub trait FaceKernels: Send {
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

    /// Called before the faces of a frame are read and written back: a device backend may keep
    /// one copy of the frame for all of them.
    fn begin_frame(&self, _frame: &FrameRef) -> Result<(), KernelError> {
        Ok(())
    }

    /// Called after the last face of the frame was written back: a device backend stores its
    /// copy into `frame`.
    fn end_frame(&self, _frame: &mut FrameMut) -> Result<(), KernelError> {
        Ok(())
    }

    /// The pixels of `rect` as RGB ([`frame::read_region`]).
    fn read_region(&self, frame: &FrameRef, rect: Rect) -> Result<RgbImage, KernelError>;

    /// Blends `rgb` into `rect` under `alpha` in the frame's own format
    /// ([`frame::write_region`]).
    fn write_region(
        &self,
        frame: &mut FrameMut,
        rect: Rect,
        rgb: &RgbImage,
        alpha: &[f32],
    ) -> Result<(), KernelError>;

    /// The colour fix of a batch of restored crops against the crops the generator was given
    /// (planar `[N,3,S,S]`; [`colour::match_coarse_colour`] per crop).
    fn colour_fix(&self, lq: &[f32], restored: &mut [f32], size: usize) -> Result<(), KernelError>;

    /// One face's detail smoothing ([`stabilise::blend_with_history`]).
    fn blend_with_history(
        &self,
        rect: Rect,
        input: &[f32],
        pasted: &mut [f32],
        change: &mut [f32],
        previous: &Previous<'_>,
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

    fn read_region(&self, frame: &FrameRef, rect: Rect) -> Result<RgbImage, KernelError> {
        Ok(frame::read_region(frame, rect))
    }

    fn write_region(
        &self,
        frame: &mut FrameMut,
        rect: Rect,
        rgb: &RgbImage,
        alpha: &[f32],
    ) -> Result<(), KernelError> {
        frame::write_region(frame, rect, rgb, alpha);
        Ok(())
    }

    fn colour_fix(&self, lq: &[f32], restored: &mut [f32], size: usize) -> Result<(), KernelError> {
        let n = 3 * size * size;
        check_crops("colour fix", size, lq.len(), restored.len())?;
        for (r, l) in restored.chunks_exact_mut(n).zip(lq.chunks_exact(n)) {
            colour::match_coarse_colour(l, r, size);
        }
        Ok(())
    }

    fn blend_with_history(
        &self,
        rect: Rect,
        input: &[f32],
        pasted: &mut [f32],
        change: &mut [f32],
        previous: &Previous<'_>,
        strength: f32,
    ) -> Result<(), KernelError> {
        stabilise::blend_with_history(rect, input, pasted, change, previous, strength);
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
