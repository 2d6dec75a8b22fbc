//! A linear 3D morphable face model (3DMM), the shape prior of SGPN's shape restoration module
//! (Zhu et al., CVPR 2022, Sec. 3.1): shape `S = S̄ + B_id·α + B_exp·β`,
//! albedo `T = T̄ + B_t·δ`, the triangles, the landmark vertices and the perspective camera the
//! coefficients are regressed for.
//!
//! Conventions follow Deep3DFaceRecon_pytorch `models/bfm.py` (`ParametricFaceModel`), which the
//! official SGPN code reproduces: vertex `v` occupies rows `3v..3v+3` (x, y, z) of the mean and
//! of each basis; the albedo is RGB in 0..1 (the file's 0..255 divided by 255); indices are
//! 0-based. Loaders: [`MorphableModel::load_bfm09_front`] (`bfm09`), the project's stored form
//! [`MorphableModel::load_safetensors`] / [`MorphableModel::save_safetensors`] (`storage`), and
//! [`MorphableModel::load`], which picks one by the file extension.

mod bfm09;
mod coefficients;
mod error;
mod storage;

use std::path::Path;

pub use coefficients::Coefficients;
pub use error::MorphableError;

/// The pinhole camera the coefficients' pose and translation are defined for: the face model is
/// seen from `(0, 0, distance)` looking down −z, projected with `focal` onto an
/// `image_size`×`image_size` image whose principal point is (`center`, `center`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraParams {
    /// Focal length in pixels.
    pub focal: f32,
    /// Principal point, x and y, in pixels.
    pub center: f32,
    /// Camera distance from the model origin along +z.
    pub distance: f32,
    /// Side of the square image the camera renders, in pixels.
    pub image_size: u32,
}

impl CameraParams {
    /// Deep3DFaceRecon's camera (`ParametricFaceModel` defaults, also the official SGPN code's):
    /// focal 1015, principal point 112 on a 224 image, camera at z = 10.
    pub const D3DFR: CameraParams = CameraParams {
        focal: 1015.0,
        center: 112.0,
        distance: 10.0,
        image_size: 224,
    };
}

impl CameraParams {
    /// The renderer's camera for an S×S image of the same view (the regressor's 224 view resized
    /// to the generator's crop, docs/shape-prior.md): focal length and principal point scale by
    /// S / `image_size`, the distance stays.
    pub fn at_size(&self, size: usize) -> sgpn_kernels::render::Camera {
        let s = size as f32 / self.image_size as f32;
        sgpn_kernels::render::Camera {
            focal: self.focal * s,
            center: self.center * s,
            distance: self.distance,
            size,
        }
    }
}

impl Default for CameraParams {
    fn default() -> Self {
        Self::D3DFR
    }
}

/// A linear basis: a `rows`×`components` matrix stored row-major (row `3v + axis` holds the
/// `components` directions of vertex `v`'s coordinate or colour channel `axis`).
#[derive(Clone, Debug, PartialEq)]
pub struct Basis {
    pub rows: usize,
    pub components: usize,
    pub values: Vec<f32>,
}

impl Basis {
    /// Adds `self · coefficients` to `out` row by row (`sgpn_kernels::morph`, the reference of
    /// its CUDA twin); the caller has checked the lengths.
    fn add_combination(&self, out: &mut [f32], coefficients: &[f32]) {
        sgpn_kernels::morph::add_combination(out, &self.values, self.components, coefficients);
    }
}

/// One morphable face model with everything needed to reconstruct, light and project a face from
/// a coefficient vector.
#[derive(Clone, Debug, PartialEq)]
pub struct MorphableModel {
    /// Where the model came from, e.g. `BFM_model_front.mat (BFM09, Deep3DFaceRecon layout)`.
    pub source: String,
    /// Mean shape S̄, `[V·3]` (x, y, z per vertex), centred on its centroid.
    pub mean_shape: Vec<f32>,
    /// Identity basis B_id, `[V·3, K_id]`.
    pub id_basis: Basis,
    /// Expression basis B_exp, `[V·3, K_exp]`.
    pub exp_basis: Basis,
    /// Mean albedo T̄, `[V·3]` (r, g, b per vertex) in 0..1.
    pub mean_albedo: Vec<f32>,
    /// Albedo basis B_t, `[V·3, K_tex]`, in the same 0..1 scale.
    pub albedo_basis: Basis,
    /// Triangles as 0-based vertex indices, in the file's winding order.
    pub triangles: Vec<[u32; 3]>,
    /// Landmark vertices (68 for BFM09, in the iBUG 68-point order), 0-based.
    pub landmarks: Vec<u32>,
    pub camera: CameraParams,
}

