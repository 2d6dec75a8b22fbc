//! The aligned face crop (facexlib `FaceRestoreHelper.align_warp_face`: `cv2.warpAffine` with
//! bilinear interpolation and `borderValue=(135, 133, 132)`), written straight into the
//! generator's input layout: planar RGB [3, S, S] in [-1, 1] (`v / 127.5 − 1`).
//!
//! Anti-aliasing: when one crop pixel spans more than 1.5 source pixels (`crop_to_src.scale()`),
//! bilinear sampling alone would alias (hair, textures), so each crop pixel averages k×k bilinear
//! samples spread uniformly over its footprint, k = ceil(scale) (at most
//! [`MAX_SUPERSAMPLE`]): a box filter the size of the footprint, exact for any rotation.

use crate::affine::Affine2;
use crate::error::{KernelError, check_len};
use crate::image::{Rect, RgbImage};
use rayon::prelude::*;

/// Colour outside the source image, facexlib's `border_value` for the crop (RGB order).
pub const BORDER_FILL: [f32; 3] = [135.0, 133.0, 132.0];

/// Largest number of samples per crop axis when supersampling (a 512 crop of a 4096-pixel face).
pub const MAX_SUPERSAMPLE: usize = 8;

/// Scale from 0..255 to the network's [-1, 1] (before subtracting 1).
const TO_UNIT: f32 = 1.0 / 127.5;

