//! The project's own ONNX writer: a hand-written subset of `onnx.proto` as prost messages
//! ([`proto`]) and a graph builder ([`builder`]). The trained generator is exported with it and
//! test fixtures are written with it; no protoc or build script is involved.

pub mod builder;
pub mod proto;

pub use builder::{
    Attribute, Dim, ElemType, GraphBuilder, encode_model, ir_version_for_opset, tensor_f32,
    tensor_i64, write_model,
};
pub use proto::ModelProto;

/// The opset the project's models are written for.
pub const OPSET: i64 = 17;
