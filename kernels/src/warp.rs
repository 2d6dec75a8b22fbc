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
use crate::image::RgbImage;
use rayon::prelude::*;

/// Colour outside the source image, facexlib's `border_value` for the crop (RGB order).
pub const BORDER_FILL: [f32; 3] = [135.0, 133.0, 132.0];

/// Largest number of samples per crop axis when supersampling (a 512 crop of a 4096-pixel face).
pub const MAX_SUPERSAMPLE: usize = 8;

/// Samples per crop axis for a transform whose footprint is `scale` source pixels wide.
pub fn supersampling(scale: f32) -> usize {
    if scale > 1.5 {
        (scale.ceil() as usize).min(MAX_SUPERSAMPLE)
    } else {
        1
    }
}

/// Bilinear sample of `src` at (sx, sy); taps outside the image read [`BORDER_FILL`].
#[inline(always)]
pub(crate) fn sample_bilinear(src: &[f32], w: usize, h: usize, sx: f32, sy: f32) -> [f32; 3] {
    let (x0f, y0f) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0f, sy - y0f);
    // Clamp before the cast so that far-away or NaN coordinates stay in range of isize.
    let x0 = x0f.clamp(-2.0, w as f32 + 1.0) as isize;
    let y0 = y0f.clamp(-2.0, h as f32 + 1.0) as isize;
    let (wi, hi) = (w as isize, h as isize);
    let (top, bot);
    let mut taps = [[0.0f32; 3]; 4];
    if x0 >= 0 && y0 >= 0 && x0 + 1 < wi && y0 + 1 < hi {
        let i = (y0 as usize * w + x0 as usize) * 3;
        top = &src[i..i + 6];
        bot = &src[i + 3 * w..i + 3 * w + 6];
    } else if x0 < -1 || y0 < -1 || x0 >= wi || y0 >= hi || !(fx.is_finite() && fy.is_finite()) {
        return BORDER_FILL;
    } else {
        for (k, t) in taps.iter_mut().enumerate() {
            let (x, y) = (x0 + (k % 2) as isize, y0 + (k / 2) as isize);
            *t = if (0..wi).contains(&x) && (0..hi).contains(&y) {
                let i = (y as usize * w + x as usize) * 3;
                [src[i], src[i + 1], src[i + 2]]
            } else {
                BORDER_FILL
            };
        }
        let mut out = [0.0; 3];
        for c in 0..3 {
            let t = taps[0][c] + fx * (taps[1][c] - taps[0][c]);
            let b = taps[2][c] + fx * (taps[3][c] - taps[2][c]);
            out[c] = t + fy * (b - t);
        }
        return out;
    }
    let mut out = [0.0; 3];
    for c in 0..3 {
        let t = top[c] + fx * (top[c + 3] - top[c]);
        let b = bot[c] + fx * (bot[c + 3] - bot[c]);
        out[c] = t + fy * (b - t);
    }
    out
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
    if size == 0 {
        return Err(KernelError::EmptyCrop(size));
    }
    check_len(
        "warp_face_crop output [3, S, S]",
        3 * size * size,
        out.len(),
    )?;
    if src.width == 0 || src.height == 0 {
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
    let (w, h, data) = (src.width, src.height, &src.data[..]);
    let (r_plane, rest) = out.split_at_mut(size * size);
    let (g_plane, b_plane) = rest.split_at_mut(size * size);
    r_plane
        .par_chunks_mut(size)
        .zip(g_plane.par_chunks_mut(size))
        .zip(b_plane.par_chunks_mut(size))
        .enumerate()
        .for_each(|(y, ((r_row, g_row), b_row))| {
            let (mut sx, mut sy) = crop_to_src.apply(0.0, y as f32);
            for x in 0..size {
                let v = if k == 1 {
                    sample_bilinear(data, w, h, sx, sy)
                } else {
                    let mut acc = [0.0f32; 3];
                    for &(dx, dy) in &subs {
                        let s = sample_bilinear(data, w, h, sx + dx, sy + dy);
                        acc = [acc[0] + s[0], acc[1] + s[1], acc[2] + s[2]];
                    }
                    acc.map(|a| a * inv_n)
                };
                r_row[x] = v[0] / 127.5 - 1.0;
                g_row[x] = v[1] / 127.5 - 1.0;
                b_row[x] = v[2] / 127.5 - 1.0;
                // Per-pixel increment along the row; recomputed from the row start each row
                // so that rounding does not drift across the crop.
                sx += m[0][0];
                sy += m[1][0];
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
    }
}
