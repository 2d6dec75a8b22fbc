//! Raw video frames in their native pixel format (GStreamer's RGB, RGBx, RGBA, BGRx, BGRA,
//! I420, NV12, and at 10 and 16 bits I420_10LE, P010_10LE, v210, RGBA64_LE) and the only conversions
//! the face pipeline needs: a face region to `RgbImage` and back (blended), and a downscaled RGB
//! copy of the whole frame for the detector.
//!
//! For YUV nothing else is ever converted: pixels that no face covers keep their bytes.
//! YUV ↔ RGB follows ITU-R BT.601 / BT.709 / BT.2020 (Kr, Kb), limited range (Y 16..235,
//! C 16..240) or full range.
//!
//! Deeper formats are read into the same 0..255 `f32` scale as 8-bit ones, with their extra
//! precision as fractions (a 10-bit YUV code is 4 units per 8-bit level, as ITU-R BT.2020 and
//! BT.709 define 10-bit video; 16-bit RGB is 257 per level), and written back at their own depth,
//! so a restored face keeps the source's precision.
//!
//! Chroma of 4:2:0 frames is read by nearest sample (each chroma sample colours its 2×2 luma
//! block) and written as the alpha-weighted mean of that block. Nearest is chosen because that
//! write is then its exact inverse: reading a region and writing it back unchanged leaves every
//! byte within rounding, frame after frame, while bilinear upsampling followed by block averaging
//! would blur chroma each time a face is pasted.

use crate::image::{Rect, RgbImage, to_u8};
use rayon::prelude::*;

/// How the pixels of a frame are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed R, G, B (3 bytes per pixel).
    Rgb,
    /// Packed R, G, B, unused byte.
    Rgbx,
    /// Packed R, G, B, alpha (alpha is never read or written).
    Rgba,
    /// Packed B, G, R, unused byte.
    Bgrx,
    /// Packed B, G, R, alpha (alpha is never read or written).
    Bgra,
    /// Planar Y, U, V; chroma planes are ceil(w/2) × ceil(h/2).
    I420,
    /// Planar Y, then one interleaved U, V plane of ceil(w/2) × ceil(h/2) pairs.
    Nv12,
    /// I420 with 16-bit little-endian samples holding 10-bit codes (GStreamer `I420_10LE`).
    I420P10,
    /// NV12 with 16-bit little-endian samples holding 10-bit codes in their high bits
    /// (GStreamer `P010_10LE`, what hardware decoders give for 10-bit video).
    P010,
    /// Packed R, G, B, alpha, 16 bits little-endian each (GStreamer `RGBA64_LE`, film scans;
    /// alpha is never read or written).
    Rgba64,
    /// 10-bit 4:2:2 packed as in SDI equipment (GStreamer `v210`): each 16 bytes hold 6 pixels
    /// as four little-endian 32-bit words of three 10-bit codes (Cb Y Cr | Y Cb Y | Cr Y Cb |
    /// Y Cr Y); the top two bits of each word are kept as found.
    V210,
}

/// (word, bit shift) of luma `i` (0..6) and of chroma pair `j` (0..3) in a v210 group.
const V210_Y: [(usize, u32); 6] = [(0, 10), (1, 0), (1, 20), (2, 10), (3, 0), (3, 20)];
const V210_CB: [(usize, u32); 3] = [(0, 0), (1, 10), (2, 20)];
const V210_CR: [(usize, u32); 3] = [(0, 20), (2, 0), (3, 10)];

/// Where one YUV sample lives: its plane, the byte offset of its storage unit, and (v210) the
/// bit position of its 10-bit code in that 32-bit word.
#[derive(Clone, Copy, Debug)]
struct Site {
    plane: usize,
    at: usize,
    shift: u32,
}

/// The luma sample of pixel (x, y).
#[inline(always)]
fn luma_site(format: PixelFormat, strides: &[usize], x: usize, y: usize) -> Site {
    let row = y * strides[0];
    match format {
        PixelFormat::V210 => {
            let (word, shift) = V210_Y[x % 6];
            Site {
                plane: 0,
                at: row + 16 * (x / 6) + 4 * word,
                shift,
            }
        }
        _ => Site {
            plane: 0,
            at: row + x * format.sample_bytes(),
            shift: 0,
        },
    }
}

