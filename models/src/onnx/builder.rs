//! A small graph builder on top of [`super::proto`]: named inputs/outputs, f32/i64 initializers,
//! nodes with typed attributes, unique tensor names, and model serialisation.
//!
//! It writes exactly what the ONNX IR spec (`docs/IR.md` of the ONNX repository) requires for a
//! model that `onnx.checker` accepts: graph inputs and outputs with element type and shape,
//! initializers with `raw_data` (little-endian), an opset import for every domain used and the IR
//! version that goes with the chosen opset.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::path::Path;

use prost::Message;

use super::proto::{
    AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_shape_proto, type_proto,
};

/// Written into `ModelProto.producer_name`.
pub const PRODUCER_NAME: &str = "sgpn";

/// Element type of a graph input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    F32,
    I64,
}

impl ElemType {
    fn data_type(self) -> DataType {
        match self {
            ElemType::F32 => DataType::Float,
            ElemType::I64 => DataType::Int64,
        }
    }
}

/// One dimension of a graph input or output: fixed, or a symbolic name such as `"N"` that the
/// runtime resolves per call (dynamic batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    Named(String),
}

impl Dim {
    /// A symbolic dimension, e.g. `Dim::named("N")`.
    pub fn named(name: impl Into<String>) -> Self {
        Dim::Named(name.into())
    }
}

/// A node attribute (ONNX `AttributeProto` with its `type` set to match the value).
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute(AttributeProto);

impl Attribute {
    fn with_type(name: &str, ty: AttributeType) -> AttributeProto {
        AttributeProto {
            name: name.to_owned(),
            r#type: ty as i32,
            ..Default::default()
        }
    }

    pub fn float(name: &str, value: f32) -> Self {
        let mut a = Self::with_type(name, AttributeType::Float);
        a.f = Some(value);
        Self(a)
    }

    pub fn int(name: &str, value: i64) -> Self {
        let mut a = Self::with_type(name, AttributeType::Int);
        a.i = Some(value);
        Self(a)
    }

    pub fn string(name: &str, value: &str) -> Self {
        let mut a = Self::with_type(name, AttributeType::String);
        a.s = Some(value.as_bytes().to_vec());
        Self(a)
    }

    pub fn floats(name: &str, values: &[f32]) -> Self {
        let mut a = Self::with_type(name, AttributeType::Floats);
        a.floats = values.to_vec();
        Self(a)
    }

    pub fn ints(name: &str, values: &[i64]) -> Self {
        let mut a = Self::with_type(name, AttributeType::Ints);
        a.ints = values.to_vec();
        Self(a)
    }

    /// A tensor-valued attribute, e.g. the `value` of a `Constant` node.
    pub fn tensor(name: &str, value: TensorProto) -> Self {
        let mut a = Self::with_type(name, AttributeType::Tensor);
        a.t = Some(value);
        Self(a)
    }

    /// The attribute as it is serialised.
    pub fn proto(&self) -> &AttributeProto {
        &self.0
    }
}

