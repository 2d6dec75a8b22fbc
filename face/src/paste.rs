//! Step 5, paste back: each restored crop goes back into the frame through the inverse of its
//! alignment, under a feathered mask whose width grows with the face (facexlib's paste-back,
//! sgpn-brief.md §4), so there is no visible rectangle; then the changed pixels are written back in
//! the frame's own pixel format and colorimetry, so colours are preserved.

use sgpn_kernels::KernelError;
use sgpn_kernels::frame::{FrameMut, read_region, write_region};
use sgpn_kernels::image::{Rect, RgbImage};
use sgpn_kernels::paste::{PasteParams, paste_back};

use crate::align::Alignment;

/// Scratch buffers reused between faces and frames.
#[derive(Debug, Default)]
pub struct PasteScratch {
    alpha: Vec<f32>,
    written: Vec<f32>,
}

/// Pastes one restored crop (planar [3,S,S] in [-1, 1]) into `frame` at `rect`.
///
/// The region is read from the frame as it is now, so faces whose regions overlap are pasted one
/// over the other rather than one undoing the other. Pixels the mask does not reach are never
/// written, which keeps them bit-identical in every pixel format.
pub fn paste_face(
    frame: &mut FrameMut<'_>,
    alignment: &Alignment,
    rect: Rect,
    restored: &[f32],
    blend: f32,
    scratch: &mut PasteScratch,
) -> Result<(), KernelError> {
    let mut region: RgbImage = read_region(&frame.as_ref(), rect);
    let n = rect.width * rect.height;
    scratch.alpha.clear();
    scratch.alpha.resize(n, 0.0);
    let params = PasteParams::for_crop(alignment.size, blend);
    paste_back(
        &mut region,
        &mut scratch.alpha,
        restored,
        None,
        alignment.size,
        &alignment.region_to_crop(&rect),
        &params,
    )?;
    // `region` already holds the blend; write it where the mask reached, untouched elsewhere.
    scratch.written.clear();
    scratch.written.extend(
        scratch
            .alpha
            .iter()
            .map(|&a| if a > 0.0 { 1.0 } else { 0.0 }),
    );
    write_region(frame, rect, &region, &scratch.written);
    Ok(())
}