/// The U and the V sample of chroma position (cx, cy): pixels 2·cx, 2·cx + 1 of luma row cy
/// (4:2:2) or rows 2·cy, 2·cy + 1 (4:2:0).
#[inline(always)]
fn chroma_sites(format: PixelFormat, strides: &[usize], cx: usize, cy: usize) -> [Site; 2] {
    let site = |plane, at, shift| Site { plane, at, shift };
    let bytes = format.sample_bytes();
    match format {
        PixelFormat::V210 => {
            let group = cy * strides[0] + 16 * (cx / 3);
            let ((wu, su), (wv, sv)) = (V210_CB[cx % 3], V210_CR[cx % 3]);
            [site(0, group + 4 * wu, su), site(0, group + 4 * wv, sv)]
        }
        _ if format.interleaved_chroma() => {
            let i = cy * strides[1] + 2 * cx * bytes;
            [site(1, i, 0), site(1, i + bytes, 0)]
        }
        _ => [
            site(1, cy * strides[1] + cx * bytes, 0),
            site(2, cy * strides[2] + cx * bytes, 0),
        ],
    }
}

impl PixelFormat {
    /// Number of planes a frame of this format has.
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 | PixelFormat::I420P10 => 3,
            PixelFormat::Nv12 | PixelFormat::P010 => 2,
            _ => 1,
        }
    }

    /// 4:2:0 with U and V interleaved in one plane (NV12, P010).
    pub fn interleaved_chroma(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::P010)
    }

    /// Offsets of R, G, B within a pixel and the samples per pixel, for packed formats (in
    /// samples: bytes for 8-bit formats, 16-bit words for `Rgba64`).
    pub fn packed_layout(self) -> Option<([usize; 3], usize)> {
        match self {
            PixelFormat::Rgb => Some(([0, 1, 2], 3)),
            PixelFormat::Rgbx | PixelFormat::Rgba | PixelFormat::Rgba64 => Some(([0, 1, 2], 4)),
            PixelFormat::Bgrx | PixelFormat::Bgra => Some(([2, 1, 0], 4)),
            PixelFormat::I420
            | PixelFormat::Nv12
            | PixelFormat::I420P10
            | PixelFormat::P010
            | PixelFormat::V210 => None,
        }
    }

    /// Bytes per sample: 1, or 2 for the 10- and 16-bit formats.
    pub fn sample_bytes(self) -> usize {
        Samples::of(self).bytes
    }

    /// Luma rows per chroma row: 2 for 4:2:0, 1 for 4:2:2 (v210).
    pub(crate) fn chroma_rows(self) -> usize {
        if self == PixelFormat::V210 { 1 } else { 2 }
    }

    /// Minimum (bytes per row, rows) of plane `plane` for a `width × height` frame.
    pub fn plane_extent(self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        if self == PixelFormat::V210 {
            return (16 * width.div_ceil(6), height);
        }
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let samples = match (self.packed_layout(), plane) {
            (Some((_, spp)), _) => (width * spp, height),
            (None, 0) => (width, height),
            (None, _) if self.interleaved_chroma() => (2 * cw, ch),
            (None, _) => (cw, ch),
        };
        (samples.0 * self.sample_bytes(), samples.1)
    }
}

/// How one sample is stored: its bytes, where its code sits, and how many code units make one
/// level of the 0..255 scale that `RgbImage` and the YUV arithmetic use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Samples {
    /// Bytes per sample (v210: of the 32-bit word that holds three).
    pub(crate) bytes: usize,
    /// v210: 10-bit codes at a per-sample bit position in 32-bit words ([`Site::shift`]).
    packed_10: bool,
    /// P010 keeps its 10-bit code in the high bits of each 16-bit word.
    pub(crate) shift: u32,
    /// Code units per 0..255 level: 1 (8-bit), 4 (10-bit video), 257 (16-bit RGB).
    pub(crate) scale: f32,
    pub(crate) max_code: f32,
}

impl Samples {
    pub(crate) fn of(format: PixelFormat) -> Samples {
        match format {
            PixelFormat::I420P10 => Samples::deep(2, 0, 4.0, 1023.0),
            PixelFormat::P010 => Samples::deep(2, 6, 4.0, 1023.0),
            PixelFormat::Rgba64 => Samples::deep(2, 0, 257.0, 65535.0),
            PixelFormat::V210 => Samples {
                packed_10: true,
                ..Samples::deep(4, 0, 4.0, 1023.0)
            },
            _ => Samples::deep(1, 0, 1.0, 255.0),
        }
    }

    fn deep(bytes: usize, shift: u32, scale: f32, max_code: f32) -> Samples {
        Samples {
            bytes,
            packed_10: false,
            shift,
            scale,
            max_code,
        }
    }

