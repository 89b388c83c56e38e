//! Verifying and unpacking a downloaded bundle, trusting nothing in it.
//!
//! The digest is checked over the exact bytes before anything is parsed. The archive is then
//! read as a stream, entry by entry, and every limit is checked on the bytes actually read (a
//! header's size is only used to refuse early, never to decide that something is small): the
//! whole decompressed stream is capped, so neither a gzip bomb nor a huge GNU long-name entry
//! can exhaust memory. Only regular files and directories with plain relative paths are
//! accepted; links of every kind, devices and fifos are refused. Files are written with
//! `create_new` into a fresh directory beside `dest` that only this function writes, and that
//! directory is renamed to `dest` only after every entry and the manifest check out, so a
//! half-unpacked release never exists at `dest`.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::rc::Rc;

use sluice_core::release::ReleaseFiles;
use tar::EntryType;

use crate::bundle::{BundleError, Limits, MANIFEST_FORMAT, MANIFEST_NAME, Manifest, ManifestFile, digest, digest_hex};
use crate::durable::{self, TempDir};
use crate::{bundle, relpath};

/// Largest manifest accepted, in bytes.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Headers, long names and padding allowed per entry on top of the file bytes, when capping
/// the decompressed stream.
const OVERHEAD_PER_ENTRY: u64 = 8 << 10;

/// Checks `bytes` against `expected_digest` and `limits`, then unpacks them into `dest`, which
/// must not exist yet (its parent is created if missing). Returns the release's files.
///
/// On any error nothing exists at `dest` and the temporary directory is gone.
pub fn verify_and_unpack(
    bytes: &[u8],
    expected_digest: &str,
    limits: &Limits,
    dest: &Path,
) -> Result<ReleaseFiles, BundleError> {
    digest_hex(expected_digest)?;
    let size = bytes.len() as u64;
    if size > limits.max_bundle_bytes {
        return Err(BundleError::BundleTooLarge { size, limit: limits.max_bundle_bytes });
    }
    let actual = digest(bytes);
    if actual != expected_digest {
        return Err(BundleError::DigestMismatch { expected: expected_digest.to_string(), actual });
    }
    let shown = dest.display().to_string();
    if fs::symlink_metadata(dest).is_ok() {
        return Err(BundleError::DestExists { path: shown });
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_error("create", parent))?;
    }
    let tmp = TempDir::beside(dest).map_err(io_error("create a temporary directory beside", dest))?;
    let files = Unpacker::new(limits, tmp.path()).run(bytes)?;
    fs::rename(tmp.path(), dest).map_err(io_error("rename the unpacked release to", dest))?;
    tmp.keep();
    durable::sync_parent(dest).map_err(io_error("sync the directory of", dest))?;
    Ok(files)
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.display().to_string();
    move |source| BundleError::Io { action, path, source }
}

/// Reads an archive stream into a directory, keeping the state of the checks.
struct Unpacker<'a> {
    limits: &'a Limits,
    root: &'a Path,
    /// Bytes of decompressed stream read so far, shared with the [`Counted`] reader.
    streamed: Rc<Cell<u64>>,
    stream_cap: u64,
    manifest: Option<BTreeMap<String, ManifestFile>>,
    files: ReleaseFiles,
    dirs: BTreeSet<String>,
    entries: u64,
    total: u64,
}

impl<'a> Unpacker<'a> {
    fn new(limits: &'a Limits, root: &'a Path) -> Self {
        let stream_cap = limits
            .max_total_bytes
            .saturating_add(limits.max_entries.saturating_add(2).saturating_mul(OVERHEAD_PER_ENTRY))
            .saturating_add(MAX_MANIFEST_BYTES);
        Unpacker {
            limits,
            root,
            streamed: Rc::new(Cell::new(0)),
            stream_cap,
            manifest: None,
            files: ReleaseFiles::new(),
            dirs: BTreeSet::new(),
            entries: 0,
            total: 0,
        }
    }

