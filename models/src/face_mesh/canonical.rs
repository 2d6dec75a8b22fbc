//! MediaPipe's canonical face mesh: the topology (468 vertices with texture coordinates, 898
//! triangles) that the 468-point face landmarker's outputs index, read from
//! `geometry_pipeline_metadata_landmarks.binarypb` (MediaPipe `modules/face_geometry/data`,
//! Apache-2.0; `scripts/setup-train.sh` extracts it from npm `@mediapipe/face_mesh`).
//!
//! The file is a `mediapipe.face_geometry.GeometryPipelineMetadata` protobuf (proto2). The
//! messages below are hand-written with the field numbers of MediaPipe's
//! `face_geometry/protos/geometry_pipeline_metadata.proto` and `mesh_3d.proto`; fields this
//! crate does not read are skipped by prost.

use std::path::{Path, PathBuf};

use prost::Message;

/// Vertices of the canonical mesh: one per landmark of the 468-point face landmarker.
pub const MESH_VERTICES: usize = 468;
/// Triangles of the canonical mesh.
pub const MESH_TRIANGLES: usize = 898;

/// `Mesh3d.VertexType.VERTEX_PT`: x, y, z, u, v per vertex.
const VERTEX_PT: i32 = 0;
const VERTEX_PT_FLOATS: usize = 5;
/// `Mesh3d.PrimitiveType.TRIANGLE`: three indices per primitive.
const TRIANGLE: i32 = 0;

/// `GeometryPipelineMetadata` (field 3, `input_source`, is not needed here).
#[derive(Clone, PartialEq, prost::Message)]
struct GeometryPipelineMetadata {
    #[prost(message, optional, tag = "1")]
    canonical_mesh: Option<Mesh3d>,
    #[prost(message, repeated, tag = "2")]
    procrustes_landmark_basis: Vec<WeightedLandmarkRef>,
}

/// `Mesh3d`. The enums are read as their varint values; proto2 writes the repeated fields
/// unpacked, and prost accepts both encodings.
#[derive(Clone, PartialEq, prost::Message)]
struct Mesh3d {
    #[prost(int32, optional, tag = "1")]
    vertex_type: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    primitive_type: Option<i32>,
    #[prost(float, repeated, packed = "false", tag = "3")]
    vertex_buffer: Vec<f32>,
    #[prost(uint32, repeated, packed = "false", tag = "4")]
    index_buffer: Vec<u32>,
}

/// `WeightedLandmarkRef`.
#[derive(Clone, PartialEq, prost::Message)]
struct WeightedLandmarkRef {
    #[prost(uint32, optional, tag = "1")]
    landmark_id: Option<u32>,
    #[prost(float, optional, tag = "2")]
    weight: Option<f32>,
}

/// Why a canonical mesh file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalMeshError {
    #[error("canonical face mesh {path} does not exist (run ./scripts/setup-train.sh)")]
    Missing { path: PathBuf },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Not protobuf, or not the `GeometryPipelineMetadata` message.
    #[error("{path} is not a MediaPipe GeometryPipelineMetadata protobuf: {reason}")]
    Decode { path: PathBuf, reason: String },

    /// Decodes, but is not the 468-vertex, 898-triangle canonical face mesh.
    #[error("canonical face mesh {path}: {what} must be {expected}, found {found}")]
    Layout {
        path: PathBuf,
        what: &'static str,
        expected: String,
        found: String,
    },
}

/// The canonical face in MediaPipe's metric frame: centimetres, x towards the image right (the
/// subject's left), y up, z towards the camera. Triangles wind counter-clockwise seen from +z.
#[derive(Clone, Debug, PartialEq)]
pub struct CanonicalMesh {
    /// Vertex `i` is landmark `i` of the face landmarker.
    pub vertices: Vec<[f32; 3]>,
    /// Texture coordinates in 0..1, v downwards (MediaPipe's face texture layout).
    pub uv: Vec<[f32; 2]>,
    pub triangles: Vec<[u32; 3]>,
    /// MediaPipe's Procrustes basis: (landmark, weight) pairs that tell head pose apart from
    /// expression when aligning a landmarker mesh to the canonical one.
    pub procrustes_weights: Vec<(u32, f32)>,
}

