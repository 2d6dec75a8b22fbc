//! Paste-back of a restored face (facexlib `FaceRestoreHelper.paste_faces_to_input_image`):
//! the inverse affine brings the restored crop back into the frame region, and a soft mask
//! hides the crop's edge. facexlib warps a square mask, erodes it and blurs it with an edge of
//! about sqrt(face area)/20; here the mask is computed analytically per pixel instead: a
//! smoothstep of the distance to the crop square's edge (rounded corners, so no visible
//! rectangle) from `erode` to `erode + feather` crop pixels. Because it is measured in crop
//! pixels, the feather width in frame pixels grows with the face, like facexlib's.
//!
//! Two modes: *replace* (facexlib) pastes the restored crop itself; *residual* pastes only the
//! restoration's change against the crop the generator was given (`region += a·(R − L)`).
//! Bilinear warp into the crop and bilinear paste back do not invert each other at sharp edges
//! (up to ~18 levels at teeth and eyes), and a face larger than the crop loses detail to the
//! crop's resolution; residual mode keeps both, and an identity generator changes nothing.

use crate::affine::Affine2;
use crate::error::{KernelError, check_len};
use crate::image::RgbImage;
use rayon::prelude::*;

/// How the restored face is blended into the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PasteParams {
    /// Weight of the restored face where the mask is full (0: keep the frame, 1: replace).
    pub blend: f32,
    /// Crop pixels at the crop's edge that are never pasted.
    pub erode: f32,
    /// Width in crop pixels of the smooth ramp from 0 to full weight.
    pub feather: f32,
}

impl PasteParams {
    /// facexlib-like defaults for a `size`-pixel crop: erode size/20, feather size/10.
    pub fn for_crop(size: usize, blend: f32) -> Self {
        Self {
            blend,
            erode: size as f32 / 20.0,
            feather: size as f32 / 10.0,
        }
    }

    fn validate(&self) -> Result<(), KernelError> {
        let bad = |name, value: f32, range| Err(KernelError::PasteParam { name, value, range });
        if !(0.0..=1.0).contains(&self.blend) {
            return bad("blend", self.blend, "0..=1");
        }
        if !(self.erode >= 0.0 && self.erode.is_finite()) {
            return bad("erode", self.erode, "0..inf (crop pixels)");
        }
        if !(self.feather >= 0.0 && self.feather.is_finite()) {
            return bad("feather", self.feather, "0..inf (crop pixels)");
        }
        Ok(())
    }
}

/// Checks every input of a paste into a region of `pixels` pixels except the region buffer
/// itself (whose name differs per caller): crop size, the lengths of `alpha`, `restored` and
/// `reference`, the parameters, and that `region_to_crop` is finite and invertible. Shared by
/// the CPU reference and both CUDA entry points, so every backend refuses the same inputs with
/// the same error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn validate_inputs(
    pixels: usize,
    alpha_len: usize,
    restored_len: usize,
    reference_len: Option<usize>,
    size: usize,
    region_to_crop: &Affine2,
    params: &PasteParams,
) -> Result<(), KernelError> {
    if size == 0 {
        return Err(KernelError::EmptyCrop(size));
    }
    check_len("paste_back alpha", pixels, alpha_len)?;
    check_len(
        "paste_back restored crop [3, S, S]",
        3 * size * size,
        restored_len,
    )?;
    if let Some(reference_len) = reference_len {
        check_len(
            "paste_back reference crop [3, S, S]",
            3 * size * size,
            reference_len,
        )?;
    }
    params.validate()?;
    if !region_to_crop.m.iter().flatten().all(|v| v.is_finite())
        || region_to_crop.inverse().is_none()
    {
        return Err(KernelError::SingularTransform {
            what: "paste_back region_to_crop",
            transform: *region_to_crop,
        });
    }
    Ok(())
}

/// [`validate_inputs`] for a region held in host memory, checking the region image first (the
/// CPU reference and the CUDA host convenience take the same arguments).
pub(crate) fn validate_host_inputs(
    region: &RgbImage,
    alpha: &[f32],
    restored: &[f32],
    reference: Option<&[f32]>,
    size: usize,
    region_to_crop: &Affine2,
    params: &PasteParams,
) -> Result<(), KernelError> {
    region.check("paste_back region image")?;
    validate_inputs(
        region.width * region.height,
        alpha.len(),
        restored.len(),
        reference.map(<[f32]>::len),
        size,
        region_to_crop,
        params,
    )
}