    fn run(mut self, bytes: &[u8]) -> Result<ReleaseFiles, BundleError> {
        let decoded: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        let counted = Counted { inner: decoded, read: Rc::clone(&self.streamed), cap: self.stream_cap };
        let mut archive = tar::Archive::new(counted);
        let entries = archive.entries().map_err(|e| self.read_error("the start".to_string(), e))?;
        let mut last = String::new();
        for entry in entries {
            let at = if last.is_empty() { "the first entry".to_string() } else { format!("the entry after `{last}`") };
            let mut entry = entry.map_err(|e| self.read_error(at, e))?;
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            self.entry(&mut entry, &path)?;
            last = path;
        }
        let Some(manifest) = &self.manifest else {
            return Err(BundleError::BadManifest { why: "the bundle has no entries".to_string() });
        };
        if let Some(missing) = manifest.keys().find(|p| !self.files.contains_key(*p)) {
            return Err(BundleError::MissingFile { path: missing.clone() });
        }
        for dir in &self.dirs {
            durable::sync_dir(&self.root.join(dir)).map_err(io_error("sync", &self.root.join(dir)))?;
        }
        durable::sync_dir(self.root).map_err(io_error("sync", self.root))?;
        Ok(self.files)
    }

    /// A read error of the archive: the stream cap if it tripped, else a malformed archive.
    fn read_error(&self, at: String, source: io::Error) -> BundleError {
        if self.streamed.get() > self.stream_cap {
            BundleError::StreamTooLarge { at, limit: self.stream_cap }
        } else {
            BundleError::Malformed { at, source }
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, path: &str) -> Result<(), BundleError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(BundleError::TooManyEntries { path: path.to_string(), limit: self.limits.max_entries });
        }
        if std::str::from_utf8(&entry.path_bytes()).is_err() {
            return Err(BundleError::UnsafePath { path: path.to_string(), why: "it is not utf-8" });
        }
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => return self.directory(path),
            EntryType::Symlink | EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                return Err(BundleError::Link { path: path.to_string(), target: target.unwrap_or_default() });
            }
            other => return Err(BundleError::UnsupportedEntry { path: path.to_string(), kind: kind_name(other) }),
        }
        if self.manifest.is_none() {
            return self.manifest_entry(entry, path);
        }
        self.check_new_path(path)?;
        let expected = self
            .manifest
            .as_ref()
            .and_then(|m| m.get(path))
            .cloned()
            .ok_or_else(|| BundleError::NotInManifest { path: path.to_string() })?;
        let limit = self.limits.max_file_bytes;
        if entry.size() > limit {
            return Err(BundleError::FileTooLarge { path: path.to_string(), size: entry.size(), limit });
        }
        if entry.size() != expected.size {
            return Err(BundleError::SizeMismatch {
                path: path.to_string(),
                expected: expected.size,
                actual: entry.size(),
            });
        }
        let remaining = self.limits.max_total_bytes.saturating_sub(self.total);
        let data = self.read(entry, path, limit.min(remaining))?;
        let len = data.len() as u64;
        if len > limit {
            return Err(BundleError::FileTooLarge { path: path.to_string(), size: len, limit });
        }
        if len > remaining {
            return Err(BundleError::TotalTooLarge { path: path.to_string(), limit: self.limits.max_total_bytes });
        }
        if len != expected.size {
            return Err(BundleError::SizeMismatch { path: path.to_string(), expected: expected.size, actual: len });
        }
        let sha = bundle::sha256_hex(&data);
        if sha != expected.sha256 {
            return Err(BundleError::ShaMismatch { path: path.to_string(), expected: expected.sha256, actual: sha });
        }
        self.total += len;
        self.write_file(path, &data)?;
        self.files.insert(path.to_string(), data);
        Ok(())
    }

    /// Reads at most `limit + 1` bytes of the entry, so going over shows without reading on.
    fn read<R: Read>(&self, entry: &mut tar::Entry<'_, R>, path: &str, limit: u64) -> Result<Vec<u8>, BundleError> {
        let capacity = entry.size().min(limit).min(1 << 20);
        let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        (&mut *entry)
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| self.read_error(format!("`{path}`"), e))?;
        Ok(data)
    }

    fn manifest_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, path: &str) -> Result<(), BundleError> {
        if path != MANIFEST_NAME {
            return Err(BundleError::ManifestNotFirst { path: path.to_string() });
        }
        let data = self.read(entry, path, MAX_MANIFEST_BYTES)?;
        if data.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(BundleError::FileTooLarge {
                path: path.to_string(),
                size: data.len() as u64,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        self.manifest = Some(parse_manifest(&data, self.limits)?);
        Ok(())
    }

    fn directory(&mut self, path: &str) -> Result<(), BundleError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        self.check_new_path(path)?;
        if self.manifest.is_none() {
            return Err(BundleError::ManifestNotFirst { path: path.to_string() });
        }
        self.create_dirs(path, true)
    }

    /// A new entry's path is safe, not seen before, and neither it nor an ancestor is a file.
    fn check_new_path(&self, path: &str) -> Result<(), BundleError> {
        relpath::check(path).map_err(|why| BundleError::UnsafePath { path: path.to_string(), why })?;
        if path == MANIFEST_NAME || self.files.contains_key(path) {
            return Err(BundleError::Duplicate { path: path.to_string() });
        }
        if let Some(file) = relpath::ancestors(path).find(|a| self.files.contains_key(*a)) {
            return Err(BundleError::PathConflict { path: path.to_string(), file: file.to_string() });
        }
        Ok(())
    }

    /// Creates the ancestors of `path` (and `path` itself when `inclusive`) under the root.
    fn create_dirs(&mut self, path: &str, inclusive: bool) -> Result<(), BundleError> {
        let own = inclusive.then_some(path);
        for dir in relpath::ancestors(path).chain(own) {
            if self.dirs.insert(dir.to_string()) {
                let full = self.root.join(dir);
                fs::create_dir(&full).map_err(io_error("create", &full))?;
            }
        }
        Ok(())
    }

    fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), BundleError> {
        if self.dirs.contains(path) {
            return Err(BundleError::PathConflict { path: path.to_string(), file: path.to_string() });
        }
        self.create_dirs(path, false)?;
        let full = self.root.join(path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&full)
            .map_err(io_error("create", &full))?;
        file.write_all(data).map_err(io_error("write", &full))?;
        file.sync_all().map_err(io_error("sync", &full))
    }
}

