//! TensorRT options of a session (`device=tensorrt`): precision, where engines are cached, and
//! the optimisation profile for the batch sizes the element runs. Written to ONNX Runtime's
//! TensorRT execution provider options (`trt_fp16_enable`, `trt_engine_cache_*`,
//! `trt_timing_cache_*`, `trt_profile_{min,opt,max}_shapes`).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::ModelError;
use crate::onnx::ModelProto;
use crate::onnx::proto::tensor_shape_proto::dimension::Value;

/// Arithmetic TensorRT may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Float32 everywhere: the outputs of the CPU and CUDA providers, to rounding.
    #[default]
    Fp32,
    /// TensorRT may pick float16 kernels where it finds them accurate enough, except for the
    /// operator types of [`FP32_OP_TYPES`], which it leaves to the CUDA provider in float32.
    Fp16,
}

/// Operator types TensorRT leaves to the CUDA provider (float32) with `precision=fp16`:
/// ONNX Runtime's own defaults (data-dependent shapes), the generators' demodulation
/// `d = 1/sqrt(s²·ΣW² + ε)` (StyleGAN2's weight demodulation, paper Sec. 3.2) with the style
/// linears it is computed from (`MatMul`, `Sqrt`, `Reciprocal`, only ever on `[N, C]` tensors in
/// these networks: `train/src/export/styleconv.rs`), and the change gate's logarithms of mean
/// squares (`ReduceMean`, `Log`). ONNX Runtime's provider has no per-layer precision, and
/// TensorRT folds `Cast` nodes away, so excluding the types is how these layers stay in
/// float32. The squares the gate averages (`Mul`) still run in TensorRT; see the README's
/// `precision` property.
pub const FP32_OP_TYPES: &str =
    "NonMaxSuppression,NonZero,RoiAlign,MatMul,Sqrt,Reciprocal,ReduceMean,Log";

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" => Ok(Precision::Fp32),
            "fp16" => Ok(Precision::Fp16),
            other => Err(format!(
                "unknown precision '{other}': expected fp32 or fp16"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorRtOptions {
    pub precision: Precision,
    /// Root folder of the engine caches; `None`: [`default_engine_cache`].
    pub engine_cache: Option<PathBuf>,
    /// The largest batch the optimisation profile covers (the element's `max-faces`).
    pub max_batch: usize,
}

impl Default for TensorRtOptions {
    fn default() -> Self {
        Self {
            precision: Precision::Fp32,
            engine_cache: None,
            max_batch: 8,
        }
    }
}

/// `$XDG_CACHE_HOME/sgpn/tensorrt`, else `$HOME/.cache/sgpn/tensorrt`, else under the system's
/// temporary folder.
pub fn default_engine_cache() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("sgpn")
        .join("tensorrt")
}

/// The cache folder under `root` of the model at `model` whose file holds `bytes`: `<file
/// name>-<first 16 hex digits of its SHA-256>`, so a changed model never meets an engine built
/// for the old one. Created if needed.
pub fn model_cache_dir(root: &Path, model: &Path, bytes: &[u8]) -> Result<PathBuf, ModelError> {
    use sha2::{Digest, Sha256};
    let sha: String = Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = model.file_name().unwrap_or_default().to_string_lossy();
    let dir = root.join(format!("{name}-{sha}"));
    std::fs::create_dir_all(&dir).map_err(|source| ModelError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// The optimisation profile (min, opt, max shape lists) for batches of 1 to `max_batch`: every
/// graph input whose first dimension is symbolic and whose others are fixed, e.g.
/// `lq:1x3x512x512,render:1x3x512x512` to `lq:8x3x512x512,…`. `None` when an input has another
/// symbolic dimension (the detector's frame size): TensorRT then builds for the shapes it meets.
pub fn batch_profile(model: &ModelProto, max_batch: usize) -> Option<[String; 3]> {
    let graph = model.graph.as_ref()?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut shapes: Vec<(String, Vec<i64>)> = Vec::new();
    for input in graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
    {
        let crate::onnx::proto::type_proto::Value::TensorType(t) =
            input.r#type.as_ref()?.value.as_ref()?;
        let dims = &t.shape.as_ref()?.dim;
        let fixed: Option<Vec<i64>> = dims
            .iter()
            .skip(1)
            .map(|d| match d.value {
                Some(Value::DimValue(v)) if v > 0 => Some(v),
                _ => None,
            })
            .collect();
        let batch_symbolic = !matches!(dims.first()?.value, Some(Value::DimValue(_)));
        if !batch_symbolic {
            continue;
        }
        shapes.push((input.name.clone(), fixed?));
    }
    if shapes.is_empty() {
        return None;
    }
    let list = |n: usize| {
        shapes
            .iter()
            .map(|(name, rest)| {
                let dims: Vec<String> = std::iter::once(n.to_string())
                    .chain(rest.iter().map(|d| d.to_string()))
                    .collect();
                format!("{name}:{}", dims.join("x"))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let max = max_batch.max(1);
    Some([list(1), list(max), list(max)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Template;
    use crate::fixtures::write_render_blend_generator;
    use prost::Message;

    #[test]
    fn the_profile_covers_every_batched_input_from_one_to_the_largest_batch() {
        let dir = std::env::temp_dir().join(format!("sgpn-trt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blend.onnx");
        write_render_blend_generator(&path, 64, Template::Sgpn).unwrap();
        let model = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        let [min, opt, max] = batch_profile(&model, 6).unwrap();
        assert_eq!(min, "lq:1x3x64x64,render:1x3x64x64");
        assert_eq!(opt, "lq:6x3x64x64,render:6x3x64x64");
        assert_eq!(max, opt);
        // The cache folder is keyed by the model's content.
        let cache_of = |path: &Path| {
            model_cache_dir(&dir.join("cache"), path, &std::fs::read(path).unwrap()).unwrap()
        };
        let a = cache_of(&path);
        assert!(
            a.is_dir()
                && a.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("blend.onnx-")
        );
        write_render_blend_generator(&path, 32, Template::Sgpn).unwrap();
        assert_ne!(cache_of(&path), a);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn precision_parses_and_the_default_cache_follows_xdg() {
        assert_eq!("FP16".parse::<Precision>(), Ok(Precision::Fp16));
        assert!(
            "int8"
                .parse::<Precision>()
                .unwrap_err()
                .contains("fp32 or fp16")
        );
        assert!(default_engine_cache().ends_with("sgpn/tensorrt"));
    }
}
