//! Round trips per format and colorimetry, bit-identity where alpha is 0, odd and 1×1 sizes,
//! the detector copy, and view validation.
// Channel loops index several arrays in step; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The 8-bit formats.
pub(crate) const FORMATS: [PixelFormat; 7] = [
    PixelFormat::Rgb,
    PixelFormat::Rgbx,
    PixelFormat::Rgba,
    PixelFormat::Bgrx,
    PixelFormat::Bgra,
    PixelFormat::I420,
    PixelFormat::Nv12,
];

/// The 10- and 16-bit formats.
pub(crate) const DEEP_FORMATS: [PixelFormat; 4] = [
    PixelFormat::I420P10,
    PixelFormat::P010,
    PixelFormat::Rgba64,
    PixelFormat::V210,
];

pub(crate) fn colorimetries() -> Vec<Colorimetry> {
    let mut out = Vec::new();
    for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020] {
        for full_range in [false, true] {
            out.push(Colorimetry { matrix, full_range });
        }
    }
    out
}

/// A frame that owns its planes, rows padded by 5 bytes to exercise strides (6 for 16-bit
/// samples and 16 for v210's words, which GStreamer always aligns).
#[derive(Clone, PartialEq, Debug)]
struct Owned {
    format: PixelFormat,
    w: usize,
    h: usize,
    planes: Vec<Vec<u8>>,
    strides: Vec<usize>,
    colorimetry: Colorimetry,
}

impl Owned {
    fn zeroed(format: PixelFormat, w: usize, h: usize, colorimetry: Colorimetry) -> Self {
        let mut planes = Vec::new();
        let mut strides = Vec::new();
        let pad = match format.sample_bytes() {
            1 => 5,
            2 => 6,
            _ => 16,
        };
        for p in 0..format.plane_count() {
            let (row, rows) = format.plane_extent(p, w, h);
            strides.push(row + pad);
            planes.push(vec![0u8; (row + pad) * rows]);
        }
        Self {
            format,
            w,
            h,
            planes,
            strides,
            colorimetry,
        }
    }

    fn random(format: PixelFormat, w: usize, h: usize, rng: &mut ChaCha8Rng) -> Self {
        let mut f = Self::zeroed(format, w, h, Colorimetry::default());
        for p in &mut f.planes {
            rng.fill(&mut p[..]);
        }
        f
    }

    /// Encodes an RGB image with an independent f64 reference of BT.601/709: chroma of each 2×2
    /// block is the converted mean colour of the block.
    fn encode(format: PixelFormat, img: &RgbImage, colorimetry: Colorimetry) -> Self {
        let (w, h) = (img.width, img.height);
        let mut f = Self::zeroed(format, w, h, colorimetry);
        let px = |x: usize, y: usize| img.pixel(x, y).map(f64::from);
        if let Some((off, bpp)) = format.packed_layout() {
            for y in 0..h {
                for x in 0..w {
                    for c in 0..3 {
                        f.planes[0][y * f.strides[0] + x * bpp + off[c]] =
                            px(x, y)[c].round() as u8;
                    }
                    if bpp == 4 {
                        f.planes[0][y * f.strides[0] + x * bpp + 3] = 77;
                    }
                }
            }
            return f;
        }
        let (kr, kb) = match colorimetry.matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
            YuvMatrix::Bt2020 => (0.2627, 0.0593),
        };
        let (ys, yo, cs) = if colorimetry.full_range {
            (1.0, 0.0, 1.0)
        } else {
            (219.0 / 255.0, 16.0, 224.0 / 255.0)
        };
        let luma = |p: [f64; 3]| kr * p[0] + (1.0 - kr - kb) * p[1] + kb * p[2];
        for y in 0..h {
            for x in 0..w {
                f.planes[0][y * f.strides[0] + x] =
                    (yo + ys * luma(px(x, y))).round().clamp(0.0, 255.0) as u8;
            }
        }
        for cy in 0..h.div_ceil(2) {
            for cx in 0..w.div_ceil(2) {
                let mut m = [0.0f64; 3];
                let mut n = 0.0;
                for y in 2 * cy..(2 * cy + 2).min(h) {
                    for x in 2 * cx..(2 * cx + 2).min(w) {
                        let p = px(x, y);
                        m = [m[0] + p[0], m[1] + p[1], m[2] + p[2]];
                        n += 1.0;
                    }
                }
                let m = m.map(|v| v / n);
                let l = luma(m);
                let u = (128.0 + cs * (m[2] - l) / (2.0 * (1.0 - kb)))
                    .round()
                    .clamp(0.0, 255.0) as u8;
                let v = (128.0 + cs * (m[0] - l) / (2.0 * (1.0 - kr)))
                    .round()
                    .clamp(0.0, 255.0) as u8;
                if format == PixelFormat::Nv12 {
                    f.planes[1][cy * f.strides[1] + 2 * cx] = u;
                    f.planes[1][cy * f.strides[1] + 2 * cx + 1] = v;
                } else {
                    f.planes[1][cy * f.strides[1] + cx] = u;
                    f.planes[2][cy * f.strides[2] + cx] = v;
                }
            }
        }
        f
    }

    fn view(&self) -> FrameRef<'_> {
        let planes = self.planes.iter().map(|p| &p[..]).collect();
        FrameRef::new(
            self.format,
            self.w,
            self.h,
            planes,
            self.strides.clone(),
            self.colorimetry,
        )
        .unwrap()
    }

    fn view_mut(&mut self) -> FrameMut<'_> {
        let planes = self.planes.iter_mut().map(|p| &mut p[..]).collect();
        FrameMut::new(
            self.format,
            self.w,
            self.h,
            planes,
            self.strides.clone(),
            self.colorimetry,
        )
        .unwrap()
    }

    /// Largest byte difference to `other` over the meaningful bytes of each plane.
    fn max_diff(&self, other: &Owned) -> u8 {
        let mut worst = 0;
        for p in 0..self.planes.len() {
            let (row, rows) = self.format.plane_extent(p, self.w, self.h);
            for r in 0..rows {
                for i in 0..row {
                    let (a, b) = (
                        self.planes[p][r * self.strides[p] + i],
                        other.planes[p][r * self.strides[p] + i],
                    );
                    worst = worst.max(a.abs_diff(b));
                }
            }
        }
        worst
    }
}