impl MorphableModel {
    /// Loads a model file: `.safetensors` (the stored form) or `.mat` (Deep3DFaceRecon's
    /// `BFM_model_front.mat` layout, also the official SGPN code's `BFM09_model_info.mat`).
    pub fn load(path: &Path) -> Result<Self, MorphableError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("safetensors") => Self::load_safetensors(path),
            Some("mat") => Self::load_bfm09_front(path),
            _ => Err(MorphableError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Number of vertices V.
    pub fn vertex_count(&self) -> usize {
        self.mean_shape.len() / 3
    }

    /// K_id, the number of identity coefficients α.
    pub fn id_components(&self) -> usize {
        self.id_basis.components
    }

    /// K_exp, the number of expression coefficients β.
    pub fn exp_components(&self) -> usize {
        self.exp_basis.components
    }

    /// K_tex, the number of albedo coefficients δ.
    pub fn tex_components(&self) -> usize {
        self.albedo_basis.components
    }

    /// Length of a full coefficient vector: K_id + K_exp + K_tex + 3 angles + 27 SH + 3
    /// translation (257 for BFM09).
    pub fn coefficient_count(&self) -> usize {
        self.id_components()
            + self.exp_components()
            + self.tex_components()
            + Coefficients::POSE_AND_LIGHT
    }

    /// Full check: consistent dimensions, finite values, every triangle corner and landmark a
    /// vertex of the model, a usable camera.
    pub fn validate(&self) -> Result<(), MorphableError> {
        self.validate_as(&self.source)
    }

    /// Shape S = S̄ + B_id·α + B_exp·β, one point per vertex (model units; decimetres for BFM09).
    pub fn shape(&self, id: &[f32], exp: &[f32]) -> Result<Vec<[f32; 3]>, MorphableError> {
        self.check_dimensions(&self.source)?;
        self.check_part("identity coefficients (α)", id, self.id_components())?;
        self.check_part("expression coefficients (β)", exp, self.exp_components())?;
        let mut out = self.mean_shape.clone();
        self.id_basis.add_combination(&mut out, id);
        self.exp_basis.add_combination(&mut out, exp);
        Ok(triples(&out))
    }

    /// Albedo T = T̄ + B_t·δ, RGB per vertex in 0..1 (not clamped, as in Deep3DFaceRecon).
    pub fn albedo(&self, tex: &[f32]) -> Result<Vec<[f32; 3]>, MorphableError> {
        self.check_dimensions(&self.source)?;
        self.check_part("albedo coefficients (δ)", tex, self.tex_components())?;
        let mut out = self.mean_albedo.clone();
        self.albedo_basis.add_combination(&mut out, tex);
        Ok(triples(&out))
    }

    /// The landmark vertices picked from per-vertex positions (a [`shape`](Self::shape), or the
    /// same points after a pose transform or projection).
    pub fn landmark_positions(
        &self,
        vertices: &[[f32; 3]],
    ) -> Result<Vec<[f32; 3]>, MorphableError> {
        if vertices.len() != self.vertex_count() {
            return Err(MorphableError::Shape {
                origin: self.source.clone(),
                what: "the vertex list given to landmark_positions".into(),
                expected: format!("{} vertices", self.vertex_count()),
                found: format!("{} vertices", vertices.len()),
            });
        }
        self.landmarks
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                vertices
                    .get(v as usize)
                    .copied()
                    .ok_or_else(|| MorphableError::Index {
                        origin: self.source.clone(),
                        what: format!("landmark {i}"),
                        expected: format!("a vertex index below {}", vertices.len()),
                        found: v.to_string(),
                    })
            })
            .collect()
    }

    fn check_part(
        &self,
        what: &'static str,
        part: &[f32],
        expected: usize,
    ) -> Result<(), MorphableError> {
        if part.len() == expected {
            Ok(())
        } else {
            Err(MorphableError::Coefficients {
                origin: self.source.clone(),
                what,
                expected: expected.to_string(),
                found: part.len(),
            })
        }
    }

    /// The O(1) part of [`validate`](Self::validate): lengths that indexing relies on.
    fn check_dimensions(&self, origin: &str) -> Result<(), MorphableError> {
        let shape_error = |what: &str, expected: String, found: String| MorphableError::Shape {
            origin: origin.to_string(),
            what: what.to_string(),
            expected,
            found,
        };
        if self.mean_shape.is_empty() || !self.mean_shape.len().is_multiple_of(3) {
            return Err(shape_error(
                "mean_shape",
                "3·V values (x, y, z per vertex) with V ≥ 1".into(),
                format!("{} values", self.mean_shape.len()),
            ));
        }
        let rows = self.mean_shape.len();
        if self.mean_albedo.len() != rows {
            return Err(shape_error(
                "mean_albedo",
                format!("{rows} values (r, g, b for each of {} vertices)", rows / 3),
                format!("{} values", self.mean_albedo.len()),
            ));
        }
        for (what, basis) in [
            ("id_basis", &self.id_basis),
            ("exp_basis", &self.exp_basis),
            ("albedo_basis", &self.albedo_basis),
        ] {
            let filled = basis.rows.checked_mul(basis.components) == Some(basis.values.len());
            if basis.rows != rows || !filled {
                return Err(shape_error(
                    what,
                    format!("{rows}×K (3 × {} vertices) with {rows}·K values", rows / 3),
                    format!(
                        "{}×{} with {} values",
                        basis.rows,
                        basis.components,
                        basis.values.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_as(&self, origin: &str) -> Result<(), MorphableError> {
        self.check_dimensions(origin)?;
        for (what, values) in [
            ("mean_shape", &self.mean_shape),
            ("id_basis", &self.id_basis.values),
            ("exp_basis", &self.exp_basis.values),
            ("mean_albedo", &self.mean_albedo),
            ("albedo_basis", &self.albedo_basis.values),
        ] {
            if let Some((at, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(MorphableError::NonFinite {
                    origin: origin.to_string(),
                    what,
                    at,
                    value,
                });
            }
        }
        let vertices = self.vertex_count();
        let index_error = |what: String, index: u32| MorphableError::Index {
            origin: origin.to_string(),
            what,
            expected: format!("a 0-based vertex index below {vertices}"),
            found: index.to_string(),
        };
        if self.triangles.is_empty() {
            return Err(MorphableError::Shape {
                origin: origin.to_string(),
                what: "triangles".into(),
                expected: "at least one triangle".into(),
                found: "none".into(),
            });
        }
        for (t, triangle) in self.triangles.iter().enumerate() {
            for (corner, &v) in triangle.iter().enumerate() {
                if v as usize >= vertices {
                    return Err(index_error(format!("triangle {t} corner {corner}"), v));
                }
            }
        }
        for (i, &v) in self.landmarks.iter().enumerate() {
            if v as usize >= vertices {
                return Err(index_error(format!("landmark {i}"), v));
            }
        }
        let camera = &self.camera;
        let camera_ok = camera.focal.is_finite()
            && camera.focal > 0.0
            && camera.center.is_finite()
            && camera.distance.is_finite()
            && camera.distance > 0.0
            && camera.image_size > 0;
        if !camera_ok {
            return Err(MorphableError::Shape {
                origin: origin.to_string(),
                what: "camera".into(),
                expected: "finite focal > 0, finite center, finite distance > 0, image_size > 0"
                    .into(),
                found: format!("{camera:?}"),
            });
        }
        Ok(())
    }
}

/// `[x0, y0, z0, x1, ...]` as points.
fn triples(values: &[f32]) -> Vec<[f32; 3]> {
    values.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}
