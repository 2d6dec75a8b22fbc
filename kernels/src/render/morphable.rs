//! The shape prior's `I_3d` straight from 3DMM coefficients (paper Sec. 3.1): shape
//! `S̄ + B_id·α + B_exp·β` and albedo `T̄ + B_t·δ` ([`crate::morph`]), vertex normals, the batch
//! render, and the generator's `render` tensor. [`render_crops`] is the CPU reference of the
//! device chain (`morph.cu` → `normals.cu` → `render.cu`, whose `render_to_crops` is
//! [`to_generator_input`]); both take the same inputs, so the whole step stays on one device.

use super::batch::{FaceInput, render_batch};
use super::camera::Camera;
use super::error::{RenderError, check_len};
use super::face::{FacePose, checked_pose};
use crate::affine::Affine2;
use crate::morph::add_combination;

/// A linear 3DMM part: its mean `[R]` and basis `[R, K]` (row-major).
#[derive(Clone, Copy, Debug)]
pub struct LinearPart<'a> {
    pub mean: &'a [f32],
    pub basis: &'a [f32],
    pub components: usize,
}

/// A 3DMM as the renderer takes it, borrowed from wherever it is kept.
#[derive(Clone, Copy, Debug)]
pub struct MorphableParts<'a> {
    /// The mean shape with the identity basis (x, y, z per vertex)…
    pub identity: LinearPart<'a>,
    /// …and the expression basis (its mean is not used: one mean shape).
    pub expression: LinearPart<'a>,
    /// The mean albedo and its basis (r, g, b per vertex, 0..1).
    pub albedo: LinearPart<'a>,
    pub triangles: &'a [[u32; 3]],
}

impl MorphableParts<'_> {
    /// Vertices per face.
    pub fn vertex_count(&self) -> usize {
        self.identity.mean.len() / 3
    }

    /// The lengths of every part agree (`[V·3]` means, `[V·3, K]` bases).
    pub fn check(&self) -> Result<(), RenderError> {
        let rows = self.identity.mean.len();
        check_len("3DMM mean shape (x, y, z per vertex)", rows / 3 * 3, rows)?;
        check_len("3DMM mean albedo", rows, self.albedo.mean.len())?;
        for (what, part) in [
            ("3DMM identity basis", self.identity),
            ("3DMM expression basis", self.expression),
            ("3DMM albedo basis", self.albedo),
        ] {
            check_len(what, rows * part.components, part.basis.len())?;
        }
        Ok(())
    }
}

/// The coefficients of a batch of faces: `[N, K]` per linear part and one pose (with its SH
/// light) per face.
#[derive(Clone, Debug)]
pub struct CoefficientBatch<'a> {
    pub identity: &'a [f32],
    pub expression: &'a [f32],
    pub albedo: &'a [f32],
    pub poses: Vec<FacePose<'a>>,
}

impl CoefficientBatch<'_> {
    pub fn faces(&self) -> usize {
        self.poses.len()
    }

    /// Every part holds `faces × K` values, all finite, and every pose is finite with a whole
    /// SH light (a face that is not is named).
    pub fn check(&self, model: &MorphableParts<'_>) -> Result<(), RenderError> {
        let n = self.faces();
        for (face, pose) in self.poses.iter().enumerate() {
            checked_pose(pose).map_err(|e| e.in_face(face))?;
        }
        for (what, values, part) in [
            (
                "identity coefficients [N, K_id]",
                self.identity,
                model.identity,
            ),
            (
                "expression coefficients [N, K_exp]",
                self.expression,
                model.expression,
            ),
            ("albedo coefficients [N, K_tex]", self.albedo, model.albedo),
        ] {
            check_len(what, n * part.components, values.len())?;
            if part.components == 0 {
                continue;
            }
            for (face, row) in values.chunks_exact(part.components).enumerate() {
                if let Some(i) = row.iter().position(|v| !v.is_finite()) {
                    let error = RenderError::NonFinite {
                        what,
                        index: i,
                        value: [row[i]; 3],
                    };
                    return Err(error.in_face(face));
                }
            }
        }
        Ok(())
    }
}