/// Smooth content, like a face region at video resolution, in gamut for every matrix.
fn smooth_image(w: usize, h: usize) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let i = (y * w + x) * 3;
            img.data[i] = (40.0 + 170.0 * fx + 20.0 * (fy * 6.0).sin()).round();
            img.data[i + 1] = (60.0 + 120.0 * fy + 10.0 * (fx * 5.0).cos()).round();
            img.data[i + 2] = (90.0 + 80.0 * (1.0 - fx) * fy).round();
        }
    }
    img
}

#[test]
fn conversion_matches_published_values() {
    // ITU-R BT.601 / BT.709 limited-range 100 % red: (Y, Cb, Cr) = (81.5, 90.2, 240) and (62.6, 102.3, 240).
    let red = [255.0, 0.0, 0.0];
    let y601 = Yuv::new(Colorimetry::default()).yuv_of(red);
    assert!(
        (y601[0] - 81.48).abs() < 0.05
            && (y601[1] - 90.22).abs() < 0.05
            && (y601[2] - 240.0).abs() < 0.05,
        "{y601:?}"
    );
    let c709 = Colorimetry {
        matrix: YuvMatrix::Bt709,
        full_range: false,
    };
    let y709 = Yuv::new(c709).yuv_of(red);
    assert!(
        (y709[0] - 62.56).abs() < 0.05
            && (y709[1] - 102.34).abs() < 0.05
            && (y709[2] - 240.0).abs() < 0.05,
        "{y709:?}"
    );
    let back = Yuv::new(c709).rgb_of(63.0, 102.0, 240.0);
    assert!(
        (back[0] - 255.0).abs() < 1.0 && back[1] < 1.0 && back[2] < 1.5,
        "{back:?}"
    );
    // Limited range black and white, full range white.
    assert_eq!(
        Yuv::new(Colorimetry::default()).rgb_of(16.0, 128.0, 128.0),
        [0.0; 3]
    );
    let white = Yuv::new(Colorimetry::default()).rgb_of(235.0, 128.0, 128.0);
    assert!(white.iter().all(|&v| (v - 255.0).abs() < 1e-3), "{white:?}");
    let full = Colorimetry {
        matrix: YuvMatrix::Bt601,
        full_range: true,
    };
    assert_eq!(
        Yuv::new(full).yuv_of([255.0; 3]).map(|v| v.round()),
        [255.0, 128.0, 128.0]
    );
}

