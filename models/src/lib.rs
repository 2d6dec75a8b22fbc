//! Model contracts, ONNX Runtime sessions, the ONNX writer and the face detector of sgpn.

pub mod error;
pub mod onnx;
pub mod runtime;

pub use error::ModelError;
pub use runtime::{Device, SessionConfig, build_session};
