//! The one place that creates ONNX Runtime sessions: the process-wide environment (loading the
//! shared library once), execution providers in priority order TensorRT → CUDA → CPU, and the
//! checks that turn a missing or broken model file into a [`ModelError`] naming that file.
//!
//! ONNX Runtime is loaded at run time (`ort` feature `load-dynamic`) from `ORT_DYLIB_PATH`, else
//! from the `.deps/` folder (`$SGPN_DEPS`, else the source tree this crate was built from):
//! the CUDA build `onnxruntime-gpu/libonnxruntime.so.1.31.1` when `scripts/setup.sh --gpu` put it
//! there (it runs CPU sessions too), otherwise the CPU build `onnxruntime/libonnxruntime.so.1.32.0`.
//!
//! A GPU session first checks what it needs and names what is missing: the CUDA provider beside
//! the loaded ONNX Runtime, the NVIDIA driver, the CUDA libraries (loaded from `.deps/cuda/` by
//! absolute path, so that the provider's loads by name find them without `LD_LIBRARY_PATH`) and,
//! for TensorRT, `libnvinfer.so.10`, which no package registry carries.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use prost::Message;

pub use crate::device::Device;
use crate::error::ModelError;
use crate::onnx::ModelProto;
use crate::tensorrt::{
    FP32_OP_TYPES, Precision, TensorRtOptions, batch_profile, default_engine_cache, model_cache_dir,
};

/// File name of the ONNX Runtime library that `scripts/setup.sh` fetches.
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.32.0";

/// File name of the CUDA build that `scripts/setup.sh --gpu` fetches (into `onnxruntime-gpu/`).
pub const ORT_GPU_LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// The CUDA 13 libraries ONNX Runtime's CUDA provider opens by name (`scripts/setup.sh --gpu`
/// puts them in `.deps/cuda/`); cuDNN's sub-libraries are found by their prefix.
const CUDA_LIBRARIES: [&str; 7] = [
    "libcudart.so.13",
    "libnvJitLink.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcurand.so.10",
    "libcufft.so.12",
    "libcudnn.so.9",
];

/// How to build a session; the default is CPU with ONNX Runtime's own thread count.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SessionConfig {
    pub device: Device,
    /// Threads ONNX Runtime may use inside one operator; 0 lets ONNX Runtime choose.
    pub intra_threads: usize,
    /// Used with [`Device::TensorRt`] only.
    pub tensorrt: TensorRtOptions,
    /// The CUDA stream (a `CUstream` handle) the CUDA and TensorRT providers run on, so that a
    /// network bound to device buffers is ordered with the kernels before and after it on that
    /// stream; `None` lets each provider create its own. Ignored on the CPU.
    pub compute_stream: Option<u64>,
}

/// The ONNX Runtime library this process loads (see the module header for the search order).
pub fn ort_library_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let deps = sgpn_kernels::cuda::deps_dir();
    let gpu = deps.join("onnxruntime-gpu").join(ORT_GPU_LIBRARY_FILE);
    if gpu.is_file() {
        return gpu;
    }
    deps.join("onnxruntime").join(ORT_LIBRARY_FILE)
}

/// What a GPU session needs besides the model, checked before ONNX Runtime is asked, so that
/// the error names the missing piece and what to install; loads the CUDA libraries of
/// `.deps/cuda/` (once per process; the handles stay loaded).
fn prepare_gpu(device: Device) -> Result<(), String> {
    let ort = ort_library_path();
    let provider = ort.with_file_name("libonnxruntime_providers_cuda.so");
    if !provider.is_file() {
        return Err(format!(
            "{} is a CPU-only ONNX Runtime (no {} beside it): run scripts/setup.sh --gpu",
            ort.display(),
            provider.display()
        ));
    }
    // SAFETY (every load below): the NVIDIA libraries' initialisers only set up their own state.
    if let Err(e) = unsafe { libloading::Library::new("libcuda.so.1") } {
        return Err(format!(
            "no NVIDIA driver on this machine (libcuda.so.1: {e}); install the driver (580 or newer for CUDA 13)"
        ));
    }
    static CUDA: OnceLock<Result<(), String>> = OnceLock::new();
    CUDA.get_or_init(load_cuda_libraries).clone()?;
    if device == Device::TensorRt
        && let Err(e) = unsafe { libloading::Library::new("libnvinfer.so.10") }
    {
        return Err(format!(
            "TensorRT 10 is not installed (libnvinfer.so.10: {e}); no package registry carries it: \
             install TensorRT 10 for CUDA 13 from NVIDIA and add its lib folder to LD_LIBRARY_PATH, \
             or use device=cuda"
        ));
    }
    Ok(())
}