#[test]
fn read_then_write_round_trips_every_format_and_colorimetry() {
    for (w, h) in [(17, 15), (1, 1), (2, 1), (64, 48)] {
        let img = smooth_image(w, h);
        for format in FORMATS {
            for colorimetry in colorimetries() {
                let frame = Owned::encode(format, &img, colorimetry);
                let full = Rect::new(0, 0, w, h);
                let read = read_region(&frame.view(), full);
                // 4:2:0 shares one chroma sample per 2×2 block: allow the colour change across
                // a pixel of this gradient.
                let tol = if format.packed_layout().is_some() {
                    0.0
                } else {
                    2.0 + 200.0 / w as f32 + 200.0 / h as f32
                };
                for (a, b) in read.data.iter().zip(&img.data) {
                    assert!(
                        (a - b).abs() <= tol,
                        "{format:?} {colorimetry:?} {w}x{h}: read {a} vs source {b}"
                    );
                }
                // Whole frame and an odd-placed sub-region written back unchanged.
                let mut rects = vec![full];
                if w > 12 && h > 9 {
                    rects.push(Rect::new(3, 1, 9, 8));
                }
                for rect in rects {
                    let part = read_region(&frame.view(), rect);
                    let mut out = frame.clone();
                    write_region(&mut out.view_mut(), rect, &part, &vec![1.0; rect.area()]);
                    let d = frame.max_diff(&out);
                    assert!(
                        d <= 1,
                        "{format:?} {colorimetry:?} {w}x{h} {rect:?}: round trip moved a byte by {d}"
                    );
                }
            }
        }
    }
}

#[test]
fn out_of_gamut_yuv_written_back_unchanged_keeps_its_bytes() {
    // Random Y/U/V bytes are mostly outside the RGB gamut, so `read_region` clamps them; writing
    // that read back must still leave every byte as it was (the residual paste of an unchanged
    // face relies on it).
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for format in [PixelFormat::I420, PixelFormat::Nv12] {
        for colorimetry in colorimetries() {
            let mut frame = Owned::random(format, 17, 15, &mut rng);
            frame.colorimetry = colorimetry;
            for rect in [Rect::new(0, 0, 17, 15), Rect::new(3, 1, 9, 8)] {
                let part = read_region(&frame.view(), rect);
                let clamped = part
                    .data
                    .iter()
                    .filter(|&&v| v == 0.0 || v == 255.0)
                    .count();
                assert!(clamped > 20, "{format:?}: only {clamped} clamped values");
                let mut out = frame.clone();
                write_region(&mut out.view_mut(), rect, &part, &vec![1.0; rect.area()]);
                assert_eq!(
                    frame.max_diff(&out),
                    0,
                    "{format:?} {colorimetry:?} {rect:?}: unchanged write moved bytes"
                );
            }
        }
    }
}

#[test]
fn sub_region_reads_the_same_pixels_as_the_whole_frame() {
    let img = smooth_image(17, 15);
    for format in FORMATS {
        let frame = Owned::encode(format, &img, Colorimetry::default());
        let all = read_region(&frame.view(), Rect::new(0, 0, 17, 15));
        let part = read_region(&frame.view(), Rect::new(5, 3, 7, 9));
        for y in 0..9 {
            for x in 0..7 {
                assert_eq!(
                    part.pixel(x, y),
                    all.pixel(x + 5, y + 3),
                    "{format:?} at ({x}, {y})"
                );
            }
        }
    }
}