/// One face's vertices and albedo.
type Mesh = (Vec<[f32; 3]>, Vec<[f32; 3]>);

/// Face `f`'s row of a `[N, k]` coefficient array.
fn row(values: &[f32], f: usize, k: usize) -> &[f32] {
    &values[f * k..(f + 1) * k]
}

/// One face's shape and albedo, `mean + Σ basis·coefficients` per part.
fn combine(parts: &[(LinearPart<'_>, &[f32])], mean: &[f32]) -> Vec<[f32; 3]> {
    let mut out = mean.to_vec();
    for (part, coefficients) in parts {
        add_combination(&mut out, part.basis, part.components, coefficients);
    }
    out.chunks_exact(3).map(|v| [v[0], v[1], v[2]]).collect()
}

/// Where the renders of [`render_crops`] go.
#[derive(Clone, Copy, Debug)]
pub enum RenderTarget<'a> {
    /// The crop itself: the camera is at the crop size (the project's regressors).
    Crop,
    /// D3DFR's frame, each render warped back into a crop of `size` through the face's crop →
    /// frame transform ([`warp_back`]; the official release's `d3dfr` crop).
    Frame {
        crop_to_frame: &'a [Affine2],
        size: usize,
    },
}

impl RenderTarget<'_> {
    /// The side of the crops the renders end in.
    pub fn crop_size(&self, camera: &Camera) -> usize {
        match self {
            RenderTarget::Crop => camera.size,
            RenderTarget::Frame { size, .. } => *size,
        }
    }

    /// One transform per face for [`RenderTarget::Frame`].
    pub fn check(&self, faces: usize) -> Result<(), RenderError> {
        match self {
            RenderTarget::Crop => Ok(()),
            RenderTarget::Frame { crop_to_frame, .. } => check_len(
                "crop → frame transforms (one per face)",
                faces,
                crop_to_frame.len(),
            ),
        }
    }
}

/// The CPU reference: every face rendered with `camera` and put into `target` as the
/// generator's `render` input, `[N,3,S,S]` in [-1, 1] ([`to_generator_input`] or
/// [`warp_back`]), with its coverage `[N,S,S]`. An error names the face.
pub fn render_crops(
    model: &MorphableParts<'_>,
    batch: &CoefficientBatch<'_>,
    camera: &Camera,
    target: RenderTarget<'_>,
) -> Result<(Vec<f32>, Vec<f32>), RenderError> {
    model.check()?;
    batch.check(model)?;
    target.check(batch.faces())?;
    let meshes: Vec<Mesh> = (0..batch.faces())
        .map(|f| {
            let (id, exp, tex) = (model.identity, model.expression, model.albedo);
            let shape = combine(
                &[
                    (id, row(batch.identity, f, id.components)),
                    (exp, row(batch.expression, f, exp.components)),
                ],
                id.mean,
            );
            let albedo = combine(&[(tex, row(batch.albedo, f, tex.components))], tex.mean);
            (shape, albedo)
        })
        .collect();
    let faces: Vec<FaceInput<'_>> = meshes
        .iter()
        .zip(&batch.poses)
        .map(|((vertices, albedo), pose)| FaceInput {
            vertices,
            albedo,
            pose: *pose,
        })
        .collect();
    let render = render_batch(&faces, model.triangles, camera)?;
    let plane = camera.size * camera.size;
    let renders = render
        .image
        .chunks_exact(3 * plane)
        .zip(render.mask.chunks_exact(plane));
    match target {
        RenderTarget::Crop => {
            let mut crops = vec![0.0; batch.faces() * 3 * plane];
            for ((image, mask), out) in renders.zip(crops.chunks_exact_mut(3 * plane)) {
                to_generator_input(image, mask, out);
            }
            Ok((crops, render.mask))
        }
        RenderTarget::Frame {
            crop_to_frame,
            size,
        } => {
            let crop = size * size;
            let mut crops = vec![0.0; batch.faces() * 3 * crop];
            let mut coverage = vec![0.0; batch.faces() * crop];
            for (((image, mask), t), (out, cov)) in renders.zip(crop_to_frame).zip(
                crops
                    .chunks_exact_mut(3 * crop)
                    .zip(coverage.chunks_exact_mut(crop)),
            ) {
                warp_back(image, mask, camera.size, t, size, out, cov);
            }
            Ok((crops, coverage))
        }
    }
}