/// Parses and checks the manifest: format, safe unique paths, well-formed sha256, and sizes
/// and counts within `limits` (so an oversized release is refused before its files are read).
fn parse_manifest(data: &[u8], limits: &Limits) -> Result<BTreeMap<String, ManifestFile>, BundleError> {
    let manifest: Manifest =
        serde_json::from_slice(data).map_err(|e| BundleError::BadManifest { why: format!("invalid json: {e}") })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(BundleError::BadManifest {
            why: format!("format is {:?}, this agent reads {MANIFEST_FORMAT:?}", manifest.format),
        });
    }
    if manifest.files.len() as u64 >= limits.max_entries {
        let path = MANIFEST_NAME.to_string();
        return Err(BundleError::TooManyEntries { path, limit: limits.max_entries });
    }
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for file in manifest.files {
        let path = file.path.clone();
        relpath::check(&path).map_err(|why| BundleError::UnsafePath { path: path.clone(), why })?;
        if path == MANIFEST_NAME {
            return Err(BundleError::ReservedName { path });
        }
        if file.sha256.len() != 64 || !file.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(BundleError::BadManifest { why: format!("sha256 of `{path}` is not 64 lowercase hex digits") });
        }
        if file.size > limits.max_file_bytes {
            return Err(BundleError::FileTooLarge { path, size: file.size, limit: limits.max_file_bytes });
        }
        total = total.saturating_add(file.size);
        if total > limits.max_total_bytes {
            return Err(BundleError::TotalTooLarge { path, limit: limits.max_total_bytes });
        }
        if files.insert(path.clone(), file).is_some() {
            return Err(BundleError::Duplicate { path });
        }
    }
    Ok(files)
}

fn kind_name(kind: EntryType) -> String {
    match kind {
        EntryType::Char => "character device".to_string(),
        EntryType::Block => "block device".to_string(),
        EntryType::Fifo => "fifo".to_string(),
        EntryType::GNUSparse => "sparse file".to_string(),
        EntryType::XGlobalHeader => "pax global header".to_string(),
        other => format!("type {:?}", char::from(other.as_byte())),
    }
}

/// Counts the bytes read from `inner` and fails once more than `cap` were read.
struct Counted<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    cap: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.get().saturating_add(n as u64);
        self.read.set(total);
        if total > self.cap {
            return Err(io::Error::other(format!("decompressed stream is over {} bytes", self.cap)));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
