//! Writes that survive a crash or power loss whole or not at all: a temporary name beside the
//! target, fsync, rename over the target, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every temporary name this crate makes starts with this, so leftovers of a crash can be
/// found and removed.
pub(crate) const TEMP_PREFIX: &str = ".sluice-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path beside `target` (same directory, so a rename is atomic), unique in
/// this process and among processes.
pub(crate) fn temp_beside(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!("{TEMP_PREFIX}{name}-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with_mode(path, bytes, 0o644)
}

/// [`write_atomic`] with the file created with `mode` (before the umask): a secret is never
/// readable by others, not even under its temporary name.
pub(crate) fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_beside(path);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

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
    /// Creates a fresh, empty temporary directory beside `target`.
    pub(crate) fn beside(target: &Path) -> io::Result<TempDir> {
        let path = temp_beside(target);
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
    fn writes_atomically_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

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
