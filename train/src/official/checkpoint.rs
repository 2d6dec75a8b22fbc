//! Reading an official PyTorch checkpoint (`torch.save` of a `state_dict`) with burn's maintained
//! reader (`pytorch-reader`), checked tensor by tensor against [`super::spec`]: a missing, extra,
//! misshaped or non-float tensor is an error that names it, and the importer must consume every
//! tensor the spec lists.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use pytorch_reader::{DType, PytorchReader, Tensor};

use super::spec::TensorSpec;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{what} {path}: cannot be read as a PyTorch checkpoint ({reason})")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path}: does not hold the expected tensors: {problems}")]
    Mismatch {
        what: &'static str,
        path: PathBuf,
        problems: String,
    },
    #[error("{what} {path}: tensor '{name}' cannot be read: {reason}")]
    Data {
        what: &'static str,
        path: PathBuf,
        name: String,
        reason: String,
    },
}

/// A checkpoint whose tensors all match a spec, read one tensor at a time.
pub struct Checkpoint {
    what: &'static str,
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    spec: Vec<TensorSpec>,
    consumed: BTreeSet<String>,
}

impl Checkpoint {
    /// Opens `path` and checks it against `spec`. `what` names the file's role in messages
    /// (e.g. "official generator checkpoint").
    pub fn open(
        path: &Path,
        what: &'static str,
        spec: Vec<TensorSpec>,
    ) -> Result<Self, CheckpointError> {
        let reader = PytorchReader::new(path).map_err(|e| CheckpointError::Unreadable {
            what,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let tensors = strip_wrapper_prefix(reader.into_tensors(), &spec);
        let problems = mismatches(&tensors, &spec);
        if !problems.is_empty() {
            return Err(CheckpointError::Mismatch {
                what,
                path: path.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(Self {
            what,
            path: path.to_owned(),
            tensors,
            spec,
            consumed: BTreeSet::new(),
        })
    }

    /// The values of tensor `name` as f32 (float16/64 checkpoints are converted).
    pub fn f32(&mut self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        let missing = "the importer asked for a tensor the checkpoint's spec does not list";
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| self.bad(name, missing.into()))?;
        let bytes = tensor.read().map_err(|e| self.bad(name, e.to_string()))?;
        let values = to_f32(tensor.dtype(), &bytes);
        self.consumed.insert(name.to_owned());
        Ok(values)
    }

    /// An error about tensor `name` of this checkpoint.
    pub fn bad(&self, name: &str, reason: String) -> CheckpointError {
        CheckpointError::Data {
            what: self.what,
            path: self.path.clone(),
            name: name.to_owned(),
            reason,
        }
    }

    /// Marks a tensor as consumed without reading it (batch-norm counters: training state).
    pub fn skip(&mut self, name: &str) {
        self.consumed.insert(name.to_owned());
    }

    /// Every tensor of the spec was consumed: the import used the whole checkpoint.
    pub fn finish(self) -> Result<(), CheckpointError> {
        let unused: Vec<&str> = self
            .spec
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !self.consumed.contains(*n))
            .collect();
        if unused.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::Mismatch {
                what: self.what,
                path: self.path,
                problems: format!("tensors not consumed by the import: {}", unused.join(", ")),
            })
        }
    }
}

/// Checkpoints saved from `nn.DataParallel` prefix every name with `module.`; accept them.
fn strip_wrapper_prefix(
    tensors: HashMap<String, Tensor>,
    spec: &[TensorSpec],
) -> HashMap<String, Tensor> {
    let all_wrapped = !tensors.is_empty() && tensors.keys().all(|k| k.starts_with("module."));
    let spec_wrapped = spec.iter().any(|t| t.name.starts_with("module."));
    if !all_wrapped || spec_wrapped {
        return tensors;
    }
    tensors
        .into_iter()
        .map(|(k, v)| (k["module.".len()..].to_owned(), v))
        .collect()
}

/// Every difference between the checkpoint and the spec, each naming its tensor.
fn mismatches(tensors: &HashMap<String, Tensor>, spec: &[TensorSpec]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for t in spec {
        match tensors.get(&t.name) {
            None => missing.push(t.name.as_str()),
            Some(found) => {
                if found.shape() != t.shape.as_slice() {
                    problems.push(format!(
                        "'{}' has shape {:?}, expected {:?}",
                        t.name,
                        found.shape(),
                        t.shape
                    ));
                }
                let counter = t.shape.is_empty();
                let float = matches!(
                    found.dtype(),
                    DType::F32 | DType::F16 | DType::BF16 | DType::F64
                );
                if !counter && !float {
                    problems.push(format!(
                        "'{}' is {:?}, expected a float tensor",
                        t.name,
                        found.dtype()
                    ));
                }
            }
        }
    }
    if !missing.is_empty() && missing.len() == spec.len() {
        problems.push(format!(
            "none of its {} tensors belongs to this network (another checkpoint, or the two \
             official files swapped?)",
            tensors.len()
        ));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "missing {} tensor(s): {}",
            missing.len(),
            list(&missing)
        ));
    }
    let known: BTreeSet<&str> = spec.iter().map(|t| t.name.as_str()).collect();
    let mut extra: Vec<&str> = tensors
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    extra.sort();
    if !extra.is_empty() {
        problems.push(format!(
            "{} unexpected tensor(s): {}",
            extra.len(),
            list(&extra)
        ));
    }
    problems
}

/// Up to 8 names, then a count, so a wholly different checkpoint gives a readable message.
fn list(names: &[&str]) -> String {
    const SHOWN: usize = 8;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

fn to_f32(dtype: DType, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| half_to_f32(u16::from_ne_bytes([b[0], b[1]])))
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_ne_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        DType::I64 => bytes
            .chunks_exact(8)
            .map(|b| i64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => unreachable!("{other:?} tensors are refused by `mismatches`"),
    }
}

/// IEEE binary16 to f32 (fp16 checkpoints, as `model.half()` saves them).
fn half_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (frac << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values_convert_exactly() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
        assert_eq!(half_to_f32(0x0001), 5.960_464_5e-8);
        assert!(half_to_f32(0x7c00).is_infinite());
    }
}