/// The paste mask at crop coordinates (cx, cy) of a `size` crop: 0 within `erode` of the crop
/// square's edge, 1 beyond `erode + feather`, smoothstep between; corners rounded with radius
/// `erode + feather`.
#[inline(always)]
pub fn paste_mask(cx: f32, cy: f32, size: usize, erode: f32, feather: f32) -> f32 {
    // The crop square spans [-0.5, size - 0.5] in pixel-centre coordinates.
    let half = size as f32 * 0.5;
    let centre = half - 0.5;
    let radius = (erode + feather).min(half);
    let qx = (cx - centre).abs() - (half - radius);
    let qy = (cy - centre).abs() - (half - radius);
    // Distance outside the inner box: Euclidean only in the corner zones (both q > 0), where
    // the rounding is; elsewhere the larger q. `sqrt` of the sum, not `hypot` (a libm call).
    let outside = if qx > 0.0 && qy > 0.0 {
        (qx * qx + qy * qy).sqrt()
    } else {
        qx.max(qy)
    };
    let inward = radius - outside;
    if feather <= 0.0 {
        return if inward > erode { 1.0 } else { 0.0 };
    }
    let t = ((inward - erode) / feather).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Bilinear sample of a planar [3, S, S] crop at (cx, cy), coordinates clamped to the crop,
/// in the crop's own units ([-1, 1]). The CUDA twin computes the same expression in the same
/// order, and residual mode relies on it: equal crops give exactly equal samples.
#[inline(always)]
fn sample_crop(crop: &[f32], size: usize, cx: f32, cy: f32) -> [f32; 3] {
    let max = (size - 1) as f32;
    let (cx, cy) = (cx.max(0.0).min(max), cy.max(0.0).min(max));
    let (x0, y0) = (cx as usize, cy as usize);
    let (fx, fy) = (cx - x0 as f32, cy - y0 as f32);
    // Offsets of the right and lower taps (0 on the last column / row).
    let dx = usize::from(x0 + 1 < size);
    let dy = if y0 + 1 < size { size } else { 0 };
    let plane = size * size;
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let base = c * plane + y0 * size + x0;
        // One bounds check per channel covers all four taps.
        let p = &crop[base..=base + dy + dx];
        let t = p[0] + fx * (p[dx] - p[0]);
        let b = p[dy] + fx * (p[dy + dx] - p[dy]);
        *o = t + fy * (b - t);
    }
    out
}

/// The columns `x` of region row `y` whose crop coordinates fall strictly inside the square
/// `[lo, hi]²`, clipped to `0..width`; `None` when there are none.
fn row_span(t: &Affine2, y: f32, lo: f32, hi: f32, width: usize) -> Option<(usize, usize)> {
    let (mut a, mut b) = (0.0f32, (width - 1) as f32);
    for r in 0..2 {
        let (slope, base) = (t.m[r][0], t.m[r][1] * y + t.m[r][2]);
        if slope.abs() < 1e-12 {
            if !(lo..=hi).contains(&base) {
                return None;
            }
        } else {
            let (e0, e1) = ((lo - base) / slope, (hi - base) / slope);
            a = a.max(e0.min(e1));
            b = b.min(e0.max(e1));
        }
    }
    if a > b {
        return None;
    }
    let (first, last) = (a.ceil().max(0.0), b.floor());
    (first <= last).then_some((first as usize, last as usize))
}

