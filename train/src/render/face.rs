//! The whole differentiable chain from a batch of reconstructed faces to the image `I_3d` and its
//! coverage mask for the generator's 3D branch (paper Sec. 3.1), in D3DFR's order
//! (Deep3DFaceRecon `models/bfm.py` `compute_for_render`, then `util/nvdiffrast.py`): rotate →
//! translate → camera → project; normals of the unrotated shape, rotated; SH shading; z-buffer
//! visibility; perspective-correct interpolation. The forward pass equals the CPU reference
//! [`sgpn_kernels::render::render_face`] face by face; also the projected landmarks that the
//! landmark loss (L_lm, paper Sec. 3.3, Eq. 13–16) compares.

use super::error::{DiffRenderError, check_shape};
use super::mesh::Mesh;
use super::normals::vertex_normals;
use super::pose::{rotation, to_screen};
use super::raster::{interpolate, visibility};
use super::sh::sh_shade;
use burn::prelude::*;
use sgpn_kernels::render::{Camera, GAMMA_LEN};

/// A batch of N reconstructed faces, as the shape module produces them from its coefficients.
#[derive(Clone, Debug)]
pub struct FaceBatch {
    /// Model-space shape [N, V, 3] (D3DFR's `face_shape`).
    pub vertices: Tensor<3>,
    /// Per-vertex albedo [N, V, 3]; its units carry through to the image (D3DFR: 0..1).
    pub albedo: Tensor<3>,
    /// Pose angles [N, 3] in radians (D3DFR `coeffs[224:227]`).
    pub angles: Tensor<2>,
    /// Translation [N, 3] (D3DFR `coeffs[254:257]`).
    pub translation: Tensor<2>,
    /// SH lighting [N, 27] (D3DFR `coeffs[227:254]`), 9 bands per RGB channel.
    pub gamma: Tensor<2>,
}

/// What [`FaceRenderer::render`] returns.
#[derive(Clone, Debug)]
pub struct FaceRender {
    /// Interpolated shaded colours [N, 3, S, S] in albedo units, not clamped; 0 where uncovered.
    pub image: Tensor<4>,
    /// Coverage [N, 1, S, S]: 1 where the mesh covers the pixel centre, 0 elsewhere; no gradient.
    pub mask: Tensor<4>,
    /// Screen positions [N, V, 3]: x, y in pixels (y down, pixel centres at +0.5) and
    /// camera-space depth; pass to [`FaceRenderer::landmarks`].
    pub screen: Tensor<3>,
}

/// Renders batches of faces with one mesh topology and one D3DFR camera.
#[derive(Clone, Debug)]
pub struct FaceRenderer {
    mesh: Mesh,
    camera: Camera,
}

impl FaceRenderer {
    /// Fails on an invalid camera (see [`Camera::validate`]).
    pub fn new(mesh: Mesh, camera: Camera) -> Result<Self, DiffRenderError> {
        camera.validate()?;
        Ok(Self { mesh, camera })
    }

    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Screen positions [N, V, 3] of posed `vertices` [N, V, 3] (see [`FaceRender::screen`]),
    /// differentiable in all three inputs. Fails on shapes that do not fit the mesh or each
    /// other, or non-finite values.
    pub fn project(
        &self,
        vertices: Tensor<3>,
        angles: Tensor<2>,
        translation: Tensor<2>,
    ) -> Result<Tensor<3>, DiffRenderError> {
        let n = self.check_vertices("vertices", &vertices)?;
        check_pose(n, &angles, &translation)?;
        Ok(to_screen(
            vertices,
            rotation(angles),
            translation,
            &self.camera,
        ))
    }