/// A render (interleaved RGB in the albedo's 0..1 units, one value of `mask` per pixel) as the
/// generator's `render` tensor `[3,S,S]`: colour clamped to 0..1, mapped by `2·c − 1`; −1 where
/// `mask` is 0 (docs/shape-prior.md "Tensors").
pub fn to_generator_input(image: &[f32], mask: &[f32], out: &mut [f32]) {
    let plane = mask.len();
    for (i, (px, &m)) in image.chunks_exact(3).zip(mask).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            out[c * plane + i] = if m > 0.0 {
                2.0 * v.clamp(0.0, 1.0) - 1.0
            } else {
                -1.0
            };
        }
    }
}

/// A render in D3DFR's frame (`image` interleaved colours in 0..1 and `mask` 1 where the mesh
/// covers a pixel, `frame_size` square) warped back into the `size` crop through
/// `crop_to_frame`: bilinear, zero outside the frame (the official SGPN code's `render` input
/// with the `d3dfr` crop; CUDA twin `render_warp_back` in `kernels/cuda/render.cu`). Writes the
/// generator's `render` tensor (planar `[3,S,S]`, `2·clamp(c)·m − 1`) and the coverage `m`.
pub fn warp_back(
    image: &[f32],
    mask: &[f32],
    frame_size: usize,
    crop_to_frame: &Affine2,
    size: usize,
    out: &mut [f32],
    coverage: &mut [f32],
) {
    let (w, h) = (frame_size, frame_size);
    let plane = size * size;
    let tap = |x: isize, y: isize| -> Option<usize> {
        (x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h)
            .then(|| y as usize * w + x as usize)
    };
    for y in 0..size {
        for x in 0..size {
            let (sx, sy) = crop_to_frame.apply(x as f32, y as f32);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let mut colour = [0.0f32; 3];
            let mut m = 0.0f32;
            for (dx, dy, wgt) in [
                (0, 0, (1.0 - fx) * (1.0 - fy)),
                (1, 0, fx * (1.0 - fy)),
                (0, 1, (1.0 - fx) * fy),
                (1, 1, fx * fy),
            ] {
                if let Some(i) = tap(x0 + dx, y0 + dy) {
                    m += wgt * mask[i];
                    for (c, v) in colour.iter_mut().enumerate() {
                        // Uncovered pixels hold the renderer's background, 0, as pytorch3d's.
                        *v += wgt * mask[i] * image[3 * i + c].clamp(0.0, 1.0);
                    }
                }
            }
            let i = y * size + x;
            coverage[i] = m;
            for (c, v) in colour.iter().enumerate() {
                out[c * plane + i] = 2.0 * v * m - 1.0;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::render::fixtures::uv_sphere;
    use crate::render::{GAMMA_LEN, render_face};

    /// A small 3DMM on a UV sphere: two identity components (a stretch and a bulge), one
    /// expression component, one albedo component.
    pub(crate) struct SphereModel {
        pub mean: Vec<f32>,
        pub id: Vec<f32>,
        pub exp: Vec<f32>,
        pub albedo_mean: Vec<f32>,
        pub albedo_basis: Vec<f32>,
        pub triangles: Vec<[u32; 3]>,
    }

    impl SphereModel {
        pub(crate) fn new() -> Self {
            let (sphere, triangles) = uv_sphere(0.8, 10, 14);
            let mean: Vec<f32> = sphere.iter().flatten().copied().collect();
            let rows = mean.len();
            let id = (0..rows * 2)
                .map(|i| match i % 2 {
                    0 => {
                        if (i / 2) % 3 == 1 {
                            0.3
                        } else {
                            0.0
                        }
                    }
                    _ => mean[i / 2] * 0.1,
                })
                .collect();
            let exp = (0..rows)
                .map(|r| if r % 3 == 2 { 0.05 } else { 0.0 })
                .collect();
            let albedo_mean = (0..rows).map(|r| [0.6, 0.5, 0.4][r % 3]).collect();
            let albedo_basis = (0..rows).map(|r| (r % 7) as f32 * 0.02).collect();
            Self {
                mean,
                id,
                exp,
                albedo_mean,
                albedo_basis,
                triangles,
            }
        }

        pub(crate) fn parts(&self) -> MorphableParts<'_> {
            MorphableParts {
                identity: LinearPart {
                    mean: &self.mean,
                    basis: &self.id,
                    components: 2,
                },
                expression: LinearPart {
                    mean: &self.mean,
                    basis: &self.exp,
                    components: 1,
                },
                albedo: LinearPart {
                    mean: &self.albedo_mean,
                    basis: &self.albedo_basis,
                    components: 1,
                },
                triangles: &self.triangles,
            }
        }
    }

    /// Three faces' coefficients: different shapes, albedos, poses and lights.
    pub(crate) struct SphereFaces {
        pub id: Vec<f32>,
        pub exp: Vec<f32>,
        pub tex: Vec<f32>,
        pub gamma: Vec<f32>,
        pub poses: Vec<([f32; 3], [f32; 3])>,
    }

    impl SphereFaces {
        pub(crate) fn new() -> Self {
            let mut gamma = vec![0.0f32; 3 * GAMMA_LEN];
            for (i, g) in gamma.iter_mut().enumerate() {
                *g = ((i * 37) % 11) as f32 * 0.03 - 0.12;
            }
            Self {
                id: vec![0.0, 0.0, 1.0, -0.5, -0.7, 2.0],
                exp: vec![0.0, 1.5, -1.0],
                tex: vec![0.0, 2.0, -3.0],
                gamma,
                poses: vec![
                    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
                    ([0.1, 0.6, 0.0], [0.2, 0.0, -0.5]),
                    ([-0.3, -0.2, 0.4], [-0.1, 0.1, 0.3]),
                ],
            }
        }

        pub(crate) fn batch(&self) -> CoefficientBatch<'_> {
            CoefficientBatch {
                identity: &self.id,
                expression: &self.exp,
                albedo: &self.tex,
                poses: self
                    .poses
                    .iter()
                    .zip(self.gamma.chunks_exact(GAMMA_LEN))
                    .map(|(&(angles, translation), gamma)| FacePose {
                        angles,
                        translation,
                        gamma,
                    })
                    .collect(),
            }
        }
    }

    #[test]
    fn the_render_warps_back_with_zero_outside_and_soft_edges() {
        // A 4×4 render covered in its left half, colour 0.5; an identity warp into a 6×6 crop.
        let image = vec![0.5; 3 * 16];
        let mask: Vec<f32> = (0..16).map(|i| if i % 4 < 2 { 1.0 } else { 0.0 }).collect();
        let (mut out, mut cov) = (vec![0.0; 3 * 36], vec![0.0; 36]);
        warp_back(
            &image,
            &mask,
            4,
            &Affine2::identity(),
            6,
            &mut out,
            &mut cov,
        );
        assert_eq!(cov[0], 1.0);
        assert_eq!(out[0], 2.0 * 0.5 - 1.0);
        assert_eq!(cov[3], 0.0);
        assert_eq!(out[3], -1.0);
        assert_eq!(cov[5 * 6 + 5], 0.0, "outside the frame");
        // Half a pixel to the right of the edge: half covered, colour weighted twice (official).
        let half = Affine2::scale_translate(1.0, 0.5, 0.0);
        warp_back(&image, &mask, 4, &half, 6, &mut out, &mut cov);
        assert_eq!(cov[1], 0.5);
        assert_eq!(out[1], 2.0 * 0.25 * 0.5 - 1.0);
    }

    #[test]
    fn renders_map_to_minus_one_to_one_and_uncovered_to_minus_one() {
        let image = [0.5, 1.5, -0.2, 0.9, 0.9, 0.9];
        let mut out = vec![0.0; 6];
        to_generator_input(&image, &[1.0, 0.0], &mut out);
        // Planes: r of both pixels, then g, then b.
        assert_eq!(out, vec![0.0, -1.0, 1.0, -1.0, -1.0, -1.0]);
    }

    /// The batch equals one `render_face` per face on the shapes and albedos the 3DMM gives,
    /// mapped to the generator's range; bad coefficients name their face.
    #[test]
    fn crops_from_coefficients_equal_single_renders() {
        let model = SphereModel::new();
        let faces = SphereFaces::new();
        let camera = Camera::scaled(40);
        let (crops, coverage) =
            render_crops(&model.parts(), &faces.batch(), &camera, RenderTarget::Crop).unwrap();
        let plane = 40 * 40;
        for (f, pose) in faces.batch().poses.iter().enumerate() {
            let rows = model.mean.len();
            let mut shape = model.mean.clone();
            add_combination(&mut shape, &model.id, 2, &faces.id[2 * f..2 * f + 2]);
            add_combination(&mut shape, &model.exp, 1, &faces.exp[f..f + 1]);
            let mut albedo = model.albedo_mean.clone();
            add_combination(&mut albedo, &model.albedo_basis, 1, &faces.tex[f..f + 1]);
            let triples = |v: &[f32]| -> Vec<[f32; 3]> {
                v.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
            };
            assert_eq!(shape.len(), rows);
            let one = render_face(
                &triples(&shape),
                &model.triangles,
                &triples(&albedo),
                pose.angles,
                pose.translation,
                pose.gamma,
                &camera,
            )
            .unwrap();
            assert!(
                one.mask.iter().filter(|&&m| m > 0.0).count() > 100,
                "face {f} is drawn"
            );
            assert_eq!(coverage[f * plane..(f + 1) * plane], one.mask[..]);
            let mut want = vec![0.0; 3 * plane];
            to_generator_input(&one.image.data, &one.mask, &mut want);
            assert_eq!(
                crops[3 * f * plane..3 * (f + 1) * plane],
                want[..],
                "face {f}"
            );
        }
        assert!(crops.iter().all(|v| (-1.0..=1.0).contains(v)));

        let mut bad = faces.tex.clone();
        bad[2] = f32::NAN;
        let mut batch = faces.batch();
        batch.albedo = &bad;
        let err = render_crops(&model.parts(), &batch, &camera, RenderTarget::Crop).unwrap_err();
        assert!(
            err.to_string().starts_with("face 2 of the batch: albedo"),
            "{err}"
        );
        let short = &faces.id[..5];
        let mut batch = faces.batch();
        batch.identity = short;
        assert!(render_crops(&model.parts(), &batch, &camera, RenderTarget::Crop).is_err());
    }

    /// Warped back through identity transforms into crops of the frame's size, the official
    /// target equals the crop target exactly (one tap per pixel, coverage 0 or 1, so its double
    /// weighting by the coverage changes nothing); a missing transform is refused.
    #[test]
    fn identity_warps_back_equal_renders_in_the_crop() {
        let model = SphereModel::new();
        let faces = SphereFaces::new();
        let camera = Camera::scaled(36);
        let in_crop =
            render_crops(&model.parts(), &faces.batch(), &camera, RenderTarget::Crop).unwrap();
        let identity = vec![Affine2::identity(); faces.batch().faces()];
        let target = RenderTarget::Frame {
            crop_to_frame: &identity,
            size: 36,
        };
        let warped = render_crops(&model.parts(), &faces.batch(), &camera, target).unwrap();
        assert_eq!(warped, in_crop);
        let short = RenderTarget::Frame {
            crop_to_frame: &identity[..2],
            size: 36,
        };
        assert!(render_crops(&model.parts(), &faces.batch(), &camera, short).is_err());
    }
}