/// Loads the CUDA libraries from `.deps/cuda/` (a library absent there must be loadable from
/// the system's paths). cuDNN's sub-libraries depend on each other, so loads are retried until
/// no more succeed.
fn load_cuda_libraries() -> Result<(), String> {
    let dir = sgpn_kernels::cuda::deps_dir().join("cuda");
    let mut pending: Vec<PathBuf> = CUDA_LIBRARIES.iter().map(|name| dir.join(name)).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut cudnn: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.starts_with("libcudnn_") && name.ends_with(".so.9")
            })
            .collect();
        cudnn.sort();
        pending.splice(pending.len() - 1..pending.len() - 1, cudnn);
    }
    loop {
        let before = pending.len();
        pending.retain(|path| {
            let target: &std::ffi::OsStr = if path.is_file() {
                path.as_os_str()
            } else {
                path.file_name().unwrap_or_default()
            };
            // SAFETY: see `prepare_gpu`; the handle is leaked so the library stays loaded.
            match unsafe { libloading::Library::new(target) } {
                Ok(handle) => {
                    std::mem::forget(handle);
                    false
                }
                Err(_) => true,
            }
        });
        if pending.is_empty() {
            return Ok(());
        }
        if pending.len() == before {
            let names: Vec<_> = pending
                .iter()
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            return Err(format!(
                "the CUDA libraries {} are neither in {} nor on the system's library path: run scripts/setup.sh --gpu",
                names.join(", "),
                dir.display()
            ));
        }
    }
}

/// The process-wide ONNX Runtime environment, created on first use. ONNX Runtime allows one
/// environment per process and `ort` would panic on a missing library if loaded implicitly, so
/// every session goes through here; a failure is remembered and reported on every call.
pub fn environment() -> Result<&'static Environment, ModelError> {
    static ENV: OnceLock<Result<Environment, (PathBuf, String)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = ort_library_path();
        if !path.is_file() {
            return Err((path, "no such file".to_owned()));
        }
        let builder = ort::init_from(&path).map_err(|e| (path.clone(), e.to_string()))?;
        builder
            .with_name("sgpn")
            .build()
            .map_err(|e| (path.clone(), e.to_string()))
    })
    .as_ref()
    .map_err(|(path, reason)| ModelError::Library {
        path: path.clone(),
        reason: reason.clone(),
    })
}

