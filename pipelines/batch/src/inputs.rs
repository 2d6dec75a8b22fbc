//! What a batch restores: files named on the command line, video files found in folders
//! (recursively, by extension) and files listed in manifests, each with the path its output
//! takes in the mirrored tree under `--output`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, bail};

/// Extensions of the containers and elementary streams a folder scan picks up (lower case).
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "qt", "mkv", "webm", "avi", "mxf", "ts", "m2ts", "mts", "mpg", "mpeg",
    "vob", "ogv", "flv", "wmv", "dv", "y4m", "h264", "264", "h265", "265", "hevc",
];

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// As found (absolute when the argument was).
    pub path: PathBuf,
    /// Its place in the mirrored output tree, without extension change.
    pub relative: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when the file system has none).
    pub mtime_ns: u128,
}

impl Input {
    fn stat(path: PathBuf, relative: PathBuf) -> anyhow::Result<Input> {
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("input {}: cannot read it", path.display()))?;
        if !meta.is_file() {
            bail!("input {} is not a file", path.display());
        }
        Ok(Input {
            path,
            relative,
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        })
    }
}

/// A file's modification time, nanoseconds since the Unix epoch (0 when the file system has none).
pub fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Is this a file a folder scan restores?
pub fn is_video(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The inputs of a batch, sorted by output path: a file stands for itself (output at its file
/// name), a folder for the video files under it (output mirrored below the folder), and a
/// manifest for the files it lists, one per line (`#` starts a comment; relative paths are
/// relative to the manifest; outputs mirror the paths as listed). Two inputs that would write
/// the same output are an error that names both.
pub fn collect(arguments: &[PathBuf], manifests: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut by_output: BTreeMap<PathBuf, Input> = BTreeMap::new();
    let mut add = |input: Input| -> anyhow::Result<()> {
        if let Some(other) = by_output.get(&input.relative) {
            if other.path != input.path {
                bail!(
                    "{} and {} would both be written to {}: restore them in separate batches or folders",
                    other.path.display(),
                    input.path.display(),
                    input.relative.display()
                );
            }
            return Ok(());
        }
        by_output.insert(input.relative.clone(), input);
        Ok(())
    };
    for argument in arguments {
        let meta = std::fs::metadata(argument)
            .with_context(|| format!("input {}: no such file or folder", argument.display()))?;
        if meta.is_dir() {
            for path in scan(argument)? {
                let relative = path.strip_prefix(argument).unwrap_or(&path).to_path_buf();
                add(Input::stat(path, relative)?)?;
            }
        } else {
            let name = argument
                .file_name()
                .with_context(|| format!("input {} has no file name", argument.display()))?;
            add(Input::stat(argument.clone(), PathBuf::from(name))?)?;
        }
    }
    for manifest in manifests {
        for (path, relative) in read_manifest(manifest)? {
            add(Input::stat(path, relative)?)?;
        }
    }
    Ok(by_output.into_values().collect())
}

/// Every video file under `folder`, depth first, sorted. Hidden entries (a leading dot) are
/// skipped: they hold journals, editors' scratch files and half-copied uploads.
fn scan(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list the folder {}", dir.display()))?;
        for entry in entries {
            let entry =
                entry.with_context(|| format!("cannot list the folder {}", dir.display()))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if is_video(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The (path, output-relative path) pairs a manifest lists.
fn read_manifest(manifest: &Path) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read the manifest {}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut listed = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let listed_path = PathBuf::from(line);
        let relative: PathBuf = listed_path
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        if relative.as_os_str().is_empty() {
            bail!(
                "{} line {}: {line:?} names no file",
                manifest.display(),
                n + 1
            );
        }
        listed.push((base.join(&listed_path), relative));
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, bytes: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; bytes]).unwrap();
    }

    #[test]
    fn folders_are_mirrored_and_non_videos_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        touch(&root.join("reel1/a.MP4"), 3);
        touch(&root.join("reel1/notes.txt"), 1);
        touch(&root.join("reel2/deep/b.mkv"), 5);
        touch(&root.join(".sgpn-batch/c.mp4"), 1);
        let single = dir.path().join("single.mov");
        touch(&single, 7);
        let inputs = collect(&[root.clone(), single.clone()], &[]).unwrap();
        let relative: Vec<_> = inputs.iter().map(|i| i.relative.clone()).collect();
        assert_eq!(
            relative,
            [
                PathBuf::from("reel1/a.MP4"),
                PathBuf::from("reel2/deep/b.mkv"),
                PathBuf::from("single.mov")
            ]
        );
        assert_eq!(inputs[1].size, 5);
        assert!(inputs.iter().all(|i| i.mtime_ns > 0));
    }

    #[test]
    fn manifests_list_files_relative_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("clips/x.mp4"), 2);
        let manifest = dir.path().join("list.txt");
        std::fs::write(&manifest, "# to restore\nclips/x.mp4  # the interview\n\n").unwrap();
        let inputs = collect(&[], &[manifest]).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].relative, PathBuf::from("clips/x.mp4"));
        assert_eq!(inputs[0].path, dir.path().join("clips/x.mp4"));
    }

    #[test]
    fn clashing_outputs_and_missing_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("a/clip.mp4"), 1);
        touch(&dir.path().join("b/clip.mp4"), 1);
        let err = collect(
            &[dir.path().join("a/clip.mp4"), dir.path().join("b/clip.mp4")],
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("would both be written to clip.mp4"), "{err}");
        let err = collect(&[dir.path().join("nope.mp4")], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.mp4: no such file or folder"), "{err}");
    }
}
