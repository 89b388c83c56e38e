//! Reading a bundle, trusting nothing in it. This is the one implementation of every check,
//! whether the files end up in memory ([`read_in_memory`], [`verify_in_memory`]) or on disk
//! ([`crate::verify_and_unpack`]): only the [`Sink`] differs.
//!
//! The digest, when one is expected, is checked over the exact bytes before anything is
//! parsed. The archive is then read as a stream, entry by entry, and every limit is checked on
//! the bytes actually read (a header's size is only used to refuse early, never to decide that
//! something is small): the whole decompressed stream is capped, so neither a gzip bomb nor a
//! huge GNU long-name entry can exhaust memory. Only regular files and directories with plain
//! relative paths are accepted; links of every kind, devices and fifos are refused. Every file
//! must be listed in the manifest with its size and sha256, and every listed file must be
//! there. A file's mode comes from the manifest, never from its tar header.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::rc::Rc;

use sluice_core::release::ReleaseFiles;
use tar::EntryType;

use crate::manifest::{self, MANIFEST_FORMAT, MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, ManifestFile};
use crate::mode::Mode;
use crate::sha256::{digest, digest_hex};
use crate::{BundleError, Limits, relpath, sha256};

/// Headers, long names and padding allowed per entry on top of the file bytes, when capping
/// the decompressed stream.
const OVERHEAD_PER_ENTRY: u64 = 8 << 10;

/// A bundle that passed every check, read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Its digest, `sha256:<hex>`: the release id.
    pub id: String,
    /// Its manifest, files in path order and modes normalised.
    pub manifest: Manifest,
    /// Its files, by path (what validators read).
    pub files: ReleaseFiles,
}

/// Checks `bytes` against `limits` and reads the bundle into memory, without touching the
/// disk. Its id is computed from the bytes: use this for a bundle that has no id yet (an
/// upload).
pub fn read_in_memory(bytes: &[u8], limits: &Limits) -> Result<Bundle, BundleError> {
    check_size(bytes, limits)?;
    let id = digest(bytes);
    let (manifest, files) = walk(bytes, limits, &mut InMemory)?;
    Ok(Bundle { id, manifest, files })
}

/// Checks `bytes` against `expected_digest` (before parsing anything) and `limits`, and reads
/// the bundle into memory, without touching the disk.
pub fn verify_in_memory(bytes: &[u8], expected_digest: &str, limits: &Limits) -> Result<Bundle, BundleError> {
    verify(bytes, expected_digest, limits)?;
    let (manifest, files) = walk(bytes, limits, &mut InMemory)?;
    Ok(Bundle { id: expected_digest.to_string(), manifest, files })
}

/// The checks made before a byte is parsed: a well-formed expected digest, the bundle size
/// limit, and the digest of the bytes.
pub(crate) fn verify(bytes: &[u8], expected_digest: &str, limits: &Limits) -> Result<(), BundleError> {
    digest_hex(expected_digest)?;
    check_size(bytes, limits)?;
    let actual = digest(bytes);
    if actual != expected_digest {
        return Err(BundleError::DigestMismatch { expected: expected_digest.to_string(), actual });
    }
    Ok(())
}

fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), BundleError> {
    let size = bytes.len() as u64;
    if size > limits.max_bundle_bytes {
        return Err(BundleError::BundleTooLarge { size, limit: limits.max_bundle_bytes });
    }
    Ok(())
}

/// Where the entries of a bundle go once they passed every check.
pub(crate) trait Sink {
    /// A new directory of the release, called once, after its parent.
    fn directory(&mut self, path: &str) -> Result<(), BundleError>;
    /// A file of the release whose size and sha256 match the manifest, after its directory.
    fn file(&mut self, path: &str, data: &[u8], mode: Mode) -> Result<(), BundleError>;
}

/// Keeps nothing beyond what [`walk`] returns.
struct InMemory;

impl Sink for InMemory {
    fn directory(&mut self, _: &str) -> Result<(), BundleError> {
        Ok(())
    }

    fn file(&mut self, _: &str, _: &[u8], _: Mode) -> Result<(), BundleError> {
        Ok(())
    }
}