    /// The sample at `site` of a YUV frame, on the 0..255 scale.
    #[inline(always)]
    fn read<P: AsRef<[u8]>>(&self, planes: &[P], site: Site) -> f32 {
        let plane = planes[site.plane].as_ref();
        if self.packed_10 {
            let b = &plane[site.at..site.at + 4];
            let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            ((word >> site.shift) & 0x3ff) as f32 / self.scale
        } else {
            self.get(plane, site.at)
        }
    }

    /// Stores `level` (0..255 scale) at `site`, rounded to the nearest code; v210 keeps the
    /// word's other codes and its top bits.
    #[inline(always)]
    fn write(&self, planes: &mut [&mut [u8]], site: Site, level: f32) {
        let plane = &mut *planes[site.plane];
        if self.packed_10 {
            let b = &mut plane[site.at..site.at + 4];
            let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let code = (level * self.scale + 0.5).clamp(0.0, self.max_code) as u32;
            let word = (word & !(0x3ff << site.shift)) | (code << site.shift);
            b.copy_from_slice(&word.to_le_bytes());
        } else {
            self.set(plane, site.at, level);
        }
    }

    /// The sample at byte offset `at`, on the 0..255 scale.
    #[inline(always)]
    fn get(&self, plane: &[u8], at: usize) -> f32 {
        if self.bytes == 1 {
            f32::from(plane[at])
        } else {
            f32::from(u16::from_le_bytes([plane[at], plane[at + 1]]) >> self.shift) / self.scale
        }
    }

    /// Stores `level` (0..255 scale) at byte offset `at`, rounded to the nearest code.
    #[inline(always)]
    fn set(&self, plane: &mut [u8], at: usize, level: f32) {
        if self.bytes == 1 {
            plane[at] = to_u8(level);
        } else {
            let code = (level * self.scale + 0.5).clamp(0.0, self.max_code) as u16;
            plane[at..at + 2].copy_from_slice(&(code << self.shift).to_le_bytes());
        }
    }
}

/// The YUV ↔ RGB matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum YuvMatrix {
    #[default]
    Bt601,
    Bt709,
    Bt2020,
}

/// Matrix and range of a YUV frame (ignored for RGB formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Colorimetry {
    pub matrix: YuvMatrix,
    /// Full range (0..255) instead of limited (Y 16..235, chroma 16..240).
    pub full_range: bool,
}

/// Why a frame description does not match its buffers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("{format:?} frame must be at least 1x1, found {width}x{height}")]
    Empty {
        format: PixelFormat,
        width: usize,
        height: usize,
    },
    #[error(
        "{format:?} frame needs {expected} planes and strides, found {planes} planes and {strides} strides"
    )]
    PlaneCount {
        format: PixelFormat,
        expected: usize,
        planes: usize,
        strides: usize,
    },
    #[error(
        "{format:?} {width}x{height} plane {plane}: stride {stride} is shorter than a row of {min} bytes"
    )]
    Stride {
        format: PixelFormat,
        width: usize,
        height: usize,
        plane: usize,
        stride: usize,
        min: usize,
    },
    #[error("{format:?} {width}x{height} plane {plane}: {found} bytes, expected at least {min}")]
    PlaneSize {
        format: PixelFormat,
        width: usize,
        height: usize,
        plane: usize,
        found: usize,
        min: usize,
    },
}

fn validate(
    format: PixelFormat,
    width: usize,
    height: usize,
    plane_lens: &[usize],
    strides: &[usize],
) -> Result<(), FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::Empty {
            format,
            width,
            height,
        });
    }
    let expected = format.plane_count();
    if plane_lens.len() != expected || strides.len() != expected {
        return Err(FrameError::PlaneCount {
            format,
            expected,
            planes: plane_lens.len(),
            strides: strides.len(),
        });
    }
    for (plane, (&len, &stride)) in plane_lens.iter().zip(strides).enumerate() {
        let (row, rows) = format.plane_extent(plane, width, height);
        if stride < row {
            return Err(FrameError::Stride {
                format,
                width,
                height,
                plane,
                stride,
                min: row,
            });
        }
        let min = stride * (rows - 1) + row;
        if len < min {
            return Err(FrameError::PlaneSize {
                format,
                width,
                height,
                plane,
                found: len,
                min,
            });
        }
    }
    Ok(())
}

/// A read-only view of one frame's planes.
#[derive(Clone, Debug)]
pub struct FrameRef<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<&'a [u8]>,
    pub strides: Vec<usize>,
    pub colorimetry: Colorimetry,
}

