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
    let pose = FacePose {
        angles,
        translation,
        gamma,
    };
    let face = project_and_shade(vertices, triangles, albedo, &pose, camera)?;
    rasterize(&face.screen, triangles, &face.colours, camera.size)
}

/// A face's pose and light as D3DFR's coefficients give them.
#[derive(Clone, Copy, Debug)]
pub struct FacePose<'a> {
    /// Radians, D3DFR `coeffs[224:227]`.
    pub angles: [f32; 3],
    /// D3DFR `coeffs[254:257]`.
    pub translation: [f32; 3],
    /// 27 SH weights, D3DFR `coeffs[227:254]`.
    pub gamma: &'a [f32],
}

/// Every vertex of a face ready to rasterise.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectedFace {
    /// x, y in pixels, camera depth ([`Camera::project`]).
    pub screen: Vec<[f32; 3]>,
    /// Shaded colours.
    pub colours: Vec<[f32; 3]>,
}

/// A face's checked inputs, what the shading needs besides them.
pub struct CheckedFace<'g> {
    /// Unrotated unit vertex normals.
    pub normals: Vec<[f32; 3]>,
    pub rotation: [[f32; 3]; 3],
    pub gamma: &'g [f32; GAMMA_LEN],
}

/// The steps before rasterisation, checked as [`render_face`] describes.
pub fn project_and_shade(
    vertices: &[[f32; 3]],
    triangles: &[[u32; 3]],
    albedo: &[[f32; 3]],
    pose: &FacePose<'_>,
    camera: &Camera,
) -> Result<ProjectedFace, RenderError> {
    let CheckedFace {
        normals,
        rotation: rot,
        gamma,
    } = checked_inputs(vertices, triangles, albedo, pose, camera)?;
    let screen: Vec<[f32; 3]> = vertices
        .par_iter()
        .map(|&p| {
            let moved = rotate(p, &rot);
            let world = std::array::from_fn(|k| moved[k] + pose.translation[k]);
            camera.project(camera.to_camera(world))
        })
        .collect();
    let rotated: Vec<[f32; 3]> = normals.par_iter().map(|&n| rotate(n, &rot)).collect();
    let colours = sh_shade(albedo, &rotated, gamma)?;
    Ok(ProjectedFace { screen, colours })
}

/// Checks a face's pose and light: finite angles and translation, and a whole, finite SH light.
pub(crate) fn checked_pose<'g>(pose: &FacePose<'g>) -> Result<&'g [f32; GAMMA_LEN], RenderError> {
    check_finite("angles", &[pose.angles])?;
    check_finite("translation", &[pose.translation])?;
    let gamma: &[f32; GAMMA_LEN] = pose.gamma.try_into().map_err(|_| RenderError::Length {
        what: "gamma (D3DFR SH coefficients, 3 channels × 9 bands)",
        expected: GAMMA_LEN,
        found: pose.gamma.len(),
    })?;
    if let Some(i) = gamma.iter().position(|g| !g.is_finite()) {
        return Err(RenderError::NonFiniteGamma {
            index: i,
            value: gamma[i],
        });
    }
    Ok(gamma)
}

/// Checks a face's inputs.
pub fn checked_inputs<'g>(
    vertices: &[[f32; 3]],
    triangles: &[[u32; 3]],
    albedo: &[[f32; 3]],
    pose: &FacePose<'g>,
    camera: &Camera,
) -> Result<CheckedFace<'g>, RenderError> {
    camera.validate()?;
    check_len("albedo (one per vertex)", vertices.len(), albedo.len())?;
    check_finite("albedo", albedo)?;
    let gamma = checked_pose(pose)?;
    // Checks vertices and triangles too.
    let normals = vertex_normals(vertices, triangles)?;
    Ok(CheckedFace {
        normals,
        rotation: rotation(pose.angles),
        gamma,
    })
}