    /// Renders every face of `faces`: image, coverage mask and screen positions. Gradients reach
    /// vertices, albedo, angles, translation and gamma; not the coverage (see [`super::raster`]).
    /// Fails on shapes that do not fit the mesh or each other, non-finite inputs, or screen
    /// positions the rasteriser refuses (a vertex on the camera plane gives a NaN there).
    pub fn render(&self, faces: &FaceBatch) -> Result<FaceRender, DiffRenderError> {
        let n = self.check_vertices("vertices", &faces.vertices)?;
        check_pose(n, &faces.angles, &faces.translation)?;
        let v = self.mesh.vertices();
        check_shape(
            "albedo",
            &faces.albedo.dims(),
            &[Some(n), Some(v), Some(3)],
            &[],
        )?;
        check_finite("albedo", &faces.albedo)?;
        check_shape(
            "gamma",
            &faces.gamma.dims(),
            &[Some(n), Some(GAMMA_LEN)],
            &[],
        )?;
        check_finite("gamma", &faces.gamma)?;

        let device = faces.vertices.device();
        let rot = rotation(faces.angles.clone());
        let screen = to_screen(
            faces.vertices.clone(),
            rot.clone(),
            faces.translation.clone(),
            &self.camera,
        );
        // D3DFR shades with the normals of the unrotated shape, rotated (`face_norm @ rot`).
        let normals =
            vertex_normals(faces.vertices.clone(), &self.mesh.corners(&device)).matmul(rot);
        let colours = sh_shade(faces.albedo.clone(), normals, faces.gamma.clone());
        let seen = visibility(&screen, &self.mesh, self.camera.size)?;
        let image = interpolate(screen.clone(), colours, &seen, self.camera.size);
        Ok(FaceRender {
            image,
            mask: seen.mask,
            screen,
        })
    }

    /// Image positions [N, K, 2] of the vertices `indices` (e.g. the 68 landmarks) from `screen`
    /// [N, V, 3]; differentiable. Fails on an index past the mesh or a `screen` of another shape.
    pub fn landmarks(
        &self,
        screen: Tensor<3>,
        indices: &[u32],
    ) -> Result<Tensor<3>, DiffRenderError> {
        let v = self.mesh.vertices();
        check_shape("screen", &screen.dims(), &[None, Some(v), Some(3)], &["N"])?;
        if let Some((landmark, &index)) =
            indices.iter().enumerate().find(|(_, i)| **i as usize >= v)
        {
            return Err(DiffRenderError::LandmarkIndex {
                landmark,
                index,
                vertices: v,
            });
        }
        let index: Vec<i64> = indices.iter().map(|&i| i64::from(i)).collect();
        let index =
            Tensor::<1, Int>::from_data(TensorData::new(index, [indices.len()]), &screen.device());
        Ok(screen.select(1, index).narrow(2, 0, 2))
    }

    /// Checks `vertices` against [N, V, 3] for this mesh and that they are finite; returns N.
    fn check_vertices(
        &self,
        what: &'static str,
        vertices: &Tensor<3>,
    ) -> Result<usize, DiffRenderError> {
        let dims = vertices.dims();
        check_shape(
            what,
            &dims,
            &[None, Some(self.mesh.vertices()), Some(3)],
            &["N"],
        )?;
        check_finite(what, vertices)?;
        Ok(dims[0])
    }
}

/// Checks `angles` and `translation` against [n, 3] and that they are finite.
fn check_pose(
    n: usize,
    angles: &Tensor<2>,
    translation: &Tensor<2>,
) -> Result<(), DiffRenderError> {
    check_shape("angles", &angles.dims(), &[Some(n), Some(3)], &[])?;
    check_finite("angles", angles)?;
    check_shape("translation", &translation.dims(), &[Some(n), Some(3)], &[])?;
    check_finite("translation", translation)
}

/// One reduction over `t`: non-finite inputs would otherwise surface as NaN images.
fn check_finite<const D: usize>(what: &'static str, t: &Tensor<D>) -> Result<(), DiffRenderError> {
    let finite = t.clone().detach().is_finite().all().into_scalar::<bool>();
    if finite {
        Ok(())
    } else {
        Err(DiffRenderError::NonFinite { what })
    }
}