/// A writable view of one frame's planes.
#[derive(Debug)]
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<&'a mut [u8]>,
    pub strides: Vec<usize>,
    pub colorimetry: Colorimetry,
}

impl<'a> FrameRef<'a> {
    /// A view whose plane count, strides and plane sizes are checked against the format.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<&'a [u8]>,
        strides: Vec<usize>,
        colorimetry: Colorimetry,
    ) -> Result<Self, FrameError> {
        let frame = Self {
            format,
            width,
            height,
            planes,
            strides,
            colorimetry,
        };
        frame.validate()?;
        Ok(frame)
    }

    /// Checks the view (fields are public, so a view may have been built without `new`).
    pub fn validate(&self) -> Result<(), FrameError> {
        let lens: Vec<usize> = self.planes.iter().map(|p| p.len()).collect();
        validate(self.format, self.width, self.height, &lens, &self.strides)
    }
}

impl<'a> FrameMut<'a> {
    /// A view whose plane count, strides and plane sizes are checked against the format.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<&'a mut [u8]>,
        strides: Vec<usize>,
        colorimetry: Colorimetry,
    ) -> Result<Self, FrameError> {
        let frame = Self {
            format,
            width,
            height,
            planes,
            strides,
            colorimetry,
        };
        // The read-only view's check, so both kinds of view accept exactly the same frames.
        frame.as_ref().validate()?;
        Ok(frame)
    }

    /// The same frame, read-only.
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: self.planes.iter().map(|p| &**p).collect(),
            strides: self.strides.clone(),
            colorimetry: self.colorimetry,
        }
    }
}

/// YUV ↔ RGB coefficients with the range scaling folded in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Yuv {
    kr: f32,
    kg: f32,
    kb: f32,
    /// Luma code of black (16 limited, 0 full).
    y_black: f32,
    /// RGB units per luma code (255/219 limited).
    y_gain: f32,
    /// RGB units per chroma code (255/224 limited).
    c_gain: f32,
}

impl Yuv {
    /// `[kr, kg, kb, y_black, y_gain, c_gain]`, as the GPU twin of [`read_region`] takes them.
    pub(crate) fn coefficients(c: Colorimetry) -> [f32; 6] {
        let y = Self::new(c);
        [y.kr, y.kg, y.kb, y.y_black, y.y_gain, y.c_gain]
    }

    fn new(c: Colorimetry) -> Self {
        let (kr, kb) = match c.matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
            YuvMatrix::Bt2020 => (0.2627, 0.0593),
        };
        let (y_black, y_gain, c_gain) = if c.full_range {
            (0.0, 1.0, 1.0)
        } else {
            (16.0, 255.0 / 219.0, 255.0 / 224.0)
        };
        Self {
            kr,
            kg: 1.0 - kr - kb,
            kb,
            y_black,
            y_gain,
            c_gain,
        }
    }

    /// RGB (0..255, clamped) of one Y, U, V sample.
    #[inline(always)]
    fn rgb_of(&self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let l = (y - self.y_black) * self.y_gain;
        let cb = (u - 128.0) * self.c_gain;
        let cr = (v - 128.0) * self.c_gain;
        let r = l + 2.0 * (1.0 - self.kr) * cr;
        let b = l + 2.0 * (1.0 - self.kb) * cb;
        let g = (l - self.kr * r - self.kb * b) / self.kg;
        [r, g, b].map(|c| c.clamp(0.0, 255.0))
    }

    /// The Y code (unrounded) of one RGB colour.
    #[inline(always)]
    fn luma(&self, r: f32, g: f32, b: f32) -> f32 {
        self.y_black + (self.kr * r + self.kg * g + self.kb * b) / self.y_gain
    }

    /// Y, U, V codes (unrounded) of one RGB colour.
    #[inline(always)]
    fn yuv_of(&self, rgb: [f32; 3]) -> [f32; 3] {
        let l = self.kr * rgb[0] + self.kg * rgb[1] + self.kb * rgb[2];
        let cb = (rgb[2] - l) / (2.0 * (1.0 - self.kb));
        let cr = (rgb[0] - l) / (2.0 * (1.0 - self.kr));
        [
            self.y_black + l / self.y_gain,
            128.0 + cb / self.c_gain,
            128.0 + cr / self.c_gain,
        ]
    }
}

fn expect_valid(
    lens: &[usize],
    frame_fmt: PixelFormat,
    w: usize,
    h: usize,
    strides: &[usize],
    rect: Rect,
) {
    if let Err(e) = validate(frame_fmt, w, h, lens, strides) {
        panic!("invalid frame view: {e}");
    }
    assert!(
        rect.fits_in(w, h),
        "region {rect:?} lies outside the {w}x{h} frame"
    );
}

