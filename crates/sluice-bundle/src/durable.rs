//! The temporary directory a bundle is unpacked into, and the fsyncs that make the unpacked
//! release survive a crash once it is renamed into place.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every temporary name sluice makes in a release directory starts with this (the agent's own
/// temporaries too), so what a crash left behind can be found and removed.
pub const TEMP_PREFIX: &str = ".sluice-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Fsyncs the directory `dir`, so entries created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fsyncs the directory that holds `path`.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// A directory removed (with everything in it) when dropped, unless [`TempDir::keep`] is
/// called: a half-unpacked release never outlives the function that made it.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    /// Creates a fresh, empty directory beside `target` (same directory, so a rename is
    /// atomic), named [`TEMP_PREFIX`]`unpack-…` and unique among processes.
    pub(crate) fn beside(target: &Path) -> io::Result<TempDir> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let path = target.with_file_name(format!("{TEMP_PREFIX}unpack-{name}-{}-{n}", std::process::id()));
        fs::create_dir(&path)?;
        Ok(TempDir { path: Some(path) })
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps the directory (it was renamed into place).
    pub(crate) fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("release");
        let tmp = TempDir::beside(&target).unwrap();
        fs::write(tmp.path().join("f"), b"x").unwrap();
        let path = tmp.path().to_path_buf();
        assert!(path.file_name().unwrap().to_string_lossy().starts_with(TEMP_PREFIX));
        drop(tmp);
        assert!(!path.exists());
        let kept = TempDir::beside(&target).unwrap();
        let path = kept.path().to_path_buf();
        kept.keep();
        assert!(path.exists());
    }
}
