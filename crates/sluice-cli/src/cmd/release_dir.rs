//! Reading a release directory from disk into memory, with each file's executable bit,
//! refusing what must never ship: links that leave the directory, special files, single files
//! or totals over the limit.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sluice_bundle::{Mode, Modes};
use sluice_core::release::ReleaseFiles;

/// A release directory read into memory: what validators read, and what [`sluice_bundle`]
/// packs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseDir {
    /// Every file, by `/`-separated relative path.
    pub files: ReleaseFiles,
    /// The executable files (a link's mode is its target's), normalised to 0755; every other
    /// file is 0644.
    pub modes: Modes,
}

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
/// when empty), at most `limit` bytes in total, with its mode.
pub fn read_release_dir(dir: &Path, globs: &[String], limit: u64) -> Result<ReleaseDir, DirError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DirError::Io { path, source }
    };
    let root = fs::canonicalize(dir).map_err(io(dir))?;
    let set = globset(globs)?;
    let mut release = ReleaseDir::default();
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
            let mode = Mode::from_bits(meta.permissions().mode());
            if !mode.is_regular() {
                release.modes.insert(rel.clone(), mode);
            }
            release.files.insert(rel, bytes);
        }
    }
    if release.files.is_empty() {
        return Err(DirError::Empty { path: dir.to_path_buf() });
    }
    Ok(release)
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

#[cfg(test)]
mod tests {
    use std::process::Command;

    use sluice_bundle::{Limits, digest, pack_with_modes, verify_and_unpack};

    use super::*;

    /// What `sluice release create` does with a directory, then what an agent does with the
    /// bundle: the script arrives executable and runs.
    #[test]
    fn an_executable_script_is_packed_executable_and_runs_after_unpack() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("bin/hello");
        fs::create_dir_all(script.parent().unwrap()).unwrap();
        fs::write(&script, "#!/bin/sh\necho hello from $(basename $0)\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(dir.path().join("app.conf"), "x\n").unwrap();
        fs::set_permissions(dir.path().join("app.conf"), fs::Permissions::from_mode(0o664)).unwrap();

        let release = read_release_dir(dir.path(), &[], 1 << 20).unwrap();
        assert_eq!(release.modes, Modes::from([("bin/hello".to_string(), Mode::Executable)]));
        let bundle = pack_with_modes(&release.files, &release.modes).unwrap();

        let node = tempfile::tempdir().unwrap();
        let dest = node.path().join("releases/r1");
        verify_and_unpack(&bundle, &digest(&bundle), &Limits::default(), &dest).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dest.join("bin/hello")), 0o755);
        assert_eq!(mode(&dest.join("app.conf")), 0o644);
        let out = Command::new(dest.join("bin/hello")).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from hello\n");
    }
}