/// Blends a restored crop (planar [3, S, S] in [-1, 1]) into `region` (0..255). For each
/// region pixel p mapped into the crop by `region_to_crop`, with `a = blend · mask`:
///
/// - `reference: None` (replace, facexlib): `region = region·(1 − a) + R(p)·a`;
/// - `reference: Some(lq)` (residual): `region = clamp(region + a·(R(p) − L(p)), 0, 255)`,
///   where `lq` is the crop that was fed to the generator. Only the restoration's change is
///   pasted, so frame detail the crop could not hold (faces larger than the crop, sharp edges
///   moved by the double bilinear resampling) survives, and an unchanged crop leaves the
///   region exactly as it was.
///
/// R and L are bilinear samples at p's crop position, ×127.5 to levels. In both modes
/// `alpha[p] = max(alpha[p], a)`, so the caller writes back only the pixels that changed
/// (alpha > 0). Only region rows and columns that can land inside the crop are visited.
pub fn paste_back(
    region: &mut RgbImage,
    alpha: &mut [f32],
    restored: &[f32],
    reference: Option<&[f32]>,
    size: usize,
    region_to_crop: &Affine2,
    params: &PasteParams,
) -> Result<(), KernelError> {
    validate_host_inputs(
        region,
        alpha,
        restored,
        reference,
        size,
        region_to_crop,
        params,
    )?;
    if region.width == 0 || region.height == 0 || params.blend == 0.0 {
        return Ok(());
    }
    // Pixels within `erode` of the crop edge get mask 0: skip them with the row spans.
    let lo = -0.5 + params.erode.min(size as f32 * 0.5);
    let hi = size as f32 - 0.5 - params.erode.min(size as f32 * 0.5);
    // Inside the inner box (the rounded square shrunk by its corner radius) the mask is 1:
    // skip computing it there. Only when the ramp has width and the radius is not clamped.
    let half = size as f32 * 0.5;
    let inner_half = half - (params.erode + params.feather);
    let full_weight = (params.feather > 0.0 && inner_half > 0.0)
        .then_some((half - 0.5 - inner_half, half - 0.5 + inner_half));
    let w = region.width;
    region
        .data
        .par_chunks_mut(w * 3)
        .zip(alpha.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, (row, alpha_row))| {
            let Some((x0, x1)) = row_span(region_to_crop, y as f32, lo, hi, w) else {
                return;
            };
            let full =
                full_weight.and_then(|(flo, fhi)| row_span(region_to_crop, y as f32, flo, fhi, w));
            for x in x0..=x1 {
                // Computed per pixel, not accumulated: no drift, and the CUDA twin matches.
                let (cx, cy) = region_to_crop.apply(x as f32, y as f32);
                let mask = match full {
                    Some((f0, f1)) if (f0..=f1).contains(&x) => 1.0,
                    _ => paste_mask(cx, cy, size, params.erode, params.feather),
                };
                let a = params.blend * mask;
                if a > 0.0 {
                    let r = sample_crop(restored, size, cx, cy);
                    let px = &mut row[3 * x..3 * x + 3];
                    match reference {
                        None => {
                            for c in 0..3 {
                                px[c] += a * ((r[c] + 1.0) * 127.5 - px[c]);
                            }
                        }
                        Some(reference) => {
                            let l = sample_crop(reference, size, cx, cy);
                            for c in 0..3 {
                                px[c] = (px[c] + a * ((r[c] - l[c]) * 127.5)).clamp(0.0, 255.0);
                            }
                        }
                    }
                    alpha_row[x] = alpha_row[x].max(a);
                }
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warp::warp_face_crop;

    fn face(w: usize, h: usize) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                img.data[i] = (30 + (x * 3 + y) % 200) as f32;
                img.data[i + 1] = (50 + (x * y) % 180) as f32;
                img.data[i + 2] = (70 + (x + 5 * y) % 150) as f32;
            }
        }
        img
    }

    #[test]
    fn mask_ramps_smoothly_with_rounded_corners() {
        let (s, e, f) = (100, 5.0, 10.0);
        assert_eq!(paste_mask(49.5, 49.5, s, e, f), 1.0);
        assert_eq!(paste_mask(2.0, 50.0, s, e, f), 0.0);
        // Midway through the ramp along an edge: distance 10 from the edge at x = -0.5.
        assert!((paste_mask(9.5, 50.0, s, e, f) - 0.5).abs() < 1e-6);
        // Monotone towards the centre.
        let ramp: Vec<f32> = (0..20)
            .map(|x| paste_mask(x as f32, 50.0, s, e, f))
            .collect();
        assert!(ramp.windows(2).all(|w| w[0] <= w[1]));
        // At the corner, the diagonal point with full weight along each edge alone is not full.
        assert!(paste_mask(12.0, 12.0, s, e, f) < paste_mask(12.0, 50.0, s, e, f));
        assert_eq!(paste_mask(9.5, 50.0, s, e, 0.0), 1.0);
    }

    #[test]
    fn identity_warp_then_paste_reproduces_the_input() {
        let src = face(48, 48);
        let mut crop = vec![0.0; 3 * 48 * 48];
        warp_face_crop(&src, &Affine2::identity(), 48, &mut crop).unwrap();
        let mut region = RgbImage::new(48, 48);
        region.data.fill(0.0);
        let mut alpha = vec![0.0; 48 * 48];
        let params = PasteParams {
            blend: 1.0,
            erode: 0.0,
            feather: 0.0,
        };
        paste_back(
            &mut region,
            &mut alpha,
            &crop,
            None,
            48,
            &Affine2::identity(),
            &params,
        )
        .unwrap();
        for (a, b) in region.data.iter().zip(&src.data) {
            assert!((a - b).abs() <= 1.0, "{a} vs {b}");
        }
        assert!(alpha.iter().all(|&a| a == 1.0));
    }

    #[test]
    fn rotated_round_trip_matches_inside_and_leaves_outside_alone() {
        // Crop a rotated, scaled face out of a frame region and paste it straight back: inside
        // the mask the region is unchanged up to interpolation; outside nothing moves.
        let src = face(120, 100);
        let size = 64;
        let angle: f32 = 0.3;
        let (s, c) = angle.sin_cos();
        let crop_to_src = Affine2 {
            m: [[1.1 * c, -1.1 * s, 40.0], [1.1 * s, 1.1 * c, 20.0]],
        };
        let mut crop = vec![0.0; 3 * size * size];
        warp_face_crop(&src, &crop_to_src, size, &mut crop).unwrap();
        let mut region = src.clone();
        let mut alpha = vec![0.0; 120 * 100];
        let params = PasteParams::for_crop(size, 1.0);
        let to_crop = crop_to_src.inverse().unwrap();
        paste_back(
            &mut region,
            &mut alpha,
            &crop,
            None,
            size,
            &to_crop,
            &params,
        )
        .unwrap();
        let mut pasted = 0;
        for y in 0..100 {
            for x in 0..120 {
                let i = y * 120 + x;
                let (cx, cy) = to_crop.apply(x as f32, y as f32);
                let expected_mask = paste_mask(cx, cy, size, params.erode, params.feather);
                assert!(
                    (alpha[i] - expected_mask).abs() < 1e-5,
                    "alpha at ({x}, {y})"
                );
                if alpha[i] == 0.0 {
                    assert_eq!(region.pixel(x, y), src.pixel(x, y), "untouched pixel moved");
                } else {
                    pasted += 1;
                }
            }
        }
        assert!(pasted > 3000, "only {pasted} pixels pasted");
        // Values after resampling twice stay close to the source (smooth parts of the pattern).
        let centre = region.pixel(70, 55);
        let orig = src.pixel(70, 55);
        for c in 0..3 {
            assert!((centre[c] - orig[c]).abs() < 40.0);
        }
    }

    /// A rotated, scaled crop of `face(120, 100)` and the transform that pastes it back.
    fn rotated_crop(size: usize) -> (RgbImage, Vec<f32>, Affine2) {
        let src = face(120, 100);
        let (s, c) = 0.3f32.sin_cos();
        let crop_to_src = Affine2 {
            m: [[1.1 * c, -1.1 * s, 40.0], [1.1 * s, 1.1 * c, 20.0]],
        };
        let mut crop = vec![0.0; 3 * size * size];
        warp_face_crop(&src, &crop_to_src, size, &mut crop).unwrap();
        (src, crop, crop_to_src.inverse().unwrap())
    }

    #[test]
    fn residual_with_an_unchanged_crop_leaves_the_region_untouched() {
        // The replace round trip above moves this pattern's sharp steps by tens of levels;
        // pasting the (zero) change instead must leave every value as it was.
        let size = 64;
        let (src, crop, to_crop) = rotated_crop(size);
        let params = PasteParams::for_crop(size, 1.0);
        let mut region = src.clone();
        let mut alpha = vec![0.0; 120 * 100];
        paste_back(
            &mut region,
            &mut alpha,
            &crop,
            Some(&crop),
            size,
            &to_crop,
            &params,
        )
        .unwrap();
        let moved = region
            .data
            .iter()
            .zip(&src.data)
            .filter(|(a, b)| (*a - *b).abs() >= 1e-3)
            .count();
        assert_eq!(moved, 0, "residual paste of an unchanged crop moved values");
        // Alpha bookkeeping is the same as in replace mode.
        let pasted = alpha.iter().filter(|&&a| a > 0.0).count();
        assert!(pasted > 3000, "only {pasted} pixels got alpha");
        let mut replaced = src.clone();
        let mut replace_alpha = vec![0.0; 120 * 100];
        paste_back(
            &mut replaced,
            &mut replace_alpha,
            &crop,
            None,
            size,
            &to_crop,
            &params,
        )
        .unwrap();
        assert_eq!(alpha, replace_alpha);
        let worst = replaced
            .data
            .iter()
            .zip(&src.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst > 5.0,
            "replace mode was expected to move edges, max {worst}"
        );
    }

    #[test]
    fn residual_adds_the_change_weighted_by_alpha_and_clamps() {
        let size = 64;
        let (src, crop, to_crop) = rotated_crop(size);
        let brighter: Vec<f32> = crop.iter().map(|v| v + 10.0 / 127.5).collect();
        let params = PasteParams::for_crop(size, 0.8);
        let mut region = src.clone();
        let mut alpha = vec![0.0; 120 * 100];
        paste_back(
            &mut region,
            &mut alpha,
            &brighter,
            Some(&crop),
            size,
            &to_crop,
            &params,
        )
        .unwrap();
        let (mut ramp, mut full) = (0, 0);
        for (i, &a) in alpha.iter().enumerate() {
            for c in 0..3 {
                let (got, want) = (region.data[3 * i + c], src.data[3 * i + c] + a * 10.0);
                assert!((got - want).abs() < 1e-3, "pixel {i}: {got} vs {want}");
            }
            ramp += usize::from(a > 0.0 && a < 0.8);
            full += usize::from(a == 0.8);
        }
        assert!(ramp > 300 && full > 2000, "ramp {ramp}, full {full}");

        // Near the ends of the range the result is clamped to 0..255: 250 + 20, 5 + 20 − 40.
        let mut region = RgbImage {
            width: 2,
            height: 1,
            data: vec![250.0, 250.0, 250.0, 5.0, 5.0, 5.0],
        };
        let mut alpha = vec![0.0; 2];
        let lq = vec![0.0; 3 * 2 * 2];
        let up = vec![20.0 / 127.5; 3 * 2 * 2];
        let down = vec![-40.0 / 127.5; 3 * 2 * 2];
        let params = PasteParams {
            blend: 1.0,
            erode: 0.0,
            feather: 0.0,
        };
        let id = Affine2::identity();
        paste_back(&mut region, &mut alpha, &up, Some(&lq), 2, &id, &params).unwrap();
        assert_eq!(&region.data[..3], &[255.0; 3]);
        paste_back(&mut region, &mut alpha, &down, Some(&lq), 2, &id, &params).unwrap();
        assert!(
            region.data[3..].iter().all(|&v| v == 0.0),
            "{:?}",
            region.data
        );
    }

    #[test]
    fn partial_blend_and_alpha_max() {
        let mut region = RgbImage {
            width: 4,
            height: 4,
            data: vec![100.0; 48],
        };
        let mut alpha = vec![0.7; 16];
        let restored = vec![200.0 / 127.5 - 1.0; 3 * 4 * 4];
        let params = PasteParams {
            blend: 0.5,
            erode: 0.0,
            feather: 0.0,
        };
        paste_back(
            &mut region,
            &mut alpha,
            &restored,
            None,
            4,
            &Affine2::identity(),
            &params,
        )
        .unwrap();
        assert!(region.data.iter().all(|&v| (v - 150.0).abs() < 1e-3));
        assert!(alpha.iter().all(|&a| a == 0.7));
    }

    #[test]
    fn one_pixel_region_and_crop() {
        let mut region = RgbImage {
            width: 1,
            height: 1,
            data: vec![0.0; 3],
        };
        let mut alpha = vec![0.0];
        let restored = vec![1.0; 3];
        let params = PasteParams {
            blend: 1.0,
            erode: 0.0,
            feather: 0.0,
        };
        paste_back(
            &mut region,
            &mut alpha,
            &restored,
            None,
            1,
            &Affine2::identity(),
            &params,
        )
        .unwrap();
        assert_eq!(region.data, vec![255.0; 3]);
        assert_eq!(alpha, vec![1.0]);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let mut region = RgbImage::new(4, 4);
        let mut alpha = vec![0.0; 16];
        let crop = vec![0.0; 48];
        let p = PasteParams::for_crop(4, 1.0);
        let singular = Affine2 { m: [[0.0; 3]; 2] };
        assert!(matches!(
            paste_back(&mut region, &mut alpha, &crop, None, 4, &singular, &p),
            Err(KernelError::SingularTransform { .. })
        ));
        assert_eq!(
            paste_back(
                &mut region,
                &mut alpha[..3],
                &crop,
                None,
                4,
                &Affine2::identity(),
                &p
            ),
            Err(KernelError::BufferSize {
                what: "paste_back alpha",
                expected: 16,
                found: 3
            })
        );
        assert_eq!(
            paste_back(
                &mut region,
                &mut alpha,
                &crop,
                Some(&crop[..47]),
                4,
                &Affine2::identity(),
                &p
            ),
            Err(KernelError::BufferSize {
                what: "paste_back reference crop [3, S, S]",
                expected: 48,
                found: 47
            })
        );
        let bad = PasteParams { blend: 1.5, ..p };
        assert!(matches!(
            paste_back(
                &mut region,
                &mut alpha,
                &crop,
                None,
                4,
                &Affine2::identity(),
                &bad
            ),
            Err(KernelError::PasteParam { name: "blend", .. })
        ));
    }
}
