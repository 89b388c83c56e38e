//! Packing release files into a bundle, deterministically.
//!
//! Headers are fixed (mtime 0, uid/gid 0, mode 0644 or 0755 from the manifest, no user or
//! group names, GNU long names past 100 bytes) and the gzip header carries no name or time, so
//! the same files and modes always pack to the same bytes and the same id.

use std::io::Write;

use sluice_core::release::ReleaseFiles;

use crate::BundleError;
use crate::manifest::{MANIFEST_NAME, Manifest, manifest_of};
use crate::mode::{Mode, Modes};

/// How a bundle is compressed. Readers accept either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleCompression {
    /// A plain tar archive.
    None,
    /// A gzip-compressed tar archive (the default of [`pack`]).
    Gzip,
}

/// Packs `files`, every one [`Mode::Regular`], into a gzip-compressed bundle. Deterministic:
/// the same files give the same bytes, so the same [`crate::digest`].
pub fn pack(files: &ReleaseFiles) -> Result<Vec<u8>, BundleError> {
    pack_with(files, &Modes::new(), BundleCompression::Gzip)
}

/// Packs `files` with `modes` into a gzip-compressed bundle. Deterministic like [`pack`].
pub fn pack_with_modes(files: &ReleaseFiles, modes: &Modes) -> Result<Vec<u8>, BundleError> {
    pack_with(files, modes, BundleCompression::Gzip)
}

/// Packs `files` with `modes` and the given compression. Deterministic like [`pack`].
pub fn pack_with(files: &ReleaseFiles, modes: &Modes, compression: BundleCompression) -> Result<Vec<u8>, BundleError> {
    let manifest = manifest_of(files, modes)?;
    match compression {
        BundleCompression::None => write_tar(Vec::new(), &manifest, files),
        BundleCompression::Gzip => {
            let gz = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(Vec::new(), flate2::Compression::default());
            write_tar(gz, &manifest, files)?.finish().map_err(|source| BundleError::Io {
                action: "compress",
                path: "bundle".to_string(),
                source,
            })
        }
    }
}

fn write_tar<W: Write>(out: W, manifest: &Manifest, files: &ReleaseFiles) -> Result<W, BundleError> {
    let manifest_json = serde_json::to_vec_pretty(manifest).map_err(|e| BundleError::Io {
        action: "encode",
        path: MANIFEST_NAME.to_string(),
        source: e.into(),
    })?;
    let mut builder = tar::Builder::new(out);
    append(&mut builder, MANIFEST_NAME, &manifest_json, Mode::Regular)?;
    for ((path, content), listed) in files.iter().zip(&manifest.files) {
        append(&mut builder, path, content, listed.mode)?;
    }
    builder.into_inner().map_err(|source| BundleError::Io { action: "pack", path: "bundle".to_string(), source })
}

fn append<W: Write>(builder: &mut tar::Builder<W>, path: &str, content: &[u8], mode: Mode) -> Result<(), BundleError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(mode.bits());
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder.append_data(&mut header, path, content).map_err(|source| BundleError::Io {
        action: "pack",
        path: path.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;

    fn files(list: &[(&str, &str)]) -> ReleaseFiles {
        list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
    }

    #[test]
    fn packing_is_deterministic_and_compression_changes_the_id() {
        let f = files(&[("b/long/".repeat(30).trim_end_matches('/'), "x"), ("a.json", "{}")]);
        let plain = pack_with(&f, &Modes::new(), BundleCompression::None).unwrap();
        assert_eq!(plain, pack_with(&f, &Modes::new(), BundleCompression::None).unwrap());
        assert_eq!(pack(&f).unwrap(), pack(&f).unwrap());
        assert_ne!(digest(&plain), digest(&pack(&f).unwrap()));
    }

    #[test]
    fn modes_change_the_id_and_regular_modes_do_not() {
        let f = files(&[("run", "#!/bin/sh\n")]);
        let regular = Modes::from([("run".to_string(), Mode::Regular)]);
        let executable = Modes::from([("run".to_string(), Mode::Executable)]);
        assert_eq!(pack(&f).unwrap(), pack_with_modes(&f, &regular).unwrap());
        assert_ne!(pack(&f).unwrap(), pack_with_modes(&f, &executable).unwrap());
        assert_eq!(pack_with_modes(&f, &executable).unwrap(), pack_with_modes(&f, &executable).unwrap());
    }

    #[test]
    fn refuses_to_pack_unsafe_reserved_or_conflicting_paths() {
        assert!(matches!(pack(&files(&[("../x", "")])), Err(BundleError::UnsafePath { .. })));
        assert!(matches!(pack(&files(&[(MANIFEST_NAME, "")])), Err(BundleError::ReservedName { .. })));
        assert!(matches!(pack(&files(&[("a", ""), ("a/b", "")])), Err(BundleError::PathConflict { .. })));
    }
}
