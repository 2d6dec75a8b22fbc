//! Bicubic resampling, Pillow's `Image.resize(..., BICUBIC)` algorithm (Keys cubic with a = -0.5,
//! support widened by the scale factor when shrinking, so downsampling is antialiased; weights
//! renormalised at the borders). It is the `↓r` of the degradation (Eq. 16), the resize back to
//! the network size (which is also the evaluation's bicubic baseline), and the half-scale step of
//! NIQE (scikit-video calls `scipy.misc.imresize(img, 0.5, interp='bicubic', mode='F')`, which is
//! this Pillow filter on float data).

use image::Rgb32FImage;

use super::pixels::clamp_0_255;

/// Keys' cubic convolution kernel with a = -0.5 (Pillow's `bicubic_filter`), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output index: the first input index and the normalised weights (Pillow's
/// `precompute_coeffs`).
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..out_size)
        .map(|xx| {
            let centre = (xx as f64 + 0.5) * scale;
            let xmin = ((centre - support + 0.5) as i64).max(0) as usize;
            let xmax = ((centre + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - centre + 0.5) / filter_scale))
                .collect();
            let sum: f64 = w.iter().sum();
            if sum != 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            }
            (xmin, w.into_iter().map(|v| v as f32).collect())
        })
        .collect()
}

/// Resizes a single-channel row-major plane. No clamping (float data may overshoot).
pub fn resize_plane(
    src: &[f32],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    resize_channels(src, width, height, 1, out_w, out_h)
}

/// Resizes an interleaved RGB image on the 0..255 scale. No clamping: callers clamp where the
/// result must be a valid pixel.
pub fn resize_bicubic(img: &Rgb32FImage, out_w: u32, out_h: u32) -> Rgb32FImage {
    let data = resize_channels(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        3,
        out_w as usize,
        out_h as usize,
    );
    Rgb32FImage::from_raw(out_w, out_h, data).expect("resized buffer matches its size")
}

/// [`resize_bicubic`], clamped to 0..255: a valid image again (bicubic overshoots at edges).
pub fn resize_clamped(img: &Rgb32FImage, out_w: u32, out_h: u32) -> Rgb32FImage {
    let mut out = resize_bicubic(img, out_w, out_h);
    clamp_0_255(&mut out);
    out
}

/// `img` as a `size`×`size` image: unchanged when it is that size already, else
/// [`resize_clamped`].
pub fn to_square(img: Rgb32FImage, size: u32) -> Rgb32FImage {
    if img.dimensions() == (size, size) {
        img
    } else {
        resize_clamped(&img, size, size)
    }
}

/// Horizontal pass, then vertical, as Pillow does; a pass whose size does not change is skipped.
fn resize_channels(
    src: &[f32],
    width: usize,
    height: usize,
    ch: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    let horizontal = if out_w == width {
        src.to_vec()
    } else {
        let coeffs = coefficients(width, out_w);
        let mut out = vec![0.0f32; out_w * height * ch];
        for y in 0..height {
            for (x, (x0, w)) in coeffs.iter().enumerate() {
                for c in 0..ch {
                    let mut acc = 0.0f32;
                    for (k, wk) in w.iter().enumerate() {
                        acc += wk * src[(y * width + x0 + k) * ch + c];
                    }
                    out[(y * out_w + x) * ch + c] = acc;
                }
            }
        }
        out
    };
    if out_h == height {
        return horizontal;
    }
    let coeffs = coefficients(height, out_h);
    let mut out = vec![0.0f32; out_w * out_h * ch];
    for (y, (y0, w)) in coeffs.iter().enumerate() {
        for x in 0..out_w * ch {
            let mut acc = 0.0f32;
            for (k, wk) in w.iter().enumerate() {
                acc += wk * horizontal[(y0 + k) * out_w * ch + x];
            }
            out[y * out_w * ch + x] = acc;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_values_match_keys_cubic() {
        assert_eq!(bicubic(0.0), 1.0);
        assert_eq!(bicubic(1.0), 0.0);
        assert_eq!(bicubic(2.0), 0.0);
        // a = -0.5 at x = 0.5: (1.5·0.5 - 2.5)·0.25 + 1 = 0.5625; at 1.5: -0.0625.
        assert!((bicubic(0.5) - 0.5625).abs() < 1e-12);
        assert!((bicubic(1.5) + 0.0625).abs() < 1e-12);
    }

    #[test]
    fn halving_uses_the_widened_normalised_kernel() {
        // 8 → 4: output pixel 1 has centre 3.0 in input coordinates, support 4, taps 0..7
        // with weights bicubic((x - 2.5) / 2).
        let c = coefficients(8, 4);
        let (x0, w) = &c[1];
        assert_eq!(*x0, 0);
        assert_eq!(w.len(), 7);
        let raw: Vec<f64> = (0..7).map(|x| bicubic((x as f64 - 2.5) / 2.0)).collect();
        let s: f64 = raw.iter().sum();
        for (a, b) in w.iter().zip(&raw) {
            assert!((f64::from(*a) - b / s).abs() < 1e-6);
        }
    }

    #[test]
    fn constant_stays_constant_and_linear_ramp_is_kept_when_enlarging() {
        let flat = vec![7.0f32; 10 * 6];
        for v in resize_plane(&flat, 10, 6, 23, 3) {
            assert!((v - 7.0).abs() < 1e-4);
        }
        // Doubling a ramp: away from the borders a cubic reproduces a linear function exactly,
        // sampled at the output centres (x + 0.5)/2 - 0.5 in input coordinates.
        let ramp: Vec<f32> = (0..16).map(|x| x as f32).collect();
        let out = resize_plane(&ramp, 16, 1, 32, 1);
        for (x, v) in out.iter().enumerate().take(28).skip(4) {
            let expect = (x as f32 + 0.5) / 2.0 - 0.5;
            assert!((v - expect).abs() < 1e-4, "x={x}: {v} vs {expect}");
        }
    }
}
