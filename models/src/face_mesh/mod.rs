//! The inputs of the project's default 3D morphable model: MediaPipe's canonical face
//! mesh topology ([`CanonicalMesh`], 468 vertices, 898 triangles) and the 468-point face
//! landmarker that puts that mesh on real faces ([`FaceMeshLandmarker`]), whose 3D outputs on the
//! training faces the PCA shape and albedo bases of `train/` are learned from. Both files come
//! from `scripts/setup-train.sh` (Apache-2.0 MediaPipe assets from PyPI and npm).

mod canonical;
mod crop;
mod landmarker;

pub use canonical::{CanonicalMesh, CanonicalMeshError, MESH_TRIANGLES, MESH_VERTICES};
pub use crop::{
    BOX_CENTRE_SHIFT, BOX_SIDE_SCALE, CROP_SIZE, CROP_TEMPLATE, FaceRegion, LEFT_EYE_CORNERS,
    MOUTH_CORNERS, NOSE_TIP, RIGHT_EYE_CORNERS, ROI_SCALE, crop_template,
};
pub use landmarker::{FaceMesh, FaceMeshLandmarker, INPUT, OUTPUT_LANDMARKS, OUTPUT_PRESENCE};
