//! Reading an unpacked release back from disk, for the validators that compare a new release
//! with the one it replaces. Only regular files and directories; the same limits as a bundle.

use std::fs;
use std::io;
use std::path::Path;

use sluice_core::release::ReleaseFiles;

use sluice_bundle::Limits;

/// Reads every file under `dir` into memory, keyed by `/`-separated relative path. Refuses
/// links and special files, and releases over `limits`.
pub(crate) fn read(dir: &Path, limits: &Limits) -> io::Result<ReleaseFiles> {
    let mut files = ReleaseFiles::new();
    let mut total = 0u64;
    let mut entries = 0u64;
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = pending.pop() {
        for entry in fs::read_dir(&path)? {
            let entry = entry?;
            let name = entry.file_name().into_string().map_err(|n| {
                io::Error::new(io::ErrorKind::InvalidData, format!("`{}` is not utf-8", n.to_string_lossy()))
            })?;
            let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            entries += 1;
            if entries > limits.max_entries {
                return Err(io::Error::other(format!("more than {} entries", limits.max_entries)));
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((entry.path(), rel));
            } else if kind.is_file() {
                let size = entry.metadata()?.len();
                total = total.saturating_add(size);
                if size > limits.max_file_bytes || total > limits.max_total_bytes {
                    return Err(io::Error::other(format!("`{rel}` takes the release over its size limits")));
                }
                files.insert(rel, fs::read(entry.path())?);
            } else {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("`{rel}` is not a regular file")));
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_files_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/c.json"), b"{}").unwrap();
        fs::write(dir.path().join("top"), b"t").unwrap();
        let files = read(dir.path(), &Limits::default()).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a/b/c.json", "top"]);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert!(read(dir.path(), &Limits::default()).unwrap_err().to_string().contains("`link`"));
    }

    #[test]
    fn refuses_releases_over_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("big"), vec![0u8; 100]).unwrap();
        let limits = Limits { max_file_bytes: 10, ..Limits::default() };
        assert!(read(dir.path(), &limits).is_err());
    }
}