/// An f32 tensor with `raw_data` little-endian.
///
/// # Panics
/// If `data.len()` is not the product of `dims` (a programming error in the exporter).
pub fn tensor_f32(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    check_len(name, dims, data.len());
    TensorProto {
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        name: name.to_owned(),
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An i64 tensor with `raw_data` little-endian (shapes, axes, pads).
///
/// # Panics
/// If `data.len()` is not the product of `dims`.
pub fn tensor_i64(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    check_len(name, dims, data.len());
    TensorProto {
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        name: name.to_owned(),
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn check_len(name: &str, dims: &[i64], len: usize) {
    let expected: i64 = dims.iter().product();
    assert!(
        dims.iter().all(|&d| d >= 0) && expected as usize == len,
        "tensor '{name}': dims {dims:?} hold {expected} values but {len} were given"
    );
}

/// The ONNX IR version that goes with an opset of the default domain (ONNX `docs/Versioning.md`:
/// ONNX 1.12 = IR 8 / opset 17, 1.13 = IR 8 / 18, 1.14 = IR 9 / 19, 1.15 = IR 9 / 20,
/// 1.16 = IR 10 / 21, 1.17 = IR 10 / 22, 1.18 = IR 11 / 23). ONNX Runtime 1.32 reads all of
/// these.
pub fn ir_version_for_opset(opset: i64) -> i64 {
    match opset {
        ..=12 => 7,
        13..=18 => 8,
        19..=20 => 9,
        21..=22 => 10,
        _ => 11,
    }
}

/// Builds one ONNX graph; [`GraphBuilder::finish`] wraps it in a model.
#[derive(Debug)]
pub struct GraphBuilder {
    graph: GraphProto,
    used_names: HashSet<String>,
    custom_domains: BTreeSet<String>,
    next_id: usize,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        Self {
            graph: GraphProto {
                name: name.to_owned(),
                ..Default::default()
            },
            used_names: HashSet::new(),
            custom_domains: BTreeSet::new(),
            next_id: 0,
        }
    }

    /// A tensor name not used so far in this graph: `prefix`, or `prefix_<k>` if taken.
    /// The name is reserved by the call.
    pub fn fresh(&mut self, prefix: &str) -> String {
        let mut name = prefix.to_owned();
        while self.used_names.contains(&name) {
            name = format!("{prefix}_{}", self.next_id);
            self.next_id += 1;
        }
        self.used_names.insert(name.clone());
        name
    }

    /// Declares a graph input. Its name is reserved exactly as given.
    pub fn input(&mut self, name: &str, elem: ElemType, dims: &[Dim]) {
        self.used_names.insert(name.to_owned());
        self.graph.input.push(value_info(name, elem, dims));
    }

    /// Declares a graph output; some node (or an input) must produce a tensor of that name.
    pub fn output(&mut self, name: &str, elem: ElemType, dims: &[Dim]) {
        self.used_names.insert(name.to_owned());
        self.graph.output.push(value_info(name, elem, dims));
    }

    /// Adds an f32 constant and returns its name (`name`, made unique if already taken).
    pub fn initializer(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        let name = self.fresh(name);
        self.graph.initializer.push(tensor_f32(&name, dims, data));
        name
    }

    /// Adds an i64 constant (shapes, axes, pads) and returns its name.
    pub fn initializer_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> String {
        let name = self.fresh(name);
        self.graph.initializer.push(tensor_i64(&name, dims, data));
        name
    }

    /// Appends a node of the default `ai.onnx` domain. Nodes must be added in topological order.
    /// An empty string in `inputs` marks an omitted optional input (ONNX convention).
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<Attribute>,
    ) {
        self.node_in_domain("", op_type, inputs, outputs, attrs);
    }

    /// Appends a node of a custom operator domain (e.g. `sgpn` for a fused operator); the domain
    /// is imported at version 1 by [`GraphBuilder::finish`].
    pub fn node_in_domain(
        &mut self,
        domain: &str,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<Attribute>,
    ) {
        if !domain.is_empty() {
            self.custom_domains.insert(domain.to_owned());
        }
        for out in outputs {
            self.used_names.insert((*out).to_owned());
        }
        let name = format!("{op_type}_{}", self.graph.node.len());
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: outputs.iter().map(|s| (*s).to_owned()).collect(),
            name,
            op_type: op_type.to_owned(),
            domain: domain.to_owned(),
            attribute: attrs.into_iter().map(|a| a.0).collect(),
            doc_string: String::new(),
        });
    }

    /// Wraps the graph in a model for `opset` of the default domain, with `metadata` as
    /// `metadata_props` (read back by ONNX Runtime's model metadata API).
    pub fn finish(self, opset: i64, metadata: &[(&str, &str)]) -> ModelProto {
        let mut opset_import = vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }];
        opset_import.extend(
            self.custom_domains
                .into_iter()
                .map(|domain| OperatorSetIdProto { domain, version: 1 }),
        );
        ModelProto {
            ir_version: ir_version_for_opset(opset),
            opset_import,
            producer_name: PRODUCER_NAME.to_owned(),
            producer_version: env!("CARGO_PKG_VERSION").to_owned(),
            graph: Some(self.graph),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: (*k).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

fn value_info(name: &str, elem: ElemType, dims: &[Dim]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => Value::DimValue(*v),
                Dim::Named(n) => Value::DimParam(n.clone()),
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem.data_type() as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// The model's protobuf bytes (what a `.onnx` file contains).
pub fn encode_model(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Writes the model to `path` (through a temporary file in the same folder, renamed at the end,
/// so a reader never sees a half-written model).
pub fn write_model(path: &Path, model: &ModelProto) -> io::Result<()> {
    let bytes = encode_model(model);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = Path::new(&tmp);
    std::fs::write(tmp, &bytes)?;
    std::fs::rename(tmp, path)
}
