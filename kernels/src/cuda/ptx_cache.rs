//! A disk cache of the kernels' PTX. NVRTC takes about 0.7 s to compile every source (2-core
//! VM), once per process: each `gst-launch-1.0` of a batch, each restart of a live pipeline.
//! The PTX of a source depends only on that source, the target architecture, the compile
//! options and the NVRTC version, so it is kept under a key hashed from all four and read back
//! on the next start; the driver still JIT-compiles PTX to the GPU's own code at module load,
//! and caches that itself (`~/.nv/ComputeCache`).
//!
//! Where: `$SGPN_KERNEL_CACHE` (`off` disables the cache), else `$XDG_CACHE_HOME/sgpn/kernels`,
//! else `$HOME/.cache/sgpn/kernels`. Each entry is one file written atomically (a temporary
//! file renamed into place, so concurrent elements never read half a file) whose first line
//! holds the SHA-256 of the PTX after it; an entry that does not match is removed and compiled
//! again. A cache that cannot be written is skipped: the kernels are then compiled on every
//! start, as without it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cudarc::nvrtc::Ptx;
use sha2::{Digest, Sha256};

use super::{compile_options, compile_to_ptx, load_nvrtc};
use crate::error::KernelError;

/// The first line of an entry: this prefix, then the hex SHA-256 of the rest.
const HEADER: &str = "// sgpn ptx sha256 ";

/// Environment variable naming the cache folder, or `off`.
pub const CACHE_ENV: &str = "SGPN_KERNEL_CACHE";

/// Where the PTX of a set of kernel sources is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxCache {
    dir: PathBuf,
}

/// Where a module's PTX came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtxOrigin {
    Cache,
    Compiled,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache folder the environment asks for (`var` reads a variable): `None` when disabled or
/// when no home is known.
pub fn cache_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    match set(CACHE_ENV) {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => set("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("sgpn").join("kernels")),
    }
}

/// The NVRTC version, part of every key: another NVRTC may compile the same source otherwise.
fn nvrtc_version() -> Result<(i32, i32), KernelError> {
    load_nvrtc()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (above); the call writes two ints.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    status
        .result()
        .map_err(|e| KernelError::Cuda(format!("NVRTC version: {e:?}")))?;
    Ok((major, minor))
}

impl PtxCache {
    /// The cache the environment asks for, if any.
    pub fn from_env() -> Option<Self> {
        cache_dir_from(|name| std::env::var_os(name)).map(Self::new)
    }

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry of `source` (file `name`) compiled for `arch`.
    pub fn entry(
        &self,
        name: &str,
        source: &str,
        arch: &'static str,
    ) -> Result<PathBuf, KernelError> {
        let (major, minor) = nvrtc_version()?;
        let mut key = Sha256::new();
        for part in [
            name,
            source,
            arch,
            &format!("{:?}", compile_options(name, arch)),
            &format!("nvrtc {major}.{minor}"),
        ] {
            key.update(part.as_bytes());
            key.update([0]);
        }
        let stem = name.trim_end_matches(".cu");
        Ok(self
            .dir
            .join(format!("{stem}-{arch}-{}.ptx", &hex(&key.finalize())[..32])))
    }

    /// The cached PTX, if a sound entry exists; an entry whose checksum does not match is
    /// removed.
    pub fn get(
        &self,
        name: &str,
        source: &str,
        arch: &'static str,
    ) -> Result<Option<Ptx>, KernelError> {
        Ok(read_entry(&self.entry(name, source, arch)?))
    }

    /// Removes the entry of `source` for `arch` (one the driver refused to load).
    pub fn remove(&self, name: &str, source: &str, arch: &'static str) {
        if let Ok(path) = self.entry(name, source, arch) {
            std::fs::remove_file(path).ok();
        }
    }

    /// The PTX of `source` for `arch`: from the cache, or compiled and stored.
    pub fn compile(
        &self,
        name: &str,
        source: &str,
        arch: &'static str,
    ) -> Result<(Ptx, PtxOrigin), KernelError> {
        let path = self.entry(name, source, arch)?;
        if let Some(ptx) = read_entry(&path) {
            return Ok((ptx, PtxOrigin::Cache));
        }
        let ptx = compile_to_ptx(name, source, arch)?;
        // Best effort: a read-only or full disk only costs the next start a compile.
        write_entry(&self.dir, &path, &ptx).ok();
        Ok((ptx, PtxOrigin::Compiled))
    }
}