/// The frame rectangle a warp of a `size` crop through `crop_to_frame` reads (and a paste
/// writes): the bounding box of the crop square's corners plus one pixel for the bilinear taps,
/// clipped to the frame; `None` when the crop lies outside the frame. Use it with
/// `read_region`, and `crop_to_frame.then(&Affine2::scale_translate(1.0, -x, -y))` as the
/// crop → region transform.
pub fn crop_bounds(
    crop_to_frame: &Affine2,
    size: usize,
    frame_w: usize,
    frame_h: usize,
) -> Option<Rect> {
    let e = size as f32 - 0.5;
    let corners =
        [(-0.5, -0.5), (e, -0.5), (-0.5, e), (e, e)].map(|(x, y)| crop_to_frame.apply(x, y));
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in corners {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    Rect::covering(x0 - 1.0, y0 - 1.0, x1 + 2.0, y1 + 2.0, frame_w, frame_h)
}

/// Samples per crop axis for a transform whose footprint is `scale` source pixels wide.
pub fn supersampling(scale: f32) -> usize {
    if scale > 1.5 {
        (scale.ceil() as usize).min(MAX_SUPERSAMPLE)
    } else {
        1
    }
}

/// Bilinear sample of `src` at (sx, sy); taps outside the image read [`BORDER_FILL`].
/// Coordinates must be finite.
#[inline(always)]
pub(crate) fn sample_bilinear(src: &[f32], w: usize, h: usize, sx: f32, sy: f32) -> [f32; 3] {
    // Beyond [-2, size + 1] every tap is border; clamping there keeps the casts in range, and
    // truncating a value ≥ -2 shifted by +2 is `floor` without a libm call (no SSE4.1 baseline).
    let sx = sx.clamp(-2.0, w as f32 + 1.0);
    let sy = sy.clamp(-2.0, h as f32 + 1.0);
    let x0 = (sx + 2.0) as isize - 2;
    let y0 = (sy + 2.0) as isize - 2;
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    // Negative values wrap to huge unsigned ones, so one compare per axis tests both ends.
    if (x0 as usize) < w - 1 && (y0 as usize) < h - 1 {
        let i = (y0 as usize * w + x0 as usize) * 3;
        let top: &[f32; 6] = src[i..i + 6].try_into().expect("6 values");
        let bot: &[f32; 6] = src[i + 3 * w..i + 3 * w + 6].try_into().expect("6 values");
        return blend_taps(top, bot, fx, fy);
    }
    let (wi, hi) = (w as isize, h as isize);
    if x0 < -1 || y0 < -1 || x0 >= wi || y0 >= hi {
        return BORDER_FILL;
    }
    let tap = |x: isize, y: isize| -> [f32; 3] {
        if (0..wi).contains(&x) && (0..hi).contains(&y) {
            let i = (y as usize * w + x as usize) * 3;
            [src[i], src[i + 1], src[i + 2]]
        } else {
            BORDER_FILL
        }
    };
    let (a, b) = (tap(x0, y0), tap(x0 + 1, y0));
    let (c, d) = (tap(x0, y0 + 1), tap(x0 + 1, y0 + 1));
    blend_taps(
        &[a[0], a[1], a[2], b[0], b[1], b[2]],
        &[c[0], c[1], c[2], d[0], d[1], d[2]],
        fx,
        fy,
    )
}

/// Bilinear blend of a 2 × 2 block of RGB taps: `top` and `bot` each hold the left then the
/// right pixel of one row, blended at fractions (fx, fy) (shared by both samplers, so the fast
/// path computes bit for bit what the general one does).
#[inline(always)]
fn blend_taps(top: &[f32; 6], bot: &[f32; 6], fx: f32, fy: f32) -> [f32; 3] {
    let mut out = [0.0; 3];
    for c in 0..3 {
        let t = top[c] + fx * (top[c + 3] - top[c]);
        let b = bot[c] + fx * (bot[c + 3] - bot[c]);
        out[c] = t + fy * (b - t);
    }
    out
}

/// Bilinear sample at a point known to lie in [0, w − 1) × [0, h − 1) (up to rounding).
#[inline(always)]
fn sample_interior(src: &[f32], w: usize, h: usize, sx: f32, sy: f32) -> [f32; 3] {
    // `as usize` saturates a hair below 0 to 0 and `min` keeps a hair beyond the span inside:
    // both taps always exist, at worst with a fraction a rounding error outside [0, 1].
    let x0 = (sx as usize).min(w - 2);
    let y0 = (sy as usize).min(h - 2);
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    let i = (y0 * w + x0) * 3;
    let top: &[f32; 6] = src[i..i + 6].try_into().expect("6 values");
    let bot: &[f32; 6] = src[i + 3 * w..i + 3 * w + 6].try_into().expect("6 values");
    blend_taps(top, bot, fx, fy)
}

/// The columns `x` in `0..size` of a crop row starting at source (sx0, sy0) with per-column
/// step (dx, dy) whose sample point lies in [0, w − 1) × [0, h − 1).
fn interior_span(
    sx0: f32,
    sy0: f32,
    dx: f32,
    dy: f32,
    w: usize,
    h: usize,
    size: usize,
) -> std::ops::Range<usize> {
    if w < 2 || h < 2 {
        return 0..0;
    }
    let (mut lo, mut hi) = (0.0f32, (size - 1) as f32);
    for (start, step, limit) in [(sx0, dx, (w - 1) as f32), (sy0, dy, (h - 1) as f32)] {
        // Keep a small margin so that the span never relies on the clamping in sample_interior.
        let (a, b) = (1e-3, limit - 1e-3);
        if step.abs() < 1e-9 {
            if !(a..=b).contains(&start) {
                return 0..0;
            }
        } else {
            let (e0, e1) = ((a - start) / step, (b - start) / step);
            lo = lo.max(e0.min(e1));
            hi = hi.min(e0.max(e1));
        }
    }
    if lo > hi {
        return 0..0;
    }
    lo.ceil() as usize..hi.floor() as usize + 1
}

/// Checks the output of a batch of `count` crops of side `size` (N × [3, S, S] values) and the
/// crop size, in that order. Shared by the CPU batch and both CUDA entry points, so every
/// backend refuses the same batch with the same error.
pub(crate) fn check_batch(count: usize, size: usize, out_len: usize) -> Result<(), KernelError> {
    check_len(
        "warp_face_crops output [N, 3, S, S]",
        count * 3 * size * size,
        out_len,
    )?;
    if size == 0 {
        return Err(KernelError::EmptyCrop(size));
    }
    Ok(())
}

/// Refuses a crop → source transform with a NaN or infinite coefficient (the samplers need
/// finite coordinates).
pub(crate) fn check_finite(what: &'static str, crop_to_src: &Affine2) -> Result<(), KernelError> {
    if crop_to_src.m.iter().flatten().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(KernelError::NonFiniteTransform {
            what,
            transform: *crop_to_src,
        })
    }
}

/// Warps one `size × size` face crop out of `src`: crop pixel (x, y) samples `src` at
/// `crop_to_src.apply(x, y)`. `out` receives planar RGB [3, size, size] in [-1, 1].
pub fn warp_face_crop(
    src: &RgbImage,
    crop_to_src: &Affine2,
    size: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    src.check("warp_face_crop source image")?;
    warp_crop_from(&src.data, (src.width, src.height), crop_to_src, size, out)
}

