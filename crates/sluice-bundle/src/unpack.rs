//! Verifying a downloaded bundle and unpacking it to disk, with the checks of [`crate::read`].
//!
//! Files are written with `create_new` into a fresh directory beside `dest` that only this
//! function writes, and that directory is renamed to `dest` only after every entry and the
//! manifest check out, so a half-unpacked release never exists at `dest`. Permissions are
//! exact, whatever the umask: each file gets its manifest mode (0644 or 0755), each directory
//! 0755, so an executable arrives runnable by the service's user and nothing is writable by
//! others.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::durable::{self, TempDir};
use crate::mode::Mode;
use crate::read::{self, Bundle, Sink};
use crate::{BundleError, Limits};

/// Checks `bytes` against `expected_digest` (before parsing anything) and `limits`, then
/// unpacks them into `dest`, which must not exist yet (its parent is created if missing).
/// Returns the bundle as read.
///
/// On any error nothing exists at `dest` and the temporary directory is gone.
pub fn verify_and_unpack(
    bytes: &[u8],
    expected_digest: &str,
    limits: &Limits,
    dest: &Path,
) -> Result<Bundle, BundleError> {
    read::verify(bytes, expected_digest, limits)?;
    let shown = dest.display().to_string();
    if fs::symlink_metadata(dest).is_ok() {
        return Err(BundleError::DestExists { path: shown });
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_error("create", parent))?;
    }
    let tmp = TempDir::beside(dest).map_err(io_error("create a temporary directory beside", dest))?;
    fs::set_permissions(tmp.path(), Permissions::from_mode(DIR_MODE))
        .map_err(io_error("set the mode of", tmp.path()))?;
    let mut disk = Disk { root: tmp.path(), dirs: Vec::new() };
    let (manifest, files) = read::walk(bytes, limits, &mut disk)?;
    disk.sync()?;
    fs::rename(tmp.path(), dest).map_err(io_error("rename the unpacked release to", dest))?;
    tmp.keep();
    durable::sync_parent(dest).map_err(io_error("sync the directory of", dest))?;
    Ok(Bundle { id: expected_digest.to_string(), manifest, files })
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.display().to_string();
    move |source| BundleError::Io { action, path, source }
}

/// The mode of every directory of an unpacked release.
const DIR_MODE: u32 = 0o755;

/// Writes checked entries under `root`.
struct Disk<'a> {
    root: &'a Path,
    /// Directories created, to fsync once every file is written.
    dirs: Vec<PathBuf>,
}

impl Disk<'_> {
    /// Fsyncs every directory created, then the root.
    fn sync(&self) -> Result<(), BundleError> {
        for dir in self.dirs.iter().map(PathBuf::as_path).chain([self.root]) {
            durable::sync_dir(dir).map_err(io_error("sync", dir))?;
        }
        Ok(())
    }
}

impl Sink for Disk<'_> {
    fn directory(&mut self, path: &str) -> Result<(), BundleError> {
        let full = self.root.join(path);
        DirBuilder::new().mode(DIR_MODE).create(&full).map_err(io_error("create", &full))?;
        fs::set_permissions(&full, Permissions::from_mode(DIR_MODE)).map_err(io_error("set the mode of", &full))?;
        self.dirs.push(full);
        Ok(())
    }

    fn file(&mut self, path: &str, data: &[u8], mode: Mode) -> Result<(), BundleError> {
        let full = self.root.join(path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode.bits())
            .open(&full)
            .map_err(io_error("create", &full))?;
        file.set_permissions(Permissions::from_mode(mode.bits())).map_err(io_error("set the mode of", &full))?;
        file.write_all(data).map_err(io_error("write", &full))?;
        file.sync_all().map_err(io_error("sync", &full))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BundleCompression, Modes, digest, pack_with};
    use sluice_core::release::ReleaseFiles;

    fn files(list: &[(&str, &str)]) -> ReleaseFiles {
        list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
    }

    #[test]
    fn unpacks_plain_and_gzip_bundles_with_nested_directories() {
        let f = files(&[("a.json", "{}"), ("conf/sub/x.conf", "x"), ("conf/y", "")]);
        for compression in [BundleCompression::None, BundleCompression::Gzip] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("releases").join("r");
            let bytes = pack_with(&f, &Modes::new(), compression).unwrap();
            let got = verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), &dest).unwrap();
            assert_eq!(got.files, f);
            assert_eq!(got.id, digest(&bytes));
            assert_eq!(fs::read(dest.join("conf/sub/x.conf")).unwrap(), b"x");
            assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1, "no temporary left beside dest");
        }
    }

    #[test]
    fn refuses_an_existing_dest() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = pack_with(&files(&[("a", "1")]), &Modes::new(), BundleCompression::None).unwrap();
        let err = verify_and_unpack(&bytes, &digest(&bytes), &Limits::default(), dir.path()).unwrap_err();
        assert!(matches!(err, BundleError::DestExists { .. }), "{err}");
    }
}
