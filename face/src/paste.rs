//! Step 5, paste back: each restored crop goes back into the frame through the inverse of its
//! alignment, under a feathered mask whose width grows with the face (facexlib's paste-back),
//! so there is no visible rectangle; then the changed pixels are written back in
//! the frame's own pixel format and colorimetry, so colours are preserved.
//!
//! Two ways to paste ([`PasteMode`]): facexlib replaces the frame with the restored crop; by
//! default we add the restoration's *change* (restored − the crop the generator was given). The
//! second is the first plus the frame detail finer than the crop can hold, so a face larger than
//! the crop keeps its resolution, and a generator that changes nothing changes no pixel (the
//! bilinear warp there and back alone moves sharp edges by up to ~20 levels).

use sgpn_kernels::KernelError;
use sgpn_kernels::backend::FaceKernels;
use sgpn_kernels::frame::FrameMut;
use sgpn_kernels::image::Rect;
use sgpn_kernels::paste::PasteParams;

use crate::align::Alignment;
use crate::stabilise::{DetailStabiliser, PastedRegion};

/// How a restored crop enters the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PasteMode {
    /// Add `restored − lq crop`: the restoration's change, on top of the frame's own detail.
    #[default]
    Residual,
    /// Replace the face by the restored crop (facexlib, GFPGAN, CodeFormer).
    Replace,
}

/// How faces are pasted in this frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PasteSettings {
    pub mode: PasteMode,
    /// 0 keeps the original face, 1 pastes the fully restored one.
    pub blend: f32,
    /// The weight of each face's pasted change from earlier frames where the input is still
    /// (see [`crate::stabilise`]); 0 pastes every frame on its own.
    pub detail_smoothing: f32,
}

/// What paste-back keeps between frames: each tracked face's pasted change for
/// [`PasteSettings::detail_smoothing`], in the buffers of the backend that pastes.
pub struct PasteState<B> {
    pub stabiliser: DetailStabiliser<B>,
}

impl<B> Default for PasteState<B> {
    fn default() -> Self {
        Self {
            stabiliser: DetailStabiliser::default(),
        }
    }
}

/// One face's crops in the frame's batches (`[N,3,S,S]` in [-1, 1], where the kernels compute):
/// what the generator was given and what it returned, and the face's slot in both.
#[derive(Clone, Copy, Debug)]
pub struct CropSlot<'a, B> {
    pub lq: &'a B,
    pub restored: &'a B,
    pub slot: usize,
}

/// Pastes crop `crops.slot` of track `track_id` into `frame` at `rect` (the crop's `lq` is the
/// reference of [`PasteMode::Residual`]), every step on `kernels`' own buffers.
///
/// The region is read from the frame as it is now, so faces whose regions overlap are pasted one
/// over the other rather than one undoing the other. Pixels the mask does not reach are never
/// written, which keeps them bit-identical in every pixel format.
pub fn paste_face<K: FaceKernels>(
    kernels: &K,
    frame: &mut FrameMut<'_>,
    (alignment, rect): (&Alignment, Rect),
    crops: CropSlot<'_, K::Buffer>,
    settings: PasteSettings,
    track_id: u64,
    state: &mut PasteState<K::Buffer>,
) -> Result<(), KernelError> {
    let mut region = kernels.read_region(&frame.as_ref(), rect)?;
    let input = if settings.detail_smoothing > 0.0 {
        Some(kernels.duplicate(&region)?)
    } else {
        None
    };
    let mut alpha = kernels.zeros(rect.area())?;
    let params = PasteParams::for_crop(alignment.size, settings.blend);
    kernels.paste_back(
        &mut region,
        &mut alpha,
        (rect.width, rect.height),
        crops.restored,
        (settings.mode == PasteMode::Residual).then_some(crops.lq),
        (crops.slot, alignment.size),
        &alignment.region_to_crop(&rect),
        &params,
    )?;
    match input {
        Some(input) => {
            let pasted = PastedRegion {
                track_id,
                rect,
                input,
                pasted: &mut region,
            };
            state
                .stabiliser
                .stabilise(kernels, pasted, settings.detail_smoothing)?;
        }
        None => state.stabiliser.forget(track_id),
    }
    // `region` already holds the blend; write it where the mask reached, untouched elsewhere.
    let mut covered = kernels.zeros(rect.area())?;
    kernels.coverage(&alpha, &mut covered)?;
    kernels.write_region(frame, rect, &region, &covered)
}