/// The pixels of `rect` (which must lie inside the frame) as RGB.
///
/// Panics when the frame view is inconsistent (see [`FrameRef::validate`]) or `rect` is not
/// inside the frame; both are caller bugs, not data errors.
pub fn read_region(frame: &FrameRef, rect: Rect) -> RgbImage {
    let lens: Vec<usize> = frame.planes.iter().map(|p| p.len()).collect();
    expect_valid(
        &lens,
        frame.format,
        frame.width,
        frame.height,
        &frame.strides,
        rect,
    );
    let mut out = RgbImage::new(rect.width, rect.height);
    if rect.area() == 0 {
        return out;
    }
    let s = Samples::of(frame.format);
    let rows = out.data.par_chunks_exact_mut(rect.width * 3);
    if let Some((off, spp)) = frame.format.packed_layout() {
        let (plane, stride, pixel) = (frame.planes[0], frame.strides[0], spp * s.bytes);
        rows.enumerate().for_each(|(r, dst)| {
            let start = (rect.y + r) * stride + rect.x * pixel;
            for (i, d) in dst.chunks_exact_mut(3).enumerate() {
                let at = start + i * pixel;
                for c in 0..3 {
                    d[c] = s.get(plane, at + off[c] * s.bytes);
                }
            }
        });
    } else {
        let yuv = Yuv::new(frame.colorimetry);
        let (format, strides, vsub) = (frame.format, &frame.strides, frame.format.chroma_rows());
        rows.enumerate().for_each(|(r, dst)| {
            let y = rect.y + r;
            for (i, d) in dst.chunks_exact_mut(3).enumerate() {
                let x = rect.x + i;
                let [su, sv] = chroma_sites(format, strides, x / 2, y / vsub);
                let luma = s.read(&frame.planes, luma_site(format, strides, x, y));
                d.copy_from_slice(&yuv.rgb_of(
                    luma,
                    s.read(&frame.planes, su),
                    s.read(&frame.planes, sv),
                ));
            }
        });
    }
    out
}

/// Blends `rgb` (the size of `rect`) into the frame in its native format:
/// `native = orig + alpha·(convert(rgb) − convert(read(orig)))`, `alpha` per region pixel in
/// 0..1, where `read(orig)` is the colour [`read_region`] gives for the pixel. For packed RGB,
/// and for YUV inside the RGB gamut, that is `orig + alpha·(convert(rgb) − orig)`; YUV outside
/// the gamut (4:2:0 pairs a pixel's luma with its block's chroma, which at colour edges gives
/// colours beyond 0..255 that `read_region` clamps) keeps its excess, so a pixel written back
/// unchanged keeps its bytes exactly instead of moving by the clamped amount.
///
/// Bytes of pixels with alpha 0 are not written (bit-identical). For 4:2:0 chroma each sample
/// takes the alpha-weighted mean colour of its 2×2 luma block (pixels outside `rect` weigh 0)
/// with the block's mean alpha, so a block only partly pasted moves only partly.
///
/// Panics when the frame view is inconsistent, `rect` is not inside the frame, or `rgb`/`alpha`
/// do not have `rect`'s size; all are caller bugs, not data errors.
pub fn write_region(frame: &mut FrameMut, rect: Rect, rgb: &RgbImage, alpha: &[f32]) {
    assert!(
        rgb.width == rect.width && rgb.height == rect.height,
        "write_region: image is {}x{}, region {rect:?}",
        rgb.width,
        rgb.height,
    );
    write_region_from(frame, rect, &rgb.data, alpha);
}

