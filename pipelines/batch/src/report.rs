//! The JSON report of a run (`--report FILE.json`): one record per input of this shard, rewritten
//! after every file so that a killed batch still leaves an account of what it did.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Restored in this run.
    Restored,
    /// Finished by an earlier run with the same settings (the journal), output intact.
    AlreadyDone,
    Failed,
    Interrupted,
}

impl Status {
    /// The word of the tool's one-line-per-file log.
    pub fn label(self) -> &'static str {
        match self {
            Status::Restored => "restored",
            Status::AlreadyDone => "done",
            Status::Failed => "failed",
            Status::Interrupted => "stopped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub status: Status,
    pub frames: u64,
    pub faces: u64,
    pub seconds: f64,
    /// Presentation times of the first and last restored frames, seconds.
    pub first_pts_s: Option<f64>,
    pub last_pts_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What happened to each stream besides the restored video.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub preset: &'static str,
    pub shard: String,
    pub element: Vec<String>,
    pub scale: Option<crate::transcode::Scale>,
    /// Inputs of the whole batch, before sharding.
    pub inputs_in_batch: usize,
    pub seconds: f64,
    pub restored: usize,
    pub already_done: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub files: Vec<FileReport>,
}

impl RunReport {
    pub fn count(&mut self) {
        let n = |s: Status| self.files.iter().filter(|f| f.status == s).count();
        (
            self.restored,
            self.already_done,
            self.failed,
            self.interrupted,
        ) = (
            n(Status::Restored),
            n(Status::AlreadyDone),
            n(Status::Failed),
            n(Status::Interrupted),
        );
    }

    /// Writes the report under a temporary name and renames it.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).with_context(|| {
                format!("cannot create the report's folder {}", folder.display())
            })?;
        }
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write the report {}", temporary.display()))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot write the report {}", path.display()))
    }
}
