//! Reading a release directory from disk into memory, refusing what must never ship: links that
//! leave the directory, special files, single files or totals over the limit.

use std::fs;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sluice_core::release::ReleaseFiles;

#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("failed to read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: a link that leaves the release directory ({target})")]
    LinkEscapes { path: PathBuf, target: PathBuf },
    #[error("{path}: not a regular file or directory")]
    Special { path: PathBuf },
    #[error("{path}: the release is over its {limit}-byte limit ({total} bytes so far)")]
    TooLarge { path: PathBuf, total: u64, limit: u64 },
    #[error("{path}: file name is not UTF-8")]
    NotUtf8 { path: PathBuf },
    #[error("invalid glob {glob:?} in the service's `files`: {why}")]
    Glob { glob: String, why: String },
    #[error("{path}: no file of the release matches the service's `files` globs")]
    Empty { path: PathBuf },
}

/// Read every regular file under `dir` whose relative path matches one of `globs` (all files
/// when empty), at most `limit` bytes in total.
pub fn read_release_dir(dir: &Path, globs: &[String], limit: u64) -> Result<ReleaseFiles, DirError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DirError::Io { path, source }
    };
    let root = fs::canonicalize(dir).map_err(io(dir))?;
    let set = globset(globs)?;
    let mut files = ReleaseFiles::new();
    let mut total = 0u64;
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&d).map_err(io(&d))?.collect::<Result<Vec<_>, _>>().map_err(io(&d))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
            let real = if meta.file_type().is_symlink() {
                let real = fs::canonicalize(&path).map_err(io(&path))?;
                if !real.starts_with(&root) {
                    return Err(DirError::LinkEscapes { path, target: real });
                }
                real
            } else {
                path.clone()
            };
            let meta = fs::metadata(&real).map_err(io(&real))?;
            if meta.is_dir() {
                if !meta.file_type().is_symlink() && real == path {
                    stack.push(path);
                }
                continue;
            }
            if !meta.is_file() {
                return Err(DirError::Special { path });
            }
            let rel = path.strip_prefix(&root).map_err(|_| DirError::NotUtf8 { path: path.clone() })?;
            let rel = rel.to_str().ok_or_else(|| DirError::NotUtf8 { path: path.clone() })?.replace('\\', "/");
            if let Some(set) = &set
                && !set.is_match(&rel)
            {
                continue;
            }
            total = total.saturating_add(meta.len());
            if total > limit {
                return Err(DirError::TooLarge { path, total, limit });
            }
            let bytes = fs::read(&real).map_err(io(&real))?;
            files.insert(rel, bytes);
        }
    }
    if files.is_empty() {
        return Err(DirError::Empty { path: dir.to_path_buf() });
    }
    Ok(files)
}

fn globset(globs: &[String]) -> Result<Option<GlobSet>, DirError> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g).map_err(|e| DirError::Glob { glob: g.clone(), why: e.to_string() })?;
        b.add(glob);
    }
    b.build().map(Some).map_err(|e| DirError::Glob { glob: globs.join(","), why: e.to_string() })
}
