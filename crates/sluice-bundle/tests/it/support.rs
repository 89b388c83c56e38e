//! Fixtures: release files, hand-made (hostile) tar archives, and a look at everything on disk.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_bundle::sha256::hex_digest;
use sluice_bundle::{Bundle, BundleError, Limits, MANIFEST_FORMAT, MANIFEST_NAME, Manifest, ManifestFile, Mode};
use sluice_core::release::ReleaseFiles;
use tar::EntryType;

pub fn files(list: &[(&str, &str)]) -> ReleaseFiles {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

/// A tar archive written header by header, so it can lie, link, escape and repeat.
#[derive(Default)]
pub struct RawTar {
    bytes: Vec<u8>,
}

impl RawTar {
    pub fn new() -> Self {
        RawTar::default()
    }

    /// A manifest entry listing `files` honestly.
    pub fn manifest(self, files: &[(&str, &[u8])]) -> Self {
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            files: files
                .iter()
                .map(|(path, data)| ManifestFile {
                    path: path.to_string(),
                    size: data.len() as u64,
                    sha256: hex_digest(data),
                    mode: Mode::Regular,
                })
                .collect(),
        };
        let json = serde_json::to_vec(&manifest).unwrap();
        self.file(MANIFEST_NAME, &json)
    }

    /// A manifest entry listing `files` honestly, with a raw `mode` string for each (what a
    /// hand-made manifest could say).
    pub fn manifest_with_modes(self, files: &[(&str, &[u8], &str)]) -> Self {
        let listed: Vec<_> = files
            .iter()
            .map(|(path, data, mode)| {
                serde_json::json!({ "path": path, "size": data.len(), "sha256": hex_digest(data), "mode": mode })
            })
            .collect();
        let json = serde_json::to_vec(&serde_json::json!({ "format": MANIFEST_FORMAT, "files": listed })).unwrap();
        self.file(MANIFEST_NAME, &json)
    }

    /// A regular file whose header tells the truth.
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name.as_bytes(), EntryType::Regular, data.len() as u64, data, b"")
    }

    /// A regular file whose header says `mode`.
    pub fn file_with_header_mode(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, data.len() as u64, data, b"", mode)
    }

    /// Any entry: `header_size` is what the header claims, `data` what follows it.
    pub fn entry(self, name: &[u8], kind: EntryType, header_size: u64, data: &[u8], link: &[u8]) -> Self {
        self.raw(name, kind, header_size, data, link, 0o644)
    }

    fn raw(mut self, name: &[u8], kind: EntryType, header_size: u64, data: &[u8], link: &[u8], mode: u32) -> Self {
        let mut header = tar::Header::new_gnu();
        {
            let old = header.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(kind);
        header.set_size(header_size);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let rem = self.bytes.len() % 512;
        if rem != 0 {
            self.bytes.resize(self.bytes.len() + 512 - rem, 0);
        }
    }

    /// The archive with its end marker.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.resize(self.bytes.len() + 1024, 0);
        self.bytes
    }

    /// The archive without an end marker, cut at `len` bytes.
    pub fn truncated(self, len: usize) -> Vec<u8> {
        let mut bytes = self.bytes;
        bytes.truncate(len);
        bytes
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Every path under `root`, relative, sorted (symlinks not followed).
pub fn everything_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A scratch root with `svc/releases/` and the destination `svc/releases/r1` inside it.
#[derive(Debug)]
pub struct Scratch {
    pub root: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("svc/releases")).unwrap();
        Scratch { root }
    }

    pub fn dest(&self) -> PathBuf {
        self.root.path().join("svc/releases/r1")
    }

    /// After a refusal: nothing at the destination, no leftovers, nothing written anywhere
    /// under the root, and in particular no `evil`.
    pub fn assert_untouched(&self) {
        assert!(!self.dest().exists());
        assert_eq!(everything_under(self.root.path()), ["svc", "svc/releases"]);
        assert!(!Path::new("/evil").exists() && !Path::new("/tmp/evil").exists());
    }
}

/// Reads `bytes` both ways, in memory and onto a fresh disk (with their true digest), and
/// checks that both readers agree: the same bundle, or the same refusal. A refusal leaves the
/// disk untouched.
pub fn read_both_ways(bytes: &[u8], limits: &Limits) -> Result<(Bundle, Scratch), BundleError> {
    let digest = sluice_bundle::digest(bytes);
    let in_memory = sluice_bundle::read_in_memory(bytes, limits);
    let verified = sluice_bundle::verify_in_memory(bytes, &digest, limits);
    let scratch = Scratch::new();
    let on_disk = sluice_bundle::verify_and_unpack(bytes, &digest, limits, &scratch.dest());
    match (in_memory, verified, on_disk) {
        (Ok(a), Ok(b), Ok(c)) => {
            assert_eq!(a, b);
            assert_eq!(a, c);
            Ok((c, scratch))
        }
        (Err(a), Err(b), Err(c)) => {
            assert_eq!(a.to_string(), b.to_string());
            assert_eq!(a.to_string(), c.to_string());
            scratch.assert_untouched();
            Err(c)
        }
        (a, b, c) => panic!("the readers disagree: in memory {a:?}, verified in memory {b:?}, on disk {c:?}"),
    }
}
