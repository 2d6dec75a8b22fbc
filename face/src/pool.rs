//! Loaded face pipelines kept between the streams of one process.
//!
//! Loading the detector, the generator and the shape prior takes 30–44 ms for the shipped
//! models on ONNX Runtime's CPU provider, longer for large generators and for TensorRT engines,
//! and a batch of archive files starts one stream per file with the same models. A pipeline
//! whose stream ended is reset ([`FaceRestorer::start_stream`]: no track, no detail history,
//! track ids and the frame count from 0) and kept idle; the next stream with an equal
//! [`RestorerConfig`] takes it instead of loading, unless one of its model files changed on disk
//! since it was loaded (size or modification time). At most [`MAX_IDLE`] pipelines are kept,
//! the oldest dropped first.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use crate::{FaceError, FaceRestorer, RestorerConfig};

/// Idle pipelines kept at most.
pub const MAX_IDLE: usize = 2;

/// The model files of a configuration as they were when its pipeline loaded them: size and
/// modification time of each, `None` where the file could not be read.
#[derive(Clone, Debug, PartialEq)]
struct Loaded {
    config: RestorerConfig,
    files: Vec<Option<(u64, SystemTime)>>,
}

impl Loaded {
    fn now(config: &RestorerConfig) -> Self {
        let stamp = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        };
        let mut paths = vec![config.detector_model.as_path(), &config.generator_model];
        if let Some(shape) = &config.shape {
            paths.extend([shape.regressor_path.as_path(), &shape.morphable_path]);
        }
        Self {
            config: config.clone(),
            files: paths.into_iter().map(stamp).collect(),
        }
    }
}

/// A face pipeline from [`RestorerPool::take`], with what it was loaded from; it derefs to the
/// [`FaceRestorer`] and goes back with [`RestorerPool::give_back`].
pub struct PooledRestorer {
    loaded: Loaded,
    restorer: FaceRestorer,
}

impl std::ops::Deref for PooledRestorer {
    type Target = FaceRestorer;
    fn deref(&self) -> &FaceRestorer {
        &self.restorer
    }
}

impl std::ops::DerefMut for PooledRestorer {
    fn deref_mut(&mut self) -> &mut FaceRestorer {
        &mut self.restorer
    }
}

/// Idle face pipelines, in the order they were given back.
pub struct RestorerPool {
    idle: Mutex<Vec<PooledRestorer>>,
    loads: AtomicUsize,
}

impl Default for RestorerPool {
    fn default() -> Self {
        Self::new()
    }
}

impl RestorerPool {
    pub const fn new() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            loads: AtomicUsize::new(0),
        }
    }

    /// An idle pipeline loaded with `config` from files that have not changed since, or a new
    /// one ([`FaceRestorer::new`]).
    pub fn take(&self, config: &RestorerConfig) -> Result<PooledRestorer, FaceError> {
        // Stamped before loading: a file replaced while it loads makes the next take reload.
        let now = Loaded::now(config);
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // A pipeline of this configuration whose files changed is stale: drop it.
            idle.retain(|p| p.loaded.config != *config || p.loaded == now);
            let found = idle.iter().position(|p| p.loaded == now);
            found.map(|i| idle.remove(i))
        };
        match pooled {
            Some(pooled) => Ok(pooled),
            None => {
                let restorer = FaceRestorer::new(config)?;
                self.loads.fetch_add(1, Ordering::Relaxed);
                Ok(PooledRestorer {
                    restorer,
                    loaded: now,
                })
            }
        }
    }

    /// Keeps `pooled` for the next stream, reset.
    pub fn give_back(&self, mut pooled: PooledRestorer) {
        pooled.restorer.start_stream();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(pooled);
        let excess = idle.len().saturating_sub(MAX_IDLE);
        idle.drain(..excess);
    }

    /// Pipelines this pool has loaded so far (takes that found none idle).
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }

    /// Idle pipelines now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