/// [`warp_face_crop`] from interleaved RGB `data` of `width × height` pixels, borrowed.
pub fn warp_crop_from(
    data: &[f32],
    (width, height): (usize, usize),
    crop_to_src: &Affine2,
    size: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_len(
        "warp_face_crop source image",
        width * height * 3,
        data.len(),
    )?;
    if size == 0 {
        return Err(KernelError::EmptyCrop(size));
    }
    check_len(
        "warp_face_crop output [3, S, S]",
        3 * size * size,
        out.len(),
    )?;
    check_finite("warp_face_crop crop_to_src", crop_to_src)?;
    if width == 0 || height == 0 {
        for (plane, fill) in out.chunks_exact_mut(size * size).zip(BORDER_FILL) {
            plane.fill(fill / 127.5 - 1.0);
        }
        return Ok(());
    }
    let k = supersampling(crop_to_src.scale());
    let m = crop_to_src.m;
    // Sub-sample offsets within the crop pixel footprint, mapped into source pixels.
    let subs: Vec<(f32, f32)> = (0..k * k)
        .map(|i| {
            let ox = ((i % k) as f32 + 0.5) / k as f32 - 0.5;
            let oy = ((i / k) as f32 + 0.5) / k as f32 - 0.5;
            (m[0][0] * ox + m[0][1] * oy, m[1][0] * ox + m[1][1] * oy)
        })
        .collect();
    let inv_n = 1.0 / (k * k) as f32;
    let (w, h) = (width, height);
    let (r_plane, rest) = out.split_at_mut(size * size);
    let (g_plane, b_plane) = rest.split_at_mut(size * size);
    r_plane
        .par_chunks_mut(size)
        .zip(g_plane.par_chunks_mut(size))
        .zip(b_plane.par_chunks_mut(size))
        .enumerate()
        .for_each(|(y, ((r_row, g_row), b_row))| {
            let (sx0, sy0) = crop_to_src.apply(0.0, y as f32);
            let (dx, dy) = (m[0][0], m[1][0]);
            // Columns whose four taps all lie inside `src` take the branch-free path.
            let interior = if k == 1 {
                interior_span(sx0, sy0, dx, dy, w, h, size)
            } else {
                0..0
            };
            let pixels = r_row.iter_mut().zip(g_row.iter_mut()).zip(b_row.iter_mut());
            for (x, ((r, g), b)) in pixels.enumerate() {
                // Computed from the row origin, not accumulated, so rounding cannot drift.
                let (sx, sy) = (sx0 + dx * x as f32, sy0 + dy * x as f32);
                let v = if interior.contains(&x) {
                    sample_interior(data, w, h, sx, sy)
                } else if k == 1 {
                    sample_bilinear(data, w, h, sx, sy)
                } else {
                    let mut acc = [0.0f32; 3];
                    for &(ox, oy) in &subs {
                        let s = sample_bilinear(data, w, h, sx + ox, sy + oy);
                        acc = [acc[0] + s[0], acc[1] + s[1], acc[2] + s[2]];
                    }
                    acc.map(|a| a * inv_n)
                };
                *r = v[0] * TO_UNIT - 1.0;
                *g = v[1] * TO_UNIT - 1.0;
                *b = v[2] * TO_UNIT - 1.0;
            }
        });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // channel loops index several arrays in step
mod tests {
    use super::*;

    fn pattern(w: usize, h: usize) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i * 37 + i / 7) % 256) as f32;
        }
        img
    }

    fn to_255(v: f32) -> f32 {
        (v + 1.0) * 127.5
    }

    #[test]
    fn identity_warp_reproduces_the_source() {
        let src = pattern(16, 16);
        let mut out = vec![0.0; 3 * 16 * 16];
        warp_face_crop(&src, &Affine2::identity(), 16, &mut out).unwrap();
        for y in 0..16 {
            for x in 0..16 {
                for c in 0..3 {
                    let v = to_255(out[c * 256 + y * 16 + x]);
                    assert!((v - src.pixel(x, y)[c]).abs() < 1e-3, "({x}, {y}) c{c}");
                }
            }
        }
    }

    #[test]
    fn translation_interpolates_and_fills_the_border() {
        let src = pattern(8, 8);
        let mut out = vec![0.0; 3 * 8 * 8];
        // Half a pixel right: crop (x, y) samples source (x + 0.5, y).
        warp_face_crop(&src, &Affine2::scale_translate(1.0, 0.5, 0.0), 8, &mut out).unwrap();
        let at = |out: &[f32], x: usize, y: usize, c: usize| to_255(out[c * 64 + y * 8 + x]);
        for c in 0..3 {
            let mean = (src.pixel(2, 3)[c] + src.pixel(3, 3)[c]) / 2.0;
            assert!((at(&out, 2, 3, c) - mean).abs() < 1e-3);
            // The last column straddles the edge: half source, half border colour.
            let edge = (src.pixel(7, 3)[c] + BORDER_FILL[c]) / 2.0;
            assert!((at(&out, 7, 3, c) - edge).abs() < 1e-3);
        }
        // Far outside: the border colour itself.
        warp_face_crop(
            &src,
            &Affine2::scale_translate(1.0, 100.0, -50.0),
            8,
            &mut out,
        )
        .unwrap();
        for c in 0..3 {
            assert!((at(&out, 4, 4, c) - BORDER_FILL[c]).abs() < 1e-3);
        }
    }

    #[test]
    fn downscaling_averages_instead_of_aliasing() {
        // A one-pixel checkerboard sampled at 1/4 scale: point sampling would return pure black
        // or white; the footprint average is the mean grey.
        let mut src = RgbImage::new(64, 64);
        for y in 0..64 {
            for x in 0..64 {
                let v = if (x + y) % 2 == 0 { 255.0 } else { 0.0 };
                src.data[(y * 64 + x) * 3..][..3].copy_from_slice(&[v; 3]);
            }
        }
        let mut out = vec![0.0; 3 * 16 * 16];
        let t = Affine2::scale_translate(4.0, 1.5, 1.5);
        assert_eq!(supersampling(t.scale()), 4);
        warp_face_crop(&src, &t, 16, &mut out).unwrap();
        for &v in &out[..16 * 15] {
            assert!((to_255(v) - 127.5).abs() < 1.0, "aliased: {}", to_255(v));
        }
    }

    #[test]
    fn interior_fast_path_matches_the_general_sampler() {
        let src = pattern(37, 29);
        let size = 40;
        let t = Affine2 {
            m: [[0.83, -0.31, 6.2], [0.29, 0.81, -3.7]],
        };
        assert_eq!(supersampling(t.scale()), 1);
        let mut out = vec![0.0; 3 * size * size];
        warp_face_crop(&src, &t, size, &mut out).unwrap();
        let (mut inside, mut border) = (0, 0);
        for y in 0..size {
            for x in 0..size {
                let (sx, sy) = t.apply(x as f32, y as f32);
                let want = sample_bilinear(&src.data, 37, 29, sx, sy);
                if want == BORDER_FILL {
                    border += 1;
                } else {
                    inside += 1;
                }
                for c in 0..3 {
                    let got = to_255(out[c * size * size + y * size + x]);
                    assert!(
                        (got - want[c]).abs() < 2e-3,
                        "({x}, {y}) c{c}: {got} vs {}",
                        want[c]
                    );
                }
            }
        }
        assert!(
            inside > 500 && border > 100,
            "{inside} inside, {border} border"
        );
    }

    #[test]
    fn crop_bounds_cover_every_sample_and_clip_to_the_frame() {
        let t = Affine2 {
            m: [[0.5, -0.2, 40.0], [0.2, 0.5, 30.0]],
        };
        let r = crop_bounds(&t, 64, 200, 100).unwrap();
        for (x, y) in [(0.0, 0.0), (63.0, 0.0), (0.0, 63.0), (63.0, 63.0)] {
            let (fx, fy) = t.apply(x, y);
            assert!(
                fx.floor() >= r.x as f32 && fx.ceil() < (r.x + r.width) as f32,
                "{r:?} misses x {fx}"
            );
            assert!(
                fy.floor() >= r.y as f32 && fy.ceil() < (r.y + r.height) as f32,
                "{r:?} misses y {fy}"
            );
        }
        let clipped =
            crop_bounds(&Affine2::scale_translate(1.0, -10.0, -10.0), 64, 30, 30).unwrap();
        assert_eq!(clipped, Rect::new(0, 0, 30, 30));
        assert_eq!(
            crop_bounds(&Affine2::scale_translate(1.0, 500.0, 0.0), 64, 30, 30),
            None
        );
    }

    #[test]
    fn one_pixel_source_blends_with_the_border() {
        let src = RgbImage {
            width: 1,
            height: 1,
            data: vec![10.0, 20.0, 30.0],
        };
        let mut out = vec![0.0; 3 * 2 * 2];
        warp_face_crop(&src, &Affine2::identity(), 2, &mut out).unwrap();
        // Crop (0, 0) is the pixel itself (green plane starts at 4); (1, 0) is beyond it: border.
        assert!((to_255(out[0]) - 10.0).abs() < 1e-3 && (to_255(out[4]) - 20.0).abs() < 1e-3);
        assert!((to_255(out[1]) - BORDER_FILL[0]).abs() < 1e-3);
    }

    #[test]
    fn mismatched_buffers_are_typed_errors() {
        let src = pattern(4, 4);
        let mut out = vec![0.0; 10];
        assert_eq!(
            warp_face_crop(&src, &Affine2::identity(), 4, &mut out),
            Err(KernelError::BufferSize {
                what: "warp_face_crop output [3, S, S]",
                expected: 48,
                found: 10
            })
        );
        assert_eq!(
            warp_face_crop(&src, &Affine2::identity(), 0, &mut out),
            Err(KernelError::EmptyCrop(0))
        );
        let bad = RgbImage {
            width: 4,
            height: 4,
            data: vec![0.0; 3],
        };
        assert!(warp_face_crop(&bad, &Affine2::identity(), 4, &mut [0.0; 48]).is_err());
        let nan = Affine2 {
            m: [[f32::NAN, 0.0, 0.0], [0.0, 1.0, 0.0]],
        };
        assert!(matches!(
            warp_face_crop(&src, &nan, 4, &mut [0.0; 48]),
            Err(KernelError::NonFiniteTransform { .. })
        ));
    }
}
