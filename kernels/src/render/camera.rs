//! D3DFR's perspective camera (Deep3DFaceRecon `models/bfm.py`: `to_camera`, `to_image`;
//! paper Sec. 3.1): focal 1015 px and principal point 112 on a 224 image, the camera on the +z
//! axis at distance 10 looking towards the origin.
//!
//! Screen coordinates follow the rasteriser D3DFR renders with (nvdiffrast, `util/nvdiffrast.py`):
//! x to the right, y **down** (D3DFR negates camera y before its NDC projection, so world +y is up
//! in the image), pixel (i, j) covers `[i, i+1) × [j, j+1)` with its centre at (i + 0.5, j + 0.5).
//! Code that uses `Affine2` (pixel centres at integer coordinates) subtracts 0.5.

use super::error::RenderError;

/// Largest render size: keeps screen coordinates inside the rasteriser's fixed-point range.
pub const MAX_RENDER_SIZE: usize = 16384;

/// A D3DFR pinhole camera rendering a square `size × size` image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// Focal length in pixels.
    pub focal: f32,
    /// Principal point (both axes) in screen coordinates; `size / 2` centres the optical axis.
    pub center: f32,
    /// Distance of the camera from the world origin along +z.
    pub distance: f32,
    /// Render width and height in pixels.
    pub size: usize,
}

impl Camera {
    /// D3DFR's camera: `focal=1015., center=112., camera_distance=10.`, 224 × 224 renders.
    pub fn d3dfr() -> Self {
        Self {
            focal: 1015.0,
            center: 112.0,
            distance: 10.0,
            size: 224,
        }
    }

    /// D3DFR's field of view at another render size (e.g. 512 for the SGPN face): focal length
    /// and principal point scale by `size / 224`, so a vertex lands on the same relative spot.
    pub fn scaled(size: usize) -> Self {
        let d3dfr = Self::d3dfr();
        let s = size as f32 / d3dfr.size as f32;
        Self {
            focal: d3dfr.focal * s,
            center: d3dfr.center * s,
            size,
            ..d3dfr
        }
    }

    /// D3DFR `to_camera`: world → camera space, `z' = distance − z` (depth grows away from the
    /// camera; x and y unchanged).
    pub fn to_camera(&self, p: [f32; 3]) -> [f32; 3] {
        [p[0], p[1], self.distance - p[2]]
    }

    /// D3DFR `to_image` followed by its renderer's y negation: camera space → screen
    /// `(focal·x/z + center, center − focal·y/z, z)`, the depth passed through for the z-buffer.
    pub fn project(&self, p: [f32; 3]) -> [f32; 3] {
        let inv_z = 1.0 / p[2];
        [
            self.focal * p[0] * inv_z + self.center,
            self.center - self.focal * p[1] * inv_z,
            p[2],
        ]
    }

    /// Checks that the camera can render: positive finite focal length, finite principal point
    /// and distance, size in `1..=MAX_RENDER_SIZE`.
    pub fn validate(&self) -> Result<(), RenderError> {
        check_size(self.size)?;
        let bad = |field, value, expected| {
            Err(RenderError::Camera {
                field,
                value,
                expected,
            })
        };
        if !(self.focal.is_finite() && self.focal > 0.0) {
            return bad("focal", self.focal, "positive and finite");
        }
        if !self.center.is_finite() {
            return bad("center", self.center, "finite");
        }
        if !self.distance.is_finite() {
            return bad("distance", self.distance, "finite");
        }
        Ok(())
    }
}

/// Checks a render size against `1..=MAX_RENDER_SIZE`.
pub(crate) fn check_size(size: usize) -> Result<(), RenderError> {
    if (1..=MAX_RENDER_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(RenderError::Size {
            found: size,
            max: MAX_RENDER_SIZE,
        })
    }
}
