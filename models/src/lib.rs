//! Model contracts, ONNX Runtime sessions, the ONNX writer and the face detector of sgpn.

pub mod onnx;