/// Reads the archive in `bytes` (plain or gzip), checking every entry against the manifest
/// and `limits`, and hands what passes to `sink`. Returns the manifest (normalised) and the
/// files.
pub(crate) fn walk<S: Sink>(
    bytes: &[u8],
    limits: &Limits,
    sink: &mut S,
) -> Result<(Manifest, ReleaseFiles), BundleError> {
    Walker::new(limits, sink).run(bytes)
}

/// The state of the checks while reading one archive stream.
struct Walker<'a, S> {
    limits: &'a Limits,
    sink: &'a mut S,
    /// Bytes of decompressed stream read so far, shared with the [`Counted`] reader.
    streamed: Rc<Cell<u64>>,
    stream_cap: u64,
    manifest: Option<BTreeMap<String, ManifestFile>>,
    files: ReleaseFiles,
    dirs: BTreeSet<String>,
    entries: u64,
    total: u64,
}

impl<'a, S: Sink> Walker<'a, S> {
    fn new(limits: &'a Limits, sink: &'a mut S) -> Self {
        let stream_cap = limits
            .max_total_bytes
            .saturating_add(limits.max_entries.saturating_add(2).saturating_mul(OVERHEAD_PER_ENTRY))
            .saturating_add(MAX_MANIFEST_BYTES);
        Walker {
            limits,
            sink,
            streamed: Rc::new(Cell::new(0)),
            stream_cap,
            manifest: None,
            files: ReleaseFiles::new(),
            dirs: BTreeSet::new(),
            entries: 0,
            total: 0,
        }
    }

    fn run(mut self, bytes: &[u8]) -> Result<(Manifest, ReleaseFiles), BundleError> {
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
        let Some(listed) = self.manifest else {
            return Err(BundleError::BadManifest { why: "the bundle has no entries".to_string() });
        };
        if let Some(missing) = listed.keys().find(|p| !self.files.contains_key(*p)) {
            return Err(BundleError::MissingFile { path: missing.clone() });
        }
        let manifest = Manifest { format: MANIFEST_FORMAT.to_string(), files: listed.into_values().collect() };
        Ok((manifest, self.files))
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
        let sha = sha256::hex_digest(&data);
        if sha != expected.sha256 {
            return Err(BundleError::ShaMismatch { path: path.to_string(), expected: expected.sha256, actual: sha });
        }
        if self.dirs.contains(path) {
            return Err(BundleError::PathConflict { path: path.to_string(), file: path.to_string() });
        }
        self.total += len;
        self.add_dirs(path, false)?;
        self.sink.file(path, &data, expected.mode)?;
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
        self.manifest = Some(manifest::parse(&data, self.limits)?);
        Ok(())
    }

    fn directory(&mut self, path: &str) -> Result<(), BundleError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        self.check_new_path(path)?;
        if self.manifest.is_none() {
            return Err(BundleError::ManifestNotFirst { path: path.to_string() });
        }
        self.add_dirs(path, true)
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

    /// Records the ancestors of `path` (and `path` itself when `inclusive`) as directories,
    /// handing each new one to the sink, parents first.
    fn add_dirs(&mut self, path: &str, inclusive: bool) -> Result<(), BundleError> {
        let own = inclusive.then_some(path);
        for dir in relpath::ancestors(path).chain(own) {
            if self.dirs.insert(dir.to_string()) {
                self.sink.directory(dir)?;
            }
        }
        Ok(())
    }
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
mod tests {
    use super::*;

    #[test]
    fn counted_reader_fails_past_its_cap() {
        let read = Rc::new(Cell::new(0));
        let mut counted = Counted { inner: &[0u8; 100][..], read: Rc::clone(&read), cap: 50 };
        let mut out = Vec::new();
        assert!(counted.read_to_end(&mut out).is_err());
        assert!(read.get() > 50);
    }

    #[test]
    fn names_entry_kinds() {
        assert_eq!(kind_name(EntryType::Fifo), "fifo");
        assert_eq!(kind_name(EntryType::Char), "character device");
        assert_eq!(kind_name(EntryType::new(b'Q')), "type 'Q'");
    }
}