#[test]
fn zero_alpha_leaves_bytes_bit_identical() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rect = Rect::new(1, 2, 14, 11);
    for format in FORMATS {
        for colorimetry in colorimetries() {
            let mut frame = Owned::random(format, 17, 15, &mut rng);
            frame.colorimetry = colorimetry;
            let mut rgb = RgbImage::new(rect.width, rect.height);
            rng.fill(&mut rgb.data[..]);
            rgb.data.iter_mut().for_each(|v| *v *= 255.0);
            // Alpha 0 in the region's left 6 columns (a 2×2 block boundary falls at frame x = 7
            // only after them), random elsewhere.
            let alpha: Vec<f32> = (0..rect.area())
                .map(|i| {
                    if i % rect.width < 6 {
                        0.0
                    } else {
                        rng.random_range(0.05..1.0)
                    }
                })
                .collect();
            let mut out = frame.clone();
            write_region(&mut out.view_mut(), rect, &rgb, &vec![0.0; rect.area()]);
            assert_eq!(out, frame, "{format:?}: all-zero alpha changed the frame");
            write_region(&mut out.view_mut(), rect, &rgb, &alpha);
            assert_ne!(out, frame, "{format:?}: nonzero alpha changed nothing");
            // Frame columns < 7 and pixels outside the rect must be untouched.
            let untouched = |x: usize, y: usize| {
                x < 7 || !(rect.y..rect.y + rect.height).contains(&y) || x >= rect.x + rect.width
            };
            if let Some((_, bpp)) = format.packed_layout() {
                for y in 0..15 {
                    for x in 0..17 {
                        let i = y * frame.strides[0] + x * bpp;
                        if untouched(x, y) {
                            assert_eq!(
                                out.planes[0][i..i + bpp],
                                frame.planes[0][i..i + bpp],
                                "{format:?} ({x}, {y})"
                            );
                        } else if bpp == 4 {
                            assert_eq!(
                                out.planes[0][i + 3],
                                frame.planes[0][i + 3],
                                "{format:?}: x/alpha byte touched"
                            );
                        }
                    }
                }
            } else {
                for y in 0..15 {
                    for x in 0..17 {
                        if untouched(x, y) {
                            let i = y * frame.strides[0] + x;
                            assert_eq!(
                                out.planes[0][i], frame.planes[0][i],
                                "{format:?} luma ({x}, {y})"
                            );
                        }
                    }
                }
                for cy in 0..8 {
                    for cx in 0..9 {
                        let block_untouched =
                            (0..2).all(|dy| (0..2).all(|dx| untouched(2 * cx + dx, 2 * cy + dy)));
                        if !block_untouched {
                            continue;
                        }
                        for p in 1..frame.planes.len() {
                            let bytes = if format == PixelFormat::Nv12 { 2 } else { 1 };
                            for b in 0..bytes {
                                let i = cy * frame.strides[p] + bytes * cx + b;
                                assert_eq!(
                                    out.planes[p][i], frame.planes[p][i],
                                    "{format:?} chroma ({cx}, {cy})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn partial_alpha_blends_linearly() {
    let grey = RgbImage {
        width: 2,
        height: 2,
        data: vec![100.0; 12],
    };
    let white = RgbImage {
        width: 2,
        height: 2,
        data: vec![200.0; 12],
    };
    for format in FORMATS {
        let full = Colorimetry {
            matrix: YuvMatrix::Bt709,
            full_range: true,
        };
        let mut frame = Owned::encode(format, &grey, full);
        write_region(
            &mut frame.view_mut(),
            Rect::new(0, 0, 2, 2),
            &white,
            &[0.5; 4],
        );
        let read = read_region(&frame.view(), Rect::new(0, 0, 2, 2));
        assert!(
            read.data.iter().all(|&v| (v - 150.0).abs() <= 1.0),
            "{format:?}: {:?}",
            read.data
        );
    }
    // A chroma block half covered: its chroma moves by the block's mean alpha.
    let red = RgbImage {
        width: 1,
        height: 2,
        data: vec![255.0, 0.0, 0.0, 255.0, 0.0, 0.0],
    };
    let mut frame = Owned::encode(
        PixelFormat::I420,
        &smooth_image(2, 2),
        Colorimetry::default(),
    );
    let (u0, v0) = (frame.planes[1][0], frame.planes[2][0]);
    write_region(
        &mut frame.view_mut(),
        Rect::new(1, 0, 1, 2),
        &red,
        &[1.0, 1.0],
    );
    let expect_u = (f32::from(u0) + 0.5 * (90.22 - f32::from(u0))).round() as u8;
    let expect_v = (f32::from(v0) + 0.5 * (240.0 - f32::from(v0))).round() as u8;
    assert_eq!(
        (frame.planes[1][0], frame.planes[2][0]),
        (expect_u, expect_v)
    );
}

#[test]
fn resize_box_filters_when_shrinking() {
    let img = smooth_image(40, 30);
    for format in FORMATS {
        let frame = Owned::encode(format, &img, Colorimetry::default());
        let rgb = read_region(&frame.view(), Rect::new(0, 0, 40, 30));
        let small = resize_to_rgb(&frame.view(), 20, 15);
        for y in 0..15 {
            for x in 0..20 {
                let p = small.pixel(x, y);
                for c in 0..3 {
                    let mean = (0..4)
                        .map(|k| rgb.pixel(2 * x + k % 2, 2 * y + k / 2)[c])
                        .sum::<f32>()
                        / 4.0;
                    let tol = if format.packed_layout().is_some() {
                        1e-3
                    } else {
                        1.5
                    };
                    assert!(
                        (p[c] - mean).abs() <= tol,
                        "{format:?} ({x}, {y}) c{c}: {} vs box mean {mean}",
                        p[c]
                    );
                }
            }
        }
        // Non-integer ratio still averages: a constant frame stays constant.
        let flat = Owned::encode(
            format,
            &RgbImage {
                width: 33,
                height: 17,
                data: vec![120.0; 33 * 17 * 3],
            },
            Colorimetry::default(),
        );
        let out = resize_to_rgb(&flat.view(), 10, 7);
        let first = out.pixel(0, 0);
        assert!(
            out.data
                .chunks(3)
                .all(|p| p.iter().zip(&first).all(|(a, b)| (a - b).abs() < 1e-3)),
            "{format:?}"
        );
        assert!((first[0] - 120.0).abs() <= 1.5, "{format:?}: {first:?}");
    }
}

#[test]
fn resize_same_size_is_identity_and_enlarging_interpolates() {
    let img = smooth_image(9, 7);
    let frame = Owned::encode(PixelFormat::Bgrx, &img, Colorimetry::default());
    assert_eq!(resize_to_rgb(&frame.view(), 9, 7), img);
    let two = RgbImage {
        width: 2,
        height: 1,
        data: vec![0.0, 0.0, 0.0, 200.0, 100.0, 40.0],
    };
    let frame = Owned::encode(PixelFormat::Rgb, &two, Colorimetry::default());
    let big = resize_to_rgb(&frame.view(), 4, 1);
    // Pixel centres of the 4-wide output sit at source x = -0.25, 0.25, 0.75, 1.25.
    let red: Vec<f32> = (0..4).map(|x| big.pixel(x, 0)[0]).collect();
    assert_eq!(red, vec![0.0, 50.0, 150.0, 200.0]);
    let one = Owned::encode(
        PixelFormat::Nv12,
        &smooth_image(1, 1),
        Colorimetry::default(),
    );
    assert_eq!(resize_to_rgb(&one.view(), 3, 2).data.len(), 18);
}

#[test]
fn views_are_validated() {
    let buf = [0u8; 100];
    let c = Colorimetry::default();
    assert!(matches!(
        FrameRef::new(PixelFormat::I420, 4, 4, vec![&buf[..]], vec![4], c),
        Err(FrameError::PlaneCount {
            expected: 3,
            planes: 1,
            ..
        })
    ));
    assert!(matches!(
        FrameRef::new(PixelFormat::Rgbx, 4, 4, vec![&buf[..]], vec![15], c),
        Err(FrameError::Stride {
            min: 16,
            stride: 15,
            ..
        })
    ));
    assert!(matches!(
        FrameRef::new(PixelFormat::Rgb, 5, 7, vec![&buf[..]], vec![15], c),
        Err(FrameError::PlaneSize {
            found: 100,
            min: 105,
            ..
        })
    ));
    assert!(matches!(
        FrameRef::new(PixelFormat::Rgb, 0, 7, vec![&buf[..]], vec![15], c),
        Err(FrameError::Empty { .. })
    ));
    // Odd sizes: 5×3 I420 has 3×2 chroma planes.
    let (y, u, v) = (vec![0u8; 15], vec![0u8; 6], vec![0u8; 6]);
    assert!(
        FrameRef::new(
            PixelFormat::I420,
            5,
            3,
            vec![&y[..], &u[..], &v[..]],
            vec![5, 3, 3],
            c
        )
        .is_ok()
    );
    assert!(
        FrameRef::new(
            PixelFormat::Nv12,
            5,
            3,
            vec![&y[..], &u[..5]],
            vec![5, 6],
            c
        )
        .is_err()
    );
    let msg = FrameRef::new(PixelFormat::Rgb, 5, 7, vec![&buf[..]], vec![15], c)
        .unwrap_err()
        .to_string();
    assert_eq!(msg, "Rgb 5x7 plane 0: 100 bytes, expected at least 105");
}

/// Each 10/16-bit format and the 8-bit format it deepens.
const DEEP: [(PixelFormat, PixelFormat); 3] = [
    (PixelFormat::I420, PixelFormat::I420P10),
    (PixelFormat::Nv12, PixelFormat::P010),
    (PixelFormat::Rgba, PixelFormat::Rgba64),
];

/// The deep twin of an 8-bit frame: every code widened (×4 into 10 bits for YUV, as BT.709 and
/// BT.2020 define 10-bit video; ×257 for 16-bit RGB), so both must read as the same colours.
fn widen(narrow: &Owned, deep: PixelFormat) -> Owned {
    let mut out = Owned::zeroed(deep, narrow.w, narrow.h, narrow.colorimetry);
    let samples = Samples::of(deep);
    for p in 0..narrow.planes.len() {
        let (row, rows) = narrow.format.plane_extent(p, narrow.w, narrow.h);
        for y in 0..rows {
            for i in 0..row {
                let level = f32::from(narrow.planes[p][y * narrow.strides[p] + i]);
                samples.set(&mut out.planes[p], y * out.strides[p] + 2 * i, level);
            }
        }
    }
    out
}

fn max_abs_diff(a: &RgbImage, b: &RgbImage) -> f32 {
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Two frames of the same picture read the same colours (within 1e-3) and give the same detector
/// copies at `sizes` (within `resize_tol`).
fn assert_read_alike(a: &Owned, b: &Owned, sizes: &[(usize, usize)], resize_tol: f32, what: &str) {
    let whole = Rect::new(0, 0, a.w, a.h);
    let diff = max_abs_diff(
        &read_region(&a.view(), whole),
        &read_region(&b.view(), whole),
    );
    assert!(diff < 1e-3, "{what}: read differs by {diff}");
    for &(ow, oh) in sizes {
        let diff = max_abs_diff(
            &resize_to_rgb(&a.view(), ow, oh),
            &resize_to_rgb(&b.view(), ow, oh),
        );
        assert!(
            diff < resize_tol,
            "{what} {ow}x{oh}: resize differs by {diff}"
        );
    }
}

#[test]
fn deep_formats_read_what_their_8_bit_twins_read() {
    let (w, h) = (9, 7);
    let img = smooth_image(w, h);
    for (narrow, deep) in DEEP {
        for colorimetry in colorimetries() {
            let n = Owned::encode(narrow, &img, colorimetry);
            let what = format!("{deep:?} {colorimetry:?}");
            assert_read_alike(&n, &widen(&n, deep), &[(4, 3), (17, 15)], 1e-3, &what);
        }
    }
}

/// Random deep frames hold only valid codes: 10 bits (P010: in the high bits).
fn random_deep(format: PixelFormat, w: usize, h: usize, rng: &mut ChaCha8Rng) -> Owned {
    let mut f = Owned::random(format, w, h, rng);
    for plane in &mut f.planes {
        for word in plane.chunks_exact_mut(2) {
            let v = u16::from_le_bytes([word[0], word[1]]);
            let v = match format {
                PixelFormat::I420P10 => v & 0x3ff,
                PixelFormat::P010 => v & 0xffc0,
                _ => v,
            };
            word.copy_from_slice(&v.to_le_bytes());
        }
    }
    f
}

#[test]
fn deep_formats_written_back_unchanged_keep_their_bytes() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (_, deep) in DEEP {
        for colorimetry in colorimetries() {
            let mut f = random_deep(deep, 11, 9, &mut rng);
            f.colorimetry = colorimetry;
            let before = f.clone();
            let rect = Rect::new(2, 1, 7, 6);
            let rgb = read_region(&f.view(), rect);
            write_region(&mut f.view_mut(), rect, &rgb, &vec![1.0; rect.area()]);
            assert_eq!(f, before, "{deep:?} {colorimetry:?}");
        }
    }
}

#[test]
fn deep_formats_keep_precision_finer_than_a_level() {
    // Fractional colours, one per 2×2 block so that 4:2:0 chroma adds no error of its own.
    let (w, h) = (32, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let block_colours: Vec<[f32; 3]> = (0..(w / 2) * (h / 2))
        .map(|_| [0; 3].map(|_| rng.random_range(40.0..215.0f32)))
        .collect();
    let mut rgb = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let c = block_colours[(y / 2) * (w / 2) + x / 2];
            rgb.data[3 * (y * w + x)..][..3].copy_from_slice(&c);
        }
    }
    let whole = Rect::new(0, 0, w, h);
    let mean_error = |format| {
        // Mid-grey first: written YUV keeps the out-of-gamut excess of what it replaces.
        let mut f = Owned::zeroed(format, w, h, Colorimetry::default());
        let samples = Samples::of(format);
        if format == PixelFormat::V210 {
            let strides = f.strides.clone();
            let mut planes: Vec<&mut [u8]> = f.planes.iter_mut().map(|p| &mut p[..]).collect();
            for y in 0..h {
                for x in 0..w {
                    let [u, v] = chroma_sites(format, &strides, x / 2, y);
                    for site in [luma_site(format, &strides, x, y), u, v] {
                        samples.write(&mut planes, site, 128.0);
                    }
                }
            }
        } else {
            for plane in &mut f.planes {
                for at in (0..plane.len() - 1).step_by(samples.bytes) {
                    samples.set(plane, at, 128.0);
                }
            }
        }
        write_region(&mut f.view_mut(), whole, &rgb, &vec![1.0; w * h]);
        let back = read_region(&f.view(), whole);
        let total: f32 = back
            .data
            .iter()
            .zip(&rgb.data)
            .map(|(b, c)| (b - c).abs())
            .sum();
        total / rgb.data.len() as f32
    };
    for (narrow, deep) in DEEP
        .into_iter()
        .chain([(PixelFormat::I420, PixelFormat::V210)])
    {
        let (n, d) = (mean_error(narrow), mean_error(deep));
        // 10-bit codes are 4 per level, 16-bit 257: the error shrinks with them.
        let bound = if deep == PixelFormat::Rgba64 {
            0.01
        } else {
            0.35
        };
        assert!(
            d < bound * n,
            "{deep:?}: mean error {d} levels, {narrow:?} {n}"
        );
    }
}

/// The v210 twin of an I420_10LE frame: the same luma codes, and each 4:2:0 chroma sample
/// repeated on both of its rows, so both must read as the same colours.
fn v210_from(deep: &Owned) -> Owned {
    let (w, h) = (deep.w, deep.h);
    let mut v = Owned::zeroed(PixelFormat::V210, w, h, deep.colorimetry);
    let (from, to) = (
        Samples::of(PixelFormat::I420P10),
        Samples::of(PixelFormat::V210),
    );
    let src: Vec<&[u8]> = deep.planes.iter().map(|p| &p[..]).collect();
    let strides = v.strides.clone();
    let mut dst: Vec<&mut [u8]> = v.planes.iter_mut().map(|p| &mut p[..]).collect();
    for y in 0..h {
        for x in 0..w {
            let level = from.read(&src, luma_site(PixelFormat::I420P10, &deep.strides, x, y));
            to.write(
                &mut dst,
                luma_site(PixelFormat::V210, &strides, x, y),
                level,
            );
        }
        for cx in 0..w.div_ceil(2) {
            let a = chroma_sites(PixelFormat::I420P10, &deep.strides, cx, y / 2);
            let b = chroma_sites(PixelFormat::V210, &strides, cx, y);
            for k in 0..2 {
                to.write(&mut dst, b[k], from.read(&src, a[k]));
            }
        }
    }
    v
}

#[test]
fn v210_reads_what_its_4_2_0_twin_reads() {
    for (w, h) in [(9, 7), (12, 4), (1, 1)] {
        let img = smooth_image(w, h);
        for colorimetry in colorimetries() {
            let deep = widen(
                &Owned::encode(PixelFormat::I420, &img, colorimetry),
                PixelFormat::I420P10,
            );
            // Shrinking averages the same samples either way (v210 converts first, then
            // averages; I420 averages its planes, then converts).
            let what = format!("{w}x{h} {colorimetry:?}");
            assert_read_alike(&deep, &v210_from(&deep), &[(4, 3), (1, 1)], 0.05, &what);
        }
    }
}

#[test]
fn v210_written_back_unchanged_keeps_every_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for colorimetry in colorimetries() {
        // Random words: every code, and the two unused top bits, must survive.
        let mut f = Owned::random(PixelFormat::V210, 13, 5, &mut rng);
        f.colorimetry = colorimetry;
        let before = f.clone();
        for rect in [Rect::new(0, 0, 13, 5), Rect::new(3, 1, 7, 3)] {
            let rgb = read_region(&f.view(), rect);
            write_region(&mut f.view_mut(), rect, &rgb, &vec![1.0; rect.area()]);
            assert_eq!(f, before, "{colorimetry:?} {rect:?}");
        }
    }
}