/// The PTX of the entry at `path`, if it exists and its checksum matches; a damaged entry is
/// removed.
fn read_entry(path: &Path) -> Option<Ptx> {
    let text = std::fs::read_to_string(path).ok()?;
    let sound = text.split_once('\n').and_then(|(first, ptx)| {
        let sum = first.strip_prefix(HEADER)?;
        (sum == hex(&Sha256::digest(ptx.as_bytes()))).then(|| ptx.to_owned())
    });
    if sound.is_none() {
        std::fs::remove_file(path).ok();
    }
    sound.map(Ptx::from_src)
}

/// Stores `ptx` at `path` in `dir`: a temporary file renamed into place, its checksum first.
fn write_entry(dir: &Path, path: &Path, ptx: &Ptx) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = ptx.to_src();
    let tmp = path.with_extension(format!("{}.part", std::process::id()));
    std::fs::write(
        &tmp,
        format!("{HEADER}{}\n{text}", hex(&Sha256::digest(text.as_bytes()))),
    )?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::{SOURCES, deps_dir};

    #[test]
    fn the_cache_folder_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            cache_dir_from(env(&[(CACHE_ENV, "/k"), ("HOME", "/h")])),
            Some(PathBuf::from("/k"))
        );
        assert_eq!(
            cache_dir_from(env(&[(CACHE_ENV, "off"), ("HOME", "/h")])),
            None
        );
        assert_eq!(
            cache_dir_from(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/sgpn/kernels"))
        );
        assert_eq!(
            cache_dir_from(env(&[(CACHE_ENV, ""), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/sgpn/kernels"))
        );
        assert_eq!(cache_dir_from(env(&[])), None);
    }

    #[test]
    fn compiled_ptx_is_read_back_and_a_damaged_entry_is_compiled_again() {
        if !deps_dir().join("cuda").join("libnvrtc.so.13").is_file() {
            println!(
                "skipped: no NVRTC in {} (run scripts/setup.sh)",
                deps_dir().display()
            );
            return;
        }
        let dir = std::env::temp_dir().join(format!("sgpn-ptx-cache-{}", std::process::id()));
        let cache = PtxCache::new(&dir);
        let (name, source, _) = SOURCES[0];
        let start = std::time::Instant::now();
        let (first, origin) = cache
            .compile(name, source, "sm_80")
            .unwrap_or_else(|e| panic!("{e}"));
        let compile_time = start.elapsed();
        assert_eq!(origin, PtxOrigin::Compiled);
        let start = std::time::Instant::now();
        let (again, origin) = cache.compile(name, source, "sm_80").unwrap();
        println!(
            "{name}: compiled in {compile_time:?}, read back in {:?}",
            start.elapsed()
        );
        assert_eq!(origin, PtxOrigin::Cache);
        assert_eq!(again.to_src(), first.to_src());
        // Another architecture or an edited source is another entry.
        assert_ne!(
            cache.entry(name, source, "sm_90").unwrap(),
            cache.entry(name, source, "sm_80").unwrap()
        );
        let edited = format!("{source}\n// edited\n");
        assert_eq!(
            cache
                .get(name, &edited, "sm_80")
                .unwrap()
                .map(|p| p.to_src()),
            None
        );
        // A damaged entry is not used: it is removed, compiled again and stored again.
        let path = cache.entry(name, source, "sm_80").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen(".entry", ".entri", 1)).unwrap();
        assert!(cache.get(name, source, "sm_80").unwrap().is_none());
        assert!(!path.exists(), "the damaged entry is removed");
        let (_, origin) = cache.compile(name, source, "sm_80").unwrap();
        assert_eq!(origin, PtxOrigin::Compiled);
        assert_eq!(
            cache.compile(name, source, "sm_80").unwrap().1,
            PtxOrigin::Cache
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
