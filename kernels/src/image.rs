//! The region image passed between kernels (docs/architecture.md: interleaved RGB `f32`,
//! values in 0..255) and the integer rectangle that places a region in a frame.

use crate::error::{KernelError, check_len};

/// Interleaved RGB, `f32` in 0..255, row-major without padding: pixel (x, y) channel c is
/// `data[(y * width + x) * 3 + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl RgbImage {
    /// A black image.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height * 3],
        }
    }

    /// Converts tightly packed RGB bytes (`width·height·3` of them).
    pub fn from_rgb8(width: usize, height: usize, rgb: &[u8]) -> Result<Self, KernelError> {
        check_len("RgbImage::from_rgb8 bytes", width * height * 3, rgb.len())?;
        Ok(Self {
            width,
            height,
            data: rgb.iter().map(|&v| f32::from(v)).collect(),
        })
    }

    /// Tightly packed RGB bytes, rounded to nearest and clamped to 0..=255.
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| to_u8(v)).collect()
    }

    /// The colour at (x, y). Panics when (x, y) is outside the image, like slice indexing.
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{} image",
            self.width,
            self.height
        );
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Checks that `data` has `width·height·3` values.
    pub(crate) fn check(&self, what: &'static str) -> Result<(), KernelError> {
        check_len(what, self.width * self.height * 3, self.data.len())
    }
}

/// Rounds to nearest and clamps to a byte (NaN becomes 0).
#[inline(always)]
pub(crate) fn to_u8(v: f32) -> u8 {
    // `as` saturates, so only the rounding offset is needed.
    (v + 0.5) as u8
}

/// An axis-aligned pixel rectangle: columns `x..x + width`, rows `y..y + height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    pub fn new(x: usize, y: usize, width: usize, height: usize) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// The part of the rectangle `[x0, x1) × [y0, y1)` (real coordinates, may be negative or
    /// beyond the frame) that lies inside a `frame_w × frame_h` frame, rounded outwards to whole
    /// pixels; `None` when nothing is left.
    pub fn covering(
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        frame_w: usize,
        frame_h: usize,
    ) -> Option<Rect> {
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return None;
        }
        let clamp = |v: f32, hi: usize| v.clamp(0.0, hi as f32) as usize;
        let (l, t) = (clamp(x0.floor(), frame_w), clamp(y0.floor(), frame_h));
        let (r, b) = (clamp(x1.ceil(), frame_w), clamp(y1.ceil(), frame_h));
        (r > l && b > t).then(|| Rect::new(l, t, r - l, b - t))
    }

    /// Whether the rectangle lies inside a `frame_w × frame_h` frame.
    pub fn fits_in(&self, frame_w: usize, frame_h: usize) -> bool {
        self.x + self.width <= frame_w && self.y + self.height <= frame_h
    }

    pub fn area(&self) -> usize {
        self.width * self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb8_round_trip_and_rounding() {
        let bytes: Vec<u8> = (0..4 * 3 * 3).map(|v| (v * 7) as u8).collect();
        let img = RgbImage::from_rgb8(4, 3, &bytes).unwrap();
        assert_eq!(img.to_rgb8(), bytes);
        // Pixel (1, 2) starts at byte (2·4 + 1)·3 = 27.
        assert_eq!(img.pixel(1, 2), [189.0, 196.0, 203.0]);
        let odd = RgbImage {
            width: 1,
            height: 1,
            data: vec![-3.0, 254.6, 300.0],
        };
        assert_eq!(odd.to_rgb8(), vec![0, 255, 255]);
        assert_eq!(
            RgbImage::from_rgb8(2, 2, &[0; 11]),
            Err(KernelError::BufferSize {
                what: "RgbImage::from_rgb8 bytes",
                expected: 12,
                found: 11
            })
        );
    }

    #[test]
    fn covering_clips_to_frame() {
        assert_eq!(
            Rect::covering(-5.5, 2.2, 10.1, 8.0, 8, 6),
            Some(Rect::new(0, 2, 8, 4))
        );
        assert_eq!(Rect::covering(20.0, 2.0, 30.0, 3.0, 8, 6), None);
        assert!(Rect::new(2, 2, 6, 4).fits_in(8, 6));
        assert!(!Rect::new(2, 2, 7, 4).fits_in(8, 6));
    }
}
