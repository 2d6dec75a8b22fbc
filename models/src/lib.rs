//! Model contracts, ONNX Runtime sessions, the ONNX writer and the face detector of sgpn.

pub mod contract;
pub mod detector;
pub mod error;
pub mod fixtures;
pub mod generator;
pub mod onnx;
pub mod runtime;
mod session_io;

pub use contract::{GeneratorInfo, Template, Variant, check_generator};
pub use detector::{Detection, FaceDetector};
pub use error::ModelError;
pub use generator::Generator;
pub use runtime::{Device, SessionConfig, build_session};
