//! Model contracts, ONNX Runtime sessions, the ONNX writer, the face detector and the 3D morphable
//! face model of sgpn.

pub mod affb_op;
pub mod contract;
pub mod detector;
pub mod device;
pub mod device_memory;
pub mod error;
pub mod face_mesh;
pub mod fixtures;
pub mod generator;
pub mod identity;
pub mod mat;
pub mod morphable;
pub mod onnx;
pub mod runtime;
mod session_io;
pub mod shape_regressor;
pub mod tensorrt;

pub use contract::{GeneratorInfo, Template, Variant, check_generator};
pub use detector::{Detection, FaceDetector};
pub use error::ModelError;
pub use face_mesh::{CanonicalMesh, FaceMesh, FaceMeshLandmarker, FaceRegion};
pub use generator::Generator;
pub use morphable::{CameraParams, Coefficients, MorphableError, MorphableModel};
pub use runtime::{Device, SessionConfig, build_session};
pub use shape_regressor::{RegressorInfo, ShapeRegressor};