/// Builds a session for the model at `path`: the file must exist, then the providers for
/// `cfg.device` are registered, then ONNX Runtime loads the model (a refusal is reported as
/// [`ModelError::Invalid`] with ONNX Runtime's message and what our own decoder makes of it).
/// An explicitly requested GPU device that this ONNX Runtime cannot provide is an error, never
/// a silent CPU fallback.
pub fn build_session(path: &Path, cfg: &SessionConfig) -> Result<Session, ModelError> {
    check_model_file(path)?;
    let env = environment()?;
    let runtime_err = |e: ort::Error<_>| ModelError::Runtime {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut builder = Session::builder(env)
        .map_err(&runtime_err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| runtime_err(e.into()))?;
    // Worker threads that spin between operators burn the cores the video decoder, encoder and
    // kernels need. Measured with the detector bench (640x360, 2 threads, a loaded 2-core
    // machine): spinning 17-22 CPU-ms and 33-64 ms median per frame, no spinning 9-11 CPU-ms and
    // 24-27 ms.
    builder = builder
        .with_intra_op_spinning(false)
        .map_err(|e| runtime_err(e.into()))?;
    if cfg.intra_threads > 0 {
        builder = builder
            .with_intra_threads(cfg.intra_threads)
            .map_err(|e| runtime_err(e.into()))?;
    }
    // The fused AFFB operator, for generators exported in its custom-op form. ONNX Runtime adds
    // a session's custom domains to one process-wide schema registry, and two sessions doing so
    // at once fail ("the domain is already exist"): sessions are built one at a time.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    builder = crate::affb_op::domain()
        .and_then(|domain| builder.with_operators(domain).map_err(Into::into))
        .map_err(runtime_err)?;
    builder = builder
        .with_execution_providers(providers(path, cfg)?)
        .map_err(|e| ModelError::Device {
            path: path.to_owned(),
            device: cfg.device,
            reason: format!(
                "this ONNX Runtime ({}) cannot provide it: {}",
                ort_library_path().display(),
                e.message()
            ),
        })?;
    builder
        .commit_from_file(path)
        .map_err(|e| ModelError::Invalid {
            path: path.to_owned(),
            reason: format!("ONNX Runtime rejected it: {e}{}", protobuf_diagnosis(path)),
        })
}

/// Execution providers for `cfg.device`, highest priority first. TensorRT keeps its engines and
/// timing cache in a folder per model content under the engine cache
/// ([`crate::tensorrt::model_cache_dir`]), so the minutes-long engine build happens once per
/// model, GPU and precision; its optimisation profile covers batches of 1 to
/// `cfg.tensorrt.max_batch`, so a frame with more faces than before does not rebuild it.
fn providers(
    path: &Path,
    cfg: &SessionConfig,
) -> Result<Vec<ep::ExecutionProviderDispatch>, ModelError> {
    let device = cfg.device;
    let cpu = ep::CPU::default().build();
    if device != Device::Cpu {
        prepare_gpu(device).map_err(|reason| ModelError::Device {
            path: path.to_owned(),
            device,
            reason,
        })?;
    }
    Ok(match device {
        Device::Cpu => vec![cpu],
        Device::Cuda => vec![cuda(cfg).build().error_on_failure(), cpu],
        Device::TensorRt => {
            let trt = &cfg.tensorrt;
            let root = trt
                .engine_cache
                .clone()
                .unwrap_or_else(default_engine_cache);
            // One read of the model serves the cache key and the profile's input shapes.
            let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
                path: path.to_owned(),
                source,
            })?;
            let cache = model_cache_dir(&root, path, &bytes)?
                .to_string_lossy()
                .into_owned();
            let model = ModelProto::decode(bytes.as_slice()).ok();
            let profile = model.and_then(|m| batch_profile(&m, trt.max_batch));
            let provider = tensorrt(cfg, &cache, profile);
            vec![
                provider.build().error_on_failure(),
                // Nodes TensorRT does not take run on CUDA, not on the CPU.
                cuda(cfg).build().error_on_failure(),
                cpu,
            ]
        }
    })
}

/// ONNX Runtime's TensorRT provider for `cfg`: precision (under `fp16` the operator types of
/// [`crate::tensorrt::FP32_OP_TYPES`] stay in float32 on the CUDA provider), engine and timing
/// caches in `cache`, the batch optimisation `profile` (min, opt, max), and the compute stream.
fn tensorrt(cfg: &SessionConfig, cache: &str, profile: Option<[String; 3]>) -> ep::TensorRT {
    let mut provider = ep::TensorRT::default();
    if let Some(stream) = cfg.compute_stream {
        // SAFETY: the caller keeps the stream alive as long as the session
        // (`SessionConfig::compute_stream`); ONNX Runtime only enqueues work on it.
        provider = unsafe { provider.with_compute_stream(stream as usize as *mut ()) };
    }
    let fp16 = cfg.tensorrt.precision == Precision::Fp16;
    let mut provider = provider
        .with_fp16(fp16)
        .with_engine_cache(true)
        .with_engine_cache_path(cache)
        .with_timing_cache(true)
        .with_timing_cache_path(cache);
    if fp16 {
        provider = provider.with_arbitrary_config("trt_op_types_to_exclude", FP32_OP_TYPES);
    }
    if let Some([min, opt, max]) = profile {
        provider = provider
            .with_profile_min_shapes(min)
            .with_profile_opt_shapes(opt)
            .with_profile_max_shapes(max);
    }
    provider
}