impl CanonicalMesh {
    /// Reads `path` (a `geometry_pipeline_metadata_landmarks.binarypb`) and checks that it holds
    /// 468 x-y-z-u-v vertices and 898 triangles with indices in range.
    pub fn load(path: &Path) -> Result<Self, CanonicalMeshError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CanonicalMeshError::Missing {
                    path: path.to_owned(),
                }
            } else {
                CanonicalMeshError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let meta = GeometryPipelineMetadata::decode(bytes.as_slice()).map_err(|e| {
            CanonicalMeshError::Decode {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })?;
        from_metadata(path, meta)
    }
}

fn from_metadata(
    path: &Path,
    meta: GeometryPipelineMetadata,
) -> Result<CanonicalMesh, CanonicalMeshError> {
    let layout = |what, expected: String, found: String| CanonicalMeshError::Layout {
        path: path.to_owned(),
        what,
        expected,
        found,
    };
    let Some(mesh) = meta.canonical_mesh else {
        return Err(layout(
            "field canonical_mesh (1)",
            "present".to_owned(),
            "no such field".to_owned(),
        ));
    };
    let vertex_type = mesh.vertex_type.unwrap_or(VERTEX_PT);
    if vertex_type != VERTEX_PT {
        return Err(layout(
            "vertex_type",
            format!("VERTEX_PT ({VERTEX_PT})"),
            vertex_type.to_string(),
        ));
    }
    let primitive_type = mesh.primitive_type.unwrap_or(TRIANGLE);
    if primitive_type != TRIANGLE {
        return Err(layout(
            "primitive_type",
            format!("TRIANGLE ({TRIANGLE})"),
            primitive_type.to_string(),
        ));
    }
    let floats = mesh.vertex_buffer.len();
    if floats != MESH_VERTICES * VERTEX_PT_FLOATS {
        return Err(layout(
            "vertex_buffer",
            format!(
                "{} floats ({MESH_VERTICES} vertices × x y z u v)",
                MESH_VERTICES * VERTEX_PT_FLOATS
            ),
            format!("{floats} floats"),
        ));
    }
    if let Some(i) = mesh.vertex_buffer.iter().position(|v| !v.is_finite()) {
        return Err(layout(
            "vertex_buffer",
            "finite values".to_owned(),
            format!("{} at float {i}", mesh.vertex_buffer[i]),
        ));
    }
    let indices = mesh.index_buffer.len();
    if indices != MESH_TRIANGLES * 3 {
        return Err(layout(
            "index_buffer",
            format!(
                "{} indices ({MESH_TRIANGLES} triangles)",
                MESH_TRIANGLES * 3
            ),
            format!("{indices} indices"),
        ));
    }
    if let Some(&bad) = mesh
        .index_buffer
        .iter()
        .find(|&&i| i as usize >= MESH_VERTICES)
    {
        return Err(layout(
            "index_buffer",
            format!("vertex indices below {MESH_VERTICES}"),
            format!("index {bad}"),
        ));
    }
    let mut procrustes_weights = Vec::with_capacity(meta.procrustes_landmark_basis.len());
    for r in &meta.procrustes_landmark_basis {
        let (id, weight) = (r.landmark_id.unwrap_or(0), r.weight.unwrap_or(0.0));
        if id as usize >= MESH_VERTICES || !(weight.is_finite() && weight > 0.0) {
            return Err(layout(
                "procrustes_landmark_basis",
                format!("landmark ids below {MESH_VERTICES} with positive weights"),
                format!("landmark {id} with weight {weight}"),
            ));
        }
        procrustes_weights.push((id, weight));
    }
    let vertex = |c: &[f32]| ([c[0], c[1], c[2]], [c[3], c[4]]);
    let (vertices, uv) = mesh
        .vertex_buffer
        .chunks_exact(VERTEX_PT_FLOATS)
        .map(vertex)
        .unzip();
    let triangles = mesh
        .index_buffer
        .chunks_exact(3)
        .map(|t| [t[0], t[1], t[2]])
        .collect();
    Ok(CanonicalMesh {
        vertices,
        uv,
        triangles,
        procrustes_weights,
    })
}