/// [`write_region`] from interleaved RGB `rgb` of `rect`'s size, borrowed.
pub fn write_region_from(frame: &mut FrameMut, rect: Rect, rgb: &[f32], alpha: &[f32]) {
    let lens: Vec<usize> = frame.planes.iter().map(|p| p.len()).collect();
    expect_valid(
        &lens,
        frame.format,
        frame.width,
        frame.height,
        &frame.strides,
        rect,
    );
    assert!(
        rgb.len() == rect.area() * 3,
        "write_region: {} values for region {rect:?}",
        rgb.len()
    );
    assert_eq!(
        alpha.len(),
        rect.area(),
        "write_region: alpha length vs region {rect:?}"
    );
    if rect.area() == 0 {
        return;
    }
    // NaN or negative alpha writes nothing; alpha above 1 is 1.
    let weight = |a: f32| if a > 0.0 { a.min(1.0) } else { 0.0 };
    let rgb_rows = rgb.chunks_exact(rect.width * 3);
    let alpha_rows = alpha.chunks_exact(rect.width);
    let sm = Samples::of(frame.format);
    if let Some((off, spp)) = frame.format.packed_layout() {
        let (stride, pixel) = (frame.strides[0], spp * sm.bytes);
        let plane = &mut *frame.planes[0];
        for (r, (src, al)) in rgb_rows.zip(alpha_rows).enumerate() {
            let start = (rect.y + r) * stride + rect.x * pixel;
            for (i, (s, &a)) in src.chunks_exact(3).zip(al).enumerate() {
                let a = weight(a);
                if a == 0.0 {
                    continue;
                }
                for c in 0..3 {
                    let at = start + i * pixel + off[c] * sm.bytes;
                    let o = sm.get(plane, at);
                    sm.set(plane, at, o + a * (s[c] - o));
                }
            }
        }
        return;
    }

    let yuv = Yuv::new(frame.colorimetry);
    let (format, strides, vsub) = (
        frame.format,
        frame.strides.clone(),
        frame.format.chroma_rows(),
    );
    // The colour `read_region` gives for frame pixel (x, y), from the planes as they are now.
    let read_back = |planes: &[&mut [u8]], x: usize, y: usize| {
        let [su, sv] = chroma_sites(format, &strides, x / 2, y / vsub);
        let luma = sm.read(planes, luma_site(format, &strides, x, y));
        yuv.rgb_of(luma, sm.read(planes, su), sm.read(planes, sv))
    };
    // Luma, per pixel (`None`: not written); computed before the chroma pass changes the chroma
    // it reads, written after it (the chroma pass reads the original luma).
    let mut luma = vec![None; rect.area()];
    for (r, (src, al)) in rgb_rows.zip(alpha_rows).enumerate() {
        let y = rect.y + r;
        for (i, (s, &a)) in src.chunks_exact(3).zip(al).enumerate() {
            let x = rect.x + i;
            let a = weight(a);
            if a > 0.0 {
                let o = sm.read(&frame.planes, luma_site(format, &strides, x, y));
                let [br, bg, bb] = read_back(&frame.planes, x, y);
                let change = yuv.luma(s[0], s[1], s[2]) - yuv.luma(br, bg, bb);
                luma[r * rect.width + i] = Some(o + a * change);
            }
        }
    }
    // Chroma, per block (2×2 in 4:2:0, 2×1 in 4:2:2) touching the rect.
    let (x_end, y_end) = (rect.x + rect.width, rect.y + rect.height);
    for cy in rect.y / vsub..y_end.div_ceil(vsub) {
        for cx in rect.x / 2..x_end.div_ceil(2) {
            let (mut sa, mut su, mut sv) = (0.0f32, 0.0f32, 0.0f32);
            let mut block_pixels = 0usize;
            for y in vsub * cy..(vsub * cy + vsub).min(frame.height) {
                for x in 2 * cx..(2 * cx + 2).min(frame.width) {
                    block_pixels += 1;
                    if !(rect.x..x_end).contains(&x) || !(rect.y..y_end).contains(&y) {
                        continue;
                    }
                    let i = (y - rect.y) * rect.width + (x - rect.x);
                    let a = weight(alpha[i]);
                    if a == 0.0 {
                        continue;
                    }
                    let c = yuv.yuv_of([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]]);
                    let b = yuv.yuv_of(read_back(&frame.planes, x, y));
                    sa += a;
                    su += a * (c[1] - b[1]);
                    sv += a * (c[2] - b[2]);
                }
            }
            if sa == 0.0 {
                continue;
            }
            // The alpha-weighted mean change, applied with the block's mean alpha.
            let (du, dv) = (su / sa, sv / sa);
            let a = sa / block_pixels as f32;
            let [site_u, site_v] = chroma_sites(format, &strides, cx, cy);
            let o = sm.read(&frame.planes, site_u);
            sm.write(&mut frame.planes, site_u, o + a * du);
            let o = sm.read(&frame.planes, site_v);
            sm.write(&mut frame.planes, site_v, o + a * dv);
        }
    }
    for (r, row) in luma.chunks_exact(rect.width).enumerate() {
        for (i, level) in row.iter().enumerate() {
            if let Some(level) = *level {
                let site = luma_site(format, &strides, rect.x + i, rect.y + r);
                sm.write(&mut frame.planes, site, level);
            }
        }
    }
}

