//! Detail smoothing, the CPU reference (CUDA twin: `kernels/cuda/stabilise.cu`): one face's
//! pasted change (the region after paste-back − before) averaged with its change on the previous
//! frame, pixel by pixel in frame coordinates, with the history's weight falling to 0 as the
//! input's own change grows to [`MOTION_LEVELS`] (why: `face/src/stabilise.rs`).

use crate::image::Rect;

/// Input change, in 8-bit levels averaged over R, G and B, at which a pixel's history is dropped.
/// Compression noise in a still face moves pixels by 1–4 levels between frames; a blink or a
/// moving lip by tens.
pub const MOTION_LEVELS: f32 = 12.0;

/// The previous frame of one face: where its region was, the input there and the change kept,
/// in the buffers of the backend that computes (host slices for this reference).
#[derive(Debug)]
pub struct Previous<'a, B: ?Sized = [f32]> {
    pub rect: Rect,
    /// Interleaved RGB of `rect`, 0..255.
    pub input: &'a B,
    pub change: &'a B,
}

impl Previous<'_> {
    /// The offset of frame pixel (x, y) in the previous region, if it lay there.
    fn index(&self, x: usize, y: usize) -> Option<usize> {
        let r = &self.rect;
        (x >= r.x && y >= r.y && x < r.x + r.width && y < r.y + r.height)
            .then(|| ((y - r.y) * r.width + (x - r.x)) * 3)
    }
}

/// Blends the region at `rect` with its history: `change` holds `pasted − input` on entry and
/// the averaged change on return; `pasted` becomes `clamp(input + averaged, 0, 255)` wherever
/// the pixel lay in the previous region (elsewhere both are left as they are). `strength` (0–1)
/// is the history's weight where the input holds still.
pub fn blend_with_history(
    rect: Rect,
    input: &[f32],
    pasted: &mut [f32],
    change: &mut [f32],
    previous: &Previous<'_>,
    strength: f32,
) {
    let strength = strength.clamp(0.0, 1.0);
    for y in 0..rect.height {
        for x in 0..rect.width {
            let Some(k) = previous.index(rect.x + x, rect.y + y) else {
                continue;
            };
            let i = (y * rect.width + x) * 3;
            let now = &input[i..i + 3];
            let before = &previous.input[k..k + 3];
            let motion = now
                .iter()
                .zip(before)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / 3.0;
            let keep = strength * (1.0 - motion / MOTION_LEVELS).max(0.0);
            for c in 0..3 {
                let averaged = keep * previous.change[k + c] + (1.0 - keep) * change[i + c];
                change[i + c] = averaged;
                pasted[i + c] = (now[c] + averaged).clamp(0.0, 255.0);
            }
        }
    }
}