/// ONNX Runtime's CUDA provider, on `cfg.compute_stream` when one is given.
fn cuda(cfg: &SessionConfig) -> ep::CUDA {
    match cfg.compute_stream {
        // SAFETY: the caller keeps the stream alive as long as the session
        // (`SessionConfig::compute_stream`); ONNX Runtime only enqueues work on it.
        Some(stream) => unsafe {
            ep::CUDA::default().with_compute_stream(stream as usize as *mut ())
        },
        None => ep::CUDA::default(),
    }
}

/// Missing → [`ModelError::Missing`]; unreadable or not a file → [`ModelError::Io`], so that
/// ONNX Runtime is only asked about files that exist.
fn check_model_file(path: &Path) -> Result<(), ModelError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(ModelError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        }),
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => Err(ModelError::Missing {
            path: path.to_owned(),
        }),
        Err(source) => Err(ModelError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// After ONNX Runtime refused a file: what our own protobuf decoder says about it, which
/// tells a truncated or non-ONNX file apart from a model ONNX Runtime cannot run.
fn protobuf_diagnosis(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    match ModelProto::decode(bytes.as_slice()) {
        Err(e) => format!(" (the file is truncated or not ONNX: {e})"),
        Ok(m) if m.graph.is_none() || m.ir_version <= 0 => format!(
            " (the file is not ONNX: its {} bytes hold no ir_version and graph)",
            bytes.len()
        ),
        Ok(_) => String::new(),
    }
}

#[cfg(test)]
mod gpu_runtime_tests {
    use super::*;

    /// Under `fp16` the provider keeps the demodulation's operator types out of TensorRT (they
    /// run in float32 on the CUDA provider); under `fp32` nothing is excluded beyond ONNX
    /// Runtime's defaults. Builds the provider's options only: no GPU needed.
    #[test]
    fn fp16_keeps_the_demodulation_in_float32() {
        let options = |precision| {
            let mut cfg = SessionConfig::default();
            cfg.tensorrt.precision = precision;
            format!("{:?}", tensorrt(&cfg, "/tmp/engines", None))
        };
        let fp16 = options(Precision::Fp16);
        assert!(fp16.contains("trt_op_types_to_exclude"), "{fp16}");
        for op in [
            "MatMul",
            "Sqrt",
            "Reciprocal",
            "ReduceMean",
            "Log",
            "NonZero",
        ] {
            assert!(FP32_OP_TYPES.split(',').any(|t| t == op), "{op}");
        }
        assert!(fp16.contains(FP32_OP_TYPES), "{fp16}");
        assert!(fp16.contains("trt_fp16_enable"), "{fp16}");
        let fp32 = options(Precision::Fp32);
        assert!(!fp32.contains("trt_op_types_to_exclude"), "{fp32}");
    }

    /// After `scripts/setup.sh --gpu`, every CUDA library the provider needs loads from
    /// `.deps/cuda/` (no GPU is needed to load them), cuDNN's sub-libraries included.
    #[test]
    fn the_fetched_cuda_libraries_load() {
        if !sgpn_kernels::cuda::deps_dir()
            .join("cuda")
            .join(CUDA_LIBRARIES[0])
            .is_file()
        {
            println!(
                "skipped: no CUDA libraries in .deps/cuda (scripts/setup.sh --gpu fetches them)"
            );
            return;
        }
        load_cuda_libraries().unwrap();
    }
}
