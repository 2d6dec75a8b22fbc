//! The attribute pass: vertex colours blended with each pixel's perspective-correct
//! barycentrics (nvdiffrast's `interpolate`, which D3DFR runs on the shaded vertex colours), and
//! the [`Render`] handed to the generator's 3D branch: image plus coverage mask (paper Sec. 3.1).

use super::error::{RenderError, check_len, check_triangles};
use super::raster::{NO_TRIANGLE, Raster, rasterize_triangles};
use crate::image::RgbImage;
use rayon::prelude::*;

/// A rendered face: what D3DFR's renderer returns as `(mask, depth, image)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Render {
    pub size: usize,
    /// Interpolated vertex colours in the colours' own units (0..255 for the crate's region
    /// images), not clamped; black where uncovered.
    pub image: RgbImage,
    /// Coverage: 1 where a triangle covers the pixel centre, 0 elsewhere; row-major.
    pub mask: Vec<f32>,
    /// Camera-space depth of the visible surface, 0 where uncovered; row-major.
    pub depth: Vec<f32>,
}

/// Blends `colours` (one per vertex) over the visible triangle of every pixel; black where
/// uncovered. Fails when `raster`'s buffers do not match its size, a triangle index is past
/// `colours`, or a pixel names a triangle past `triangles`.
pub fn interpolate(
    raster: &Raster,
    triangles: &[[u32; 3]],
    colours: &[[f32; 3]],
) -> Result<RgbImage, RenderError> {
    let pixels = raster.size * raster.size;
    check_len("raster.triangle", pixels, raster.triangle.len())?;
    check_len("raster.barycentric", pixels, raster.barycentric.len())?;
    check_triangles(triangles, colours.len())?;
    if let Some(&t) = raster
        .triangle
        .iter()
        .find(|&&t| t != NO_TRIANGLE && t as usize >= triangles.len())
    {
        return Err(RenderError::Length {
            what: "triangles (raster names a triangle past the list)",
            expected: t as usize + 1,
            found: triangles.len(),
        });
    }
    let mut image = RgbImage::new(raster.size, raster.size);
    image
        .data
        .par_chunks_exact_mut(3)
        .zip(
            raster
                .triangle
                .par_iter()
                .zip(raster.barycentric.par_iter()),
        )
        .filter(|(_, (t, _))| **t != NO_TRIANGLE)
        .for_each(|(out, (&t, b))| {
            let [c0, c1, c2] = triangles[t as usize].map(|i| colours[i as usize]);
            for c in 0..3 {
                out[c] = b[0] * c0[c] + b[1] * c1[c] + b[2] * c2[c];
            }
        });
    Ok(image)
}

/// Rasterises and colours in one call (see [`rasterize_triangles`] for the conventions):
/// `screen` from [`super::Camera::project`], `colours` one per vertex.
pub fn rasterize(
    screen: &[[f32; 3]],
    triangles: &[[u32; 3]],
    colours: &[[f32; 3]],
    size: usize,
) -> Result<Render, RenderError> {
    check_len(
        "colours (one per screen vertex)",
        screen.len(),
        colours.len(),
    )?;
    let raster = rasterize_triangles(screen, triangles, size)?;
    let image = interpolate(&raster, triangles, colours)?;
    let mask = raster
        .triangle
        .iter()
        .map(|&t| if t == NO_TRIANGLE { 0.0 } else { 1.0 })
        .collect();
    Ok(Render {
        size,
        image,
        mask,
        depth: raster.depth,
    })
}
