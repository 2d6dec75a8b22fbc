//! The project's stored form of a morphable model: one safetensors file (Hugging Face's format: a
//! JSON header, then raw little-endian tensors), readable from Python with
//! `safetensors.numpy.load_file`. Tensor names, shapes and metadata keys are listed in
//! `models/README.md` ("3D morphable model file"); float values are stored as f32 exactly as held
//! in memory, so save → load is bit-exact.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};

use super::{Basis, CameraParams, MorphableError, MorphableModel};

/// Version of the tensor layout below; bumped when a name or a convention changes.
pub const FORMAT_VERSION: &str = "1";

const KEY_VERSION: &str = "sgpn.morphable.version";
const KEY_SOURCE: &str = "sgpn.morphable.source";
const KEY_FOCAL: &str = "sgpn.morphable.camera.focal";
const KEY_CENTER: &str = "sgpn.morphable.camera.center";
const KEY_DISTANCE: &str = "sgpn.morphable.camera.distance";
const KEY_IMAGE_SIZE: &str = "sgpn.morphable.camera.image_size";

impl MorphableModel {
    /// Writes the model (after [`validate`](Self::validate)) as a safetensors file.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), MorphableError> {
        self.validate()?;
        let vertices = self.vertex_count();
        let rows = 3 * vertices;
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let index_bytes = |v: &mut dyn Iterator<Item = u32>| {
            // i32 (not u32) so that PyTorch reads the indices; validate() bounds them by V.
            v.flat_map(|x| (x as i32).to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            (
                "mean_shape",
                Dtype::F32,
                vec![vertices, 3],
                f32_bytes(&self.mean_shape),
            ),
            (
                "id_basis",
                Dtype::F32,
                vec![rows, self.id_components()],
                f32_bytes(&self.id_basis.values),
            ),
            (
                "exp_basis",
                Dtype::F32,
                vec![rows, self.exp_components()],
                f32_bytes(&self.exp_basis.values),
            ),
            (
                "mean_albedo",
                Dtype::F32,
                vec![vertices, 3],
                f32_bytes(&self.mean_albedo),
            ),
            (
                "albedo_basis",
                Dtype::F32,
                vec![rows, self.tex_components()],
                f32_bytes(&self.albedo_basis.values),
            ),
            (
                "triangles",
                Dtype::I32,
                vec![self.triangles.len(), 3],
                index_bytes(&mut self.triangles.iter().flatten().copied()),
            ),
            (
                "landmarks",
                Dtype::I32,
                vec![self.landmarks.len()],
                index_bytes(&mut self.landmarks.iter().copied()),
            ),
        ];
        let container_error = |e: SafeTensorError| match e {
            SafeTensorError::IoError(source) => MorphableError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => MorphableError::Safetensors {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        };
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|view| (*name, view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(container_error)?;
        let camera = &self.camera;
        let metadata: HashMap<String, String> = [
            (KEY_VERSION, FORMAT_VERSION.to_string()),
            (KEY_SOURCE, self.source.clone()),
            // Display of f32 prints the shortest text that parses back to the same value.
            (KEY_FOCAL, camera.focal.to_string()),
            (KEY_CENTER, camera.center.to_string()),
            (KEY_DISTANCE, camera.distance.to_string()),
            (KEY_IMAGE_SIZE, camera.image_size.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes = safetensors::serialize(views, Some(metadata)).map_err(container_error)?;
        let bytes = with_sorted_header(&bytes).map_err(|reason| MorphableError::Safetensors {
            path: path.to_path_buf(),
            reason,
        })?;
        std::fs::write(path, bytes).map_err(|source| MorphableError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a file written by [`save_safetensors`](Self::save_safetensors) and validates it.
    pub fn load_safetensors(path: &Path) -> Result<Self, MorphableError> {
        let bytes = std::fs::read(path).map_err(|source| MorphableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let container_error = |e: SafeTensorError| MorphableError::Safetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(container_error)?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(container_error)?;
        let file = StoredFile {
            origin: path.display().to_string(),
            tensors,
            metadata: header.metadata().clone().unwrap_or_default(),
        };

        let version = file.metadata(KEY_VERSION)?;
        if version != FORMAT_VERSION {
            return Err(file.metadata_error(
                KEY_VERSION,
                format!("is {version:?}; this version of sgpn reads version {FORMAT_VERSION}"),
            ));
        }
        let (mean_shape, shape_dims) = file.floats("mean_shape")?;
        let &[vertices, 3] = shape_dims.as_slice() else {
            return Err(file.shape_error("mean_shape", "[V, 3]".into(), &shape_dims));
        };
        let rows = 3 * vertices;
        let model = MorphableModel {
            source: file.metadata(KEY_SOURCE)?.to_string(),
            mean_shape,
            id_basis: file.basis("id_basis", rows)?,
            exp_basis: file.basis("exp_basis", rows)?,
            mean_albedo: {
                let (values, dims) = file.floats("mean_albedo")?;
                if dims != [vertices, 3] {
                    return Err(file.shape_error("mean_albedo", format!("[{vertices}, 3]"), &dims));
                }
                values
            },
            albedo_basis: file.basis("albedo_basis", rows)?,
            triangles: {
                let (values, dims) = file.indices("triangles")?;
                if dims.len() != 2 || dims[1] != 3 {
                    return Err(file.shape_error("triangles", "[F, 3]".into(), &dims));
                }
                values.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect()
            },
            landmarks: {
                let (values, dims) = file.indices("landmarks")?;
                if dims.len() != 1 {
                    return Err(file.shape_error("landmarks", "[L]".into(), &dims));
                }
                values
            },
            camera: CameraParams {
                focal: file.number(KEY_FOCAL)?,
                center: file.number(KEY_CENTER)?,
                distance: file.number(KEY_DISTANCE)?,
                image_size: file.number(KEY_IMAGE_SIZE)?,
            },
        };
        model.validate_as(&file.origin)?;
        Ok(model)
    }
}

/// A parsed safetensors file, with its path for messages.
struct StoredFile<'a> {
    origin: String,
    tensors: SafeTensors<'a>,
    metadata: HashMap<String, String>,
}

impl StoredFile<'_> {
    fn shape_error(&self, name: &str, expected: String, found: &[usize]) -> MorphableError {
        MorphableError::Shape {
            origin: self.origin.clone(),
            what: format!("tensor '{name}'"),
            expected,
            found: format!("{found:?}"),
        }
    }

    fn metadata_error(&self, key: &str, problem: String) -> MorphableError {
        MorphableError::Metadata {
            origin: self.origin.clone(),
            key: key.to_string(),
            problem,
        }
    }

    fn metadata(&self, key: &str) -> Result<&str, MorphableError> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| MorphableError::Missing {
                origin: self.origin.clone(),
                what: "metadata entry",
                key: key.to_string(),
                hint: "files written by MorphableModel::save_safetensors carry it".into(),
            })
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, MorphableError> {
        let text = self.metadata(key)?;
        text.parse()
            .map_err(|_| self.metadata_error(key, format!("is {text:?}, expected a number")))
    }

    /// A tensor of `dtype`: its little-endian bytes and dimensions.
    fn raw(&self, name: &str, dtype: Dtype) -> Result<(&[u8], Vec<usize>), MorphableError> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| MorphableError::Missing {
                origin: self.origin.clone(),
                what: "tensor",
                key: name.to_string(),
                hint:
                    "a stored morphable model holds mean_shape, id_basis, exp_basis, mean_albedo, \
                   albedo_basis, triangles, landmarks"
                        .into(),
            })?;
        if view.dtype() != dtype {
            return Err(MorphableError::Shape {
                origin: self.origin.clone(),
                what: format!("tensor '{name}'"),
                expected: format!("dtype {dtype:?}"),
                found: format!("dtype {:?}", view.dtype()),
            });
        }
        Ok((view.data(), view.shape().to_vec()))
    }

    fn floats(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), MorphableError> {
        let (bytes, dims) = self.raw(name, Dtype::F32)?;
        let values = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((values, dims))
    }

    /// Vertex indices; negative ones are refused here, too-large ones by `validate`.
    fn indices(&self, name: &str) -> Result<(Vec<u32>, Vec<usize>), MorphableError> {
        let (bytes, dims) = self.raw(name, Dtype::I32)?;
        let values = bytes
            .chunks_exact(4)
            .enumerate()
            .map(|(at, c)| {
                let index = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                u32::try_from(index).map_err(|_| MorphableError::Index {
                    origin: self.origin.clone(),
                    what: format!("element {at} of tensor '{name}'"),
                    expected: "a 0-based vertex index ≥ 0".into(),
                    found: index.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((values, dims))
    }

    fn basis(&self, name: &str, rows: usize) -> Result<Basis, MorphableError> {
        let (values, dims) = self.floats(name)?;
        if dims.len() != 2 || dims[0] != rows {
            return Err(self.shape_error(name, format!("[{rows}, K] (3 × V rows)"), &dims));
        }
        Ok(Basis {
            rows,
            components: dims[1],
            values,
        })
    }
}

/// safetensors writes `__metadata__` from a `HashMap`, in a random order, so two saves of the
/// same model differed byte for byte, and the file's SHA-256 is what a shape regressor and a
/// teacher cache are tied to. Rewrites the JSON header with every key sorted (padded with spaces
/// to the 8-byte alignment safetensors uses); the tensor bytes and their offsets are unchanged.
fn with_sorted_header(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::collections::BTreeMap;
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("no header length")?;
    let n = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let header = bytes
        .get(8..8 + n)
        .ok_or("header past the end of the file")?;
    let parsed: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let sorted: BTreeMap<String, serde_json::Value> = parsed
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::Object(map) => serde_json::to_value(
                    map.into_iter()
                        .collect::<BTreeMap<String, serde_json::Value>>(),
                )
                .map_err(|e| e.to_string())?,
                other => other,
            };
            Ok((k, v))
        })
        .collect::<Result<_, String>>()?;
    let mut json = serde_json::to_vec(&sorted).map_err(|e| e.to_string())?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}
