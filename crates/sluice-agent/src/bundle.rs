//! The release bundle format, and packing one.
//!
//! A bundle is a tar archive, gzip-compressed or not, whose first entry is
//! [`MANIFEST_NAME`] (a JSON [`Manifest`]: format, then each file's relative path, size and
//! sha256), followed by one regular-file entry per release file in path order. Headers are
//! fixed (mtime 0, uid/gid 0, mode 0644, no user or group names, GNU long names past 100
//! bytes) and the gzip header carries no name or time, so the same files always pack to the
//! same bytes and the same id. A bundle's id is [`digest`] of its bytes: `sha256:<hex>`.
//!
//! Unpacking, which trusts none of this, is in [`crate::unpack`].

mod error;

use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sluice_core::release::ReleaseFiles;

use crate::relpath;

pub use self::error::BundleError;

/// The name of the manifest entry, always the first entry of a bundle. No release file may be
/// called this.
pub const MANIFEST_NAME: &str = "sluice-manifest.json";

/// The `format` of the manifests this crate writes and reads.
pub const MANIFEST_FORMAT: &str = "sluice-bundle/1";

/// The manifest of a bundle: what the bundle must contain, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Every file of the release, in path order.
    pub files: Vec<ManifestFile>,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Relative, `/`-separated path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
}

/// How a bundle is compressed. [`crate::unpack::verify_and_unpack`] accepts either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleCompression {
    /// A plain tar archive.
    None,
    /// A gzip-compressed tar archive (the default of [`pack`]).
    Gzip,
}

/// What a node accepts from one bundle. Sizes are checked while reading, never from a header
/// alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bundle, as downloaded (compressed), in bytes.
    pub max_bundle_bytes: u64,
    /// Largest release, all files unpacked, in bytes.
    pub max_total_bytes: u64,
    /// Largest single file, unpacked, in bytes.
    pub max_file_bytes: u64,
    /// Most archive entries (files, directories, the manifest).
    pub max_entries: u64,
}

impl Default for Limits {
    /// 64 MiB bundle (the spec's default `max_bundle_bytes`), 256 MiB unpacked, 64 MiB per
    /// file, 10,000 entries.
    fn default() -> Self {
        Limits { max_bundle_bytes: 64 << 20, max_total_bytes: 256 << 20, max_file_bytes: 64 << 20, max_entries: 10_000 }
    }
}

/// The id of a bundle: `sha256:` and the lowercase hex sha256 of its bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The hex part of a well-formed digest (`sha256:` and 64 lowercase hex digits), which is
/// safe to use as a directory name.
pub fn digest_hex(digest: &str) -> Result<&str, BundleError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(hex)
        }
        _ => Err(BundleError::InvalidDigest { digest: digest.to_string() }),
    }
}

/// The manifest of `files`, after checking every path. Used by [`pack_with`].
pub fn manifest_of(files: &ReleaseFiles) -> Result<Manifest, BundleError> {
    for path in files.keys() {
        relpath::check(path).map_err(|why| BundleError::UnsafePath { path: path.clone(), why })?;
        if path == MANIFEST_NAME {
            return Err(BundleError::ReservedName { path: path.clone() });
        }
        if let Some(file) = relpath::ancestors(path).find(|a| files.contains_key(*a)) {
            return Err(BundleError::PathConflict { path: path.clone(), file: file.to_string() });
        }
    }
    let files = files
        .iter()
        .map(|(path, content)| ManifestFile {
            path: path.clone(),
            size: content.len() as u64,
            sha256: sha256_hex(content),
        })
        .collect();
    Ok(Manifest { format: MANIFEST_FORMAT.to_string(), files })
}

/// Packs `files` into a gzip-compressed bundle. Deterministic: the same files give the same
/// bytes, so the same [`digest`].
pub fn pack(files: &ReleaseFiles) -> Result<Vec<u8>, BundleError> {
    pack_with(files, BundleCompression::Gzip)
}

/// Packs `files` into a bundle with the given compression. Deterministic like [`pack`].
pub fn pack_with(files: &ReleaseFiles, compression: BundleCompression) -> Result<Vec<u8>, BundleError> {
    let manifest = manifest_of(files)?;
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| BundleError::Io {
        action: "encode",
        path: MANIFEST_NAME.to_string(),
        source: e.into(),
    })?;
    match compression {
        BundleCompression::None => write_tar(Vec::new(), &manifest_json, files),
        BundleCompression::Gzip => {
            let gz = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(Vec::new(), flate2::Compression::default());
            write_tar(gz, &manifest_json, files)?.finish().map_err(|source| BundleError::Io {
                action: "compress",
                path: "bundle".to_string(),
                source,
            })
        }
    }
}

fn write_tar<W: Write>(out: W, manifest_json: &[u8], files: &ReleaseFiles) -> Result<W, BundleError> {
    let mut builder = tar::Builder::new(out);
    append(&mut builder, MANIFEST_NAME, manifest_json)?;
    for (path, content) in files {
        append(&mut builder, path, content)?;
    }
    builder.into_inner().map_err(|source| BundleError::Io { action: "pack", path: "bundle".to_string(), source })
}

fn append<W: Write>(builder: &mut tar::Builder<W>, path: &str, content: &[u8]) -> Result<(), BundleError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
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

    fn files(list: &[(&str, &str)]) -> ReleaseFiles {
        list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(digest_hex(&digest(b"x")).map(str::len).ok(), Some(64));
    }

    #[test]
    fn refuses_malformed_digests() {
        let good = digest(b"x");
        for bad in ["", "sha256:", "sha512:00", &good.to_uppercase(), &good.replace("sha256:", "sha256:../")] {
            assert!(matches!(digest_hex(bad), Err(BundleError::InvalidDigest { .. })), "{bad:?}");
        }
    }

    #[test]
    fn packing_is_deterministic_and_compression_changes_the_id() {
        let f = files(&[("b/long/".repeat(30).trim_end_matches('/'), "x"), ("a.json", "{}")]);
        let plain = pack_with(&f, BundleCompression::None).unwrap();
        assert_eq!(plain, pack_with(&f, BundleCompression::None).unwrap());
        assert_eq!(pack(&f).unwrap(), pack(&f).unwrap());
        assert_ne!(digest(&plain), digest(&pack(&f).unwrap()));
    }

    #[test]
    fn refuses_to_pack_unsafe_reserved_or_conflicting_paths() {
        assert!(matches!(pack(&files(&[("../x", "")])), Err(BundleError::UnsafePath { .. })));
        assert!(matches!(pack(&files(&[(MANIFEST_NAME, "")])), Err(BundleError::ReservedName { .. })));
        assert!(matches!(pack(&files(&[("a", ""), ("a/b", "")])), Err(BundleError::PathConflict { .. })));
    }

    #[test]
    fn manifest_lists_every_file_in_order() {
        let m = manifest_of(&files(&[("b", "22"), ("a", "1")])).unwrap();
        let paths: Vec<_> = m.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(paths, [("a", 1), ("b", 2)]);
        assert_eq!(m.format, MANIFEST_FORMAT);
    }
}
