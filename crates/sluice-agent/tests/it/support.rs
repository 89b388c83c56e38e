//! Fixtures: release files, hand-made (hostile) tar archives, and a look at everything on disk.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_agent::bundle::{MANIFEST_FORMAT, MANIFEST_NAME, Manifest, ManifestFile};
use sluice_core::release::ReleaseFiles;
use tar::EntryType;

pub fn files(list: &[(&str, &str)]) -> ReleaseFiles {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    sluice_agent::digest(data).trim_start_matches("sha256:").to_string()
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
                    sha256: sha256_hex(data),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&manifest).unwrap();
        self.file(MANIFEST_NAME, &json)
    }

    /// A regular file whose header tells the truth.
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name.as_bytes(), EntryType::Regular, data.len() as u64, data, b"")
    }

    /// Any entry: `header_size` is what the header claims, `data` what follows it.
    pub fn entry(mut self, name: &[u8], kind: EntryType, header_size: u64, data: &[u8], link: &[u8]) -> Self {
        let mut header = tar::Header::new_gnu();
        {
            let old = header.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(kind);
        header.set_size(header_size);
        header.set_mode(0o644);
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