/// Source taps of one output coordinate along one axis.
struct AxisTaps {
    /// First source index per output index.
    start: Vec<usize>,
    /// `weights[offset[o]..offset[o + 1]]` are the weights of sources `start[o]..`.
    offset: Vec<usize>,
    weights: Vec<f32>,
}

impl AxisTaps {
    /// Resampling `out_len` outputs from a frame axis of `frame_len` pixels whose plane stores
    /// one sample per `sub` pixels (`plane_len` samples). Area average when shrinking,
    /// bilinear (pixel centres aligned) when enlarging.
    fn new(out_len: usize, frame_len: usize, sub: usize, plane_len: usize) -> Self {
        let scale = frame_len as f64 / out_len as f64;
        let sub = sub as f64;
        let mut taps = AxisTaps {
            start: Vec::with_capacity(out_len),
            offset: vec![0],
            weights: Vec::new(),
        };
        for o in 0..out_len {
            let first = taps.weights.len();
            if scale > 1.0 {
                let a = (o as f64 * scale / sub).max(0.0);
                let b = ((o + 1) as f64 * scale / sub).min(plane_len as f64);
                let i0 = a.floor() as usize;
                let i1 = (b.ceil() as usize).clamp(i0 + 1, plane_len);
                taps.start.push(i0);
                for i in i0..i1 {
                    let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
                    taps.weights.push(overlap as f32);
                }
            } else {
                let c = (((o as f64 + 0.5) * scale) / sub - 0.5).clamp(0.0, (plane_len - 1) as f64);
                let i0 = c.floor() as usize;
                let f = c - i0 as f64;
                taps.start.push(i0);
                taps.weights.push((1.0 - f) as f32);
                if i0 + 1 < plane_len {
                    taps.weights.push(f as f32);
                }
            }
            let total: f32 = taps.weights[first..].iter().sum();
            for w in &mut taps.weights[first..] {
                *w /= total;
            }
            taps.offset.push(taps.weights.len());
        }
        taps
    }

    #[inline(always)]
    fn of(&self, o: usize) -> (usize, &[f32]) {
        (
            self.start[o],
            &self.weights[self.offset[o]..self.offset[o + 1]],
        )
    }
}

/// One plane resampled separably: a vertical pass over whole rows (vectorises for 8-bit
/// samples), then horizontal taps per channel.
struct PlaneResampler<'a> {
    plane: &'a [u8],
    stride: usize,
    samples: Samples,
    /// Samples per row (all channels).
    row_samples: usize,
    /// Samples per pixel position (all channels).
    spp: usize,
    xs: AxisTaps,
    ys: AxisTaps,
}

impl PlaneResampler<'_> {
    /// Weighted sum of the source rows of output row `oy`, into `acc` (`row_samples` long), on
    /// the 0..255 scale.
    fn vertical(&self, oy: usize, acc: &mut [f32]) {
        let (y0, wy) = self.ys.of(oy);
        acc.fill(0.0);
        let bytes = self.samples.bytes;
        for (k, &w) in wy.iter().enumerate() {
            let start = (y0 + k) * self.stride;
            let row = &self.plane[start..start + self.row_samples * bytes];
            if bytes == 1 {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += w * f32::from(v);
                }
            } else {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a += w * self.samples.get(row, i * bytes);
                }
            }
        }
    }

    /// Channel `c` (sample offset within a pixel) at output column `ox`, from a vertical pass.
    #[inline(always)]
    fn horizontal(&self, acc: &[f32], ox: usize, c: usize) -> f32 {
        let (x0, wx) = self.xs.of(ox);
        let taps = acc[x0 * self.spp + c..].iter().step_by(self.spp);
        wx.iter().zip(taps).map(|(w, v)| w * v).sum()
    }
}

