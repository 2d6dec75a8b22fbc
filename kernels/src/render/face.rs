//! One call from 3DMM output to the rendered face, in D3DFR's order (Deep3DFaceRecon
//! `models/bfm.py` `compute_for_render`, then `util/nvdiffrast.py`; paper Sec. 3.1):
//! rotate → translate → camera → project; normals of the unrotated shape, rotated; SH shading;
//! rasterise and interpolate.

use super::camera::Camera;
use super::error::{RenderError, check_finite, check_len};
use super::interpolate::{Render, rasterize};
use super::normals::vertex_normals;
use super::pose::{rotate, rotation};
use super::sh::{GAMMA_LEN, sh_shade};
use rayon::prelude::*;

/// Renders a face mesh as D3DFR does: `vertices` in model space (D3DFR's `face_shape`),
/// `albedo` per vertex (its units carry through to the image: 0..255 gives a region image),
/// `angles` (radians, D3DFR `coeffs[224:227]`), `translation` (`coeffs[254:257]`) and `gamma`
/// (27 SH weights, `coeffs[227:254]`).
/// Fails on a triangle index past the vertices, a non-finite vertex, albedo entry, angle,
/// translation or gamma value, a `gamma` that is not 27 long, an albedo list of another length
/// than the vertices, or an invalid camera.
pub fn render_face(
    vertices: &[[f32; 3]],
    triangles: &[[u32; 3]],
    albedo: &[[f32; 3]],
    angles: [f32; 3],
    translation: [f32; 3],
    gamma: &[f32],
    camera: &Camera,
) -> Result<Render, RenderError> {
    camera.validate()?;
    check_len("albedo (one per vertex)", vertices.len(), albedo.len())?;
    check_finite("albedo", albedo)?;
    check_finite("angles", &[angles])?;
    check_finite("translation", &[translation])?;
    let gamma: &[f32; GAMMA_LEN] = gamma.try_into().map_err(|_| RenderError::Length {
        what: "gamma (D3DFR SH coefficients, 3 channels × 9 bands)",
        expected: GAMMA_LEN,
        found: gamma.len(),
    })?;
    if let Some(i) = gamma.iter().position(|g| !g.is_finite()) {
        return Err(RenderError::NonFiniteGamma {
            index: i,
            value: gamma[i],
        });
    }
    // Checks vertices and triangles too.
    let normals = vertex_normals(vertices, triangles)?;

    let rot = rotation(angles);
    let screen: Vec<[f32; 3]> = vertices
        .par_iter()
        .map(|&p| {
            let moved = rotate(p, &rot);
            let world = std::array::from_fn(|k| moved[k] + translation[k]);
            camera.project(camera.to_camera(world))
        })
        .collect();
    let rotated: Vec<[f32; 3]> = normals.par_iter().map(|&n| rotate(n, &rot)).collect();
    let colours = sh_shade(albedo, &rotated, gamma)?;
    rasterize(&screen, triangles, &colours, camera.size)
}
