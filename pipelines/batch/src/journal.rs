//! The resume journal: which inputs a batch has finished, with which settings.
//!
//! Each finished input leaves one small JSON file in `<output>/.sgpn-batch/done/`, named by the
//! SHA-256 of its key (input path, size, modification time and the settings fingerprint). One
//! file per input, written under a temporary name and renamed, keeps the journal consistent when
//! a batch is killed at any point and when the shards of a cluster job write into the same output
//! folder at once, without locks. An input whose file or settings changed has another key, so it
//! is restored again; an output that disappeared or changed size is restored again too.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inputs::Input;

/// What the journal keeps of a finished input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub input: PathBuf,
    pub input_size: u64,
    pub input_mtime_ns: u128,
    pub settings: String,
    pub output: PathBuf,
    pub output_size: u64,
    pub frames: u64,
    pub faces: u64,
    pub seconds: f64,
}

pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal of the output tree `output`, created if needed.
    pub fn open(output: &Path) -> anyhow::Result<Journal> {
        let dir = output.join(".sgpn-batch").join("done");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the journal folder {}", dir.display()))?;
        Ok(Journal { dir })
    }

    fn entry_path(&self, input: &Input, settings: &str) -> PathBuf {
        let mut key = Sha256::new();
        key.update(input.path.to_string_lossy().as_bytes());
        key.update([0]);
        key.update(input.size.to_le_bytes());
        key.update(input.mtime_ns.to_le_bytes());
        key.update(settings.as_bytes());
        let hex: String = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// The entry of `input` if it was finished with these settings and its output is still
    /// there, whole.
    pub fn finished(&self, input: &Input, settings: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.entry_path(input, settings)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        let output_size = std::fs::metadata(&entry.output).ok()?.len();
        (output_size == entry.output_size).then_some(entry)
    }

    /// Records a finished input (after its output has its final name).
    pub fn record(&self, input: &Input, entry: &Entry) -> anyhow::Result<()> {
        let path = self.entry_path(input, &entry.settings);
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(entry)?)
            .with_context(|| format!("cannot write the journal entry {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot write the journal entry {}", path.display()))
    }
}

/// Where an output is written until it is complete: a hidden name beside its final one, so that
/// an interrupted, failed or disk-full run never leaves a partial file under the final name, and
/// folder scans skip it.
pub fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!(".{name}.partial"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dir: &Path, bytes: &[u8]) -> Input {
        let path = dir.join("in.mp4");
        std::fs::write(&path, bytes).unwrap();
        crate::inputs::collect(&[path], &[]).unwrap().remove(0)
    }

    #[test]
    fn a_finished_input_is_skipped_until_something_changes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let journal = Journal::open(&out).unwrap();
        let source = input(dir.path(), b"abc");
        let output = out.join("in.mkv");
        std::fs::write(&output, b"restored").unwrap();
        let entry = Entry {
            input: source.path.clone(),
            input_size: source.size,
            input_mtime_ns: source.mtime_ns,
            settings: "preset=archive".into(),
            output: output.clone(),
            output_size: 8,
            frames: 10,
            faces: 4,
            seconds: 1.5,
        };
        assert!(journal.finished(&source, "preset=archive").is_none());
        journal.record(&source, &entry).unwrap();
        assert_eq!(journal.finished(&source, "preset=archive"), Some(entry));
        // Other settings, a changed input, or a damaged output: restore again.
        assert!(journal.finished(&source, "preset=access").is_none());
        std::fs::write(&output, b"restored, then truncated").unwrap();
        assert!(journal.finished(&source, "preset=archive").is_none());
        std::fs::write(&output, b"restored").unwrap();
        let changed = input(dir.path(), b"abcd");
        assert!(journal.finished(&changed, "preset=archive").is_none());
    }

    #[test]
    fn partial_outputs_are_hidden_beside_the_final_name() {
        assert_eq!(
            partial_path(Path::new("/out/reel/a.mkv")),
            PathBuf::from("/out/reel/.a.mkv.partial")
        );
    }
}