/// The whole frame as an `out_w × out_h` RGB image for the detector: area average (box filter)
/// when shrinking, bilinear when enlarging, per axis. YUV frames are resampled per plane and
/// only the small result is converted (averaging commutes with the affine YUV → RGB map).
///
/// Panics when the frame view is inconsistent (see [`FrameRef::validate`]).
pub fn resize_to_rgb(frame: &FrameRef, out_w: usize, out_h: usize) -> RgbImage {
    let lens: Vec<usize> = frame.planes.iter().map(|p| p.len()).collect();
    let no_rect = Rect::new(0, 0, 0, 0);
    expect_valid(
        &lens,
        frame.format,
        frame.width,
        frame.height,
        &frame.strides,
        no_rect,
    );
    if frame.format == PixelFormat::V210 {
        // Its 32-bit words do not split into planes of samples: convert, then resample.
        let whole = read_region(frame, Rect::new(0, 0, frame.width, frame.height));
        return resize_rgb(&whole, out_w, out_h);
    }
    let mut out = RgbImage::new(out_w, out_h);
    if out_w == 0 || out_h == 0 {
        return out;
    }
    let (w, h) = (frame.width, frame.height);
    let rows = out.data.par_chunks_exact_mut(out_w * 3).enumerate();
    let samples = Samples::of(frame.format);
    if let Some((off, spp)) = frame.format.packed_layout() {
        let rs = PlaneResampler {
            plane: frame.planes[0],
            stride: frame.strides[0],
            samples,
            row_samples: w * spp,
            spp,
            xs: AxisTaps::new(out_w, w, 1, w),
            ys: AxisTaps::new(out_h, h, 1, h),
        };
        rows.for_each_init(
            || vec![0.0f32; rs.row_samples],
            |acc, (oy, dst)| {
                rs.vertical(oy, acc);
                for (ox, d) in dst.chunks_exact_mut(3).enumerate() {
                    for c in 0..3 {
                        d[c] = rs.horizontal(acc, ox, off[c]);
                    }
                }
            },
        );
        return out;
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let luma = PlaneResampler {
        plane: frame.planes[0],
        stride: frame.strides[0],
        samples,
        row_samples: w,
        spp: 1,
        xs: AxisTaps::new(out_w, w, 1, w),
        ys: AxisTaps::new(out_h, h, 1, h),
    };
    // NV12 and P010: one plane of U, V pairs; I420: two planes, one sample per position.
    let nv12 = frame.format.interleaved_chroma();
    let chroma_planes: Vec<PlaneResampler> = (1..frame.planes.len())
        .map(|p| PlaneResampler {
            plane: frame.planes[p],
            stride: frame.strides[p],
            samples,
            row_samples: if nv12 { 2 * cw } else { cw },
            spp: if nv12 { 2 } else { 1 },
            xs: AxisTaps::new(out_w, w, 2, cw),
            ys: AxisTaps::new(out_h, h, 2, ch),
        })
        .collect();
    let yuv = Yuv::new(frame.colorimetry);
    rows.for_each_init(
        || {
            (
                vec![0.0f32; w],
                vec![vec![0.0f32; 2 * cw]; chroma_planes.len()],
            )
        },
        |(acc_y, acc_c), (oy, dst)| {
            luma.vertical(oy, acc_y);
            for (rs, acc) in chroma_planes.iter().zip(acc_c.iter_mut()) {
                rs.vertical(oy, &mut acc[..rs.row_samples]);
            }
            for (ox, d) in dst.chunks_exact_mut(3).enumerate() {
                let l = luma.horizontal(acc_y, ox, 0);
                let (u, v) = if nv12 {
                    let rs = &chroma_planes[0];
                    (
                        rs.horizontal(&acc_c[0], ox, 0),
                        rs.horizontal(&acc_c[0], ox, 1),
                    )
                } else {
                    (
                        chroma_planes[0].horizontal(&acc_c[0], ox, 0),
                        chroma_planes[1].horizontal(&acc_c[1], ox, 0),
                    )
                };
                d.copy_from_slice(&yuv.rgb_of(l, u, v));
            }
        },
    );
    out
}

/// An RGB image resampled like [`resize_to_rgb`] resamples a frame (area average when shrinking,
/// bilinear when enlarging, per axis).
fn resize_rgb(image: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let mut out = RgbImage::new(out_w, out_h);
    if out_w == 0 || out_h == 0 {
        return out;
    }
    let (xs, ys) = (
        AxisTaps::new(out_w, image.width, 1, image.width),
        AxisTaps::new(out_h, image.height, 1, image.height),
    );
    let row_len = image.width * 3;
    out.data
        .par_chunks_exact_mut(out_w * 3)
        .enumerate()
        .for_each(|(oy, dst)| {
            let (y0, wy) = ys.of(oy);
            let mut acc = vec![0f32; row_len];
            for (k, &w) in wy.iter().enumerate() {
                let row = &image.data[(y0 + k) * row_len..][..row_len];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += w * v;
                }
            }
            for (ox, d) in dst.chunks_exact_mut(3).enumerate() {
                let (x0, wx) = xs.of(ox);
                for c in 0..3 {
                    d[c] = wx
                        .iter()
                        .enumerate()
                        .map(|(k, w)| w * acc[(x0 + k) * 3 + c])
                        .sum();
                }
            }
        });
    out
}

#[cfg(test)]
pub(crate) mod tests;
