//! The manifest: the first entry of every bundle, naming exactly what the bundle holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_core::release::ReleaseFiles;

use crate::mode::{Mode, Modes};
use crate::{BundleError, Limits, relpath, sha256};

/// The name of the manifest entry, always the first entry of a bundle. No release file may be
/// called this.
pub const MANIFEST_NAME: &str = "sluice-manifest.json";

/// The `format` of the manifests this crate writes and reads.
pub const MANIFEST_FORMAT: &str = "sluice-bundle/1";

/// Largest manifest accepted, in bytes.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 16 << 20;

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
    /// `"0755"` for an executable file; absent (and read as `"0644"`) for any other, so
    /// manifests written before modes existed still read, and bundles without executables
    /// keep their bytes and id.
    #[serde(default, skip_serializing_if = "Mode::is_regular")]
    pub mode: Mode,
}

impl Manifest {
    /// The files that are not [`Mode::Regular`], by path.
    pub fn modes(&self) -> Modes {
        self.files.iter().filter(|f| !f.mode.is_regular()).map(|f| (f.path.clone(), f.mode)).collect()
    }
}

/// The manifest of `files` with `modes`, after checking every path. Used by
/// [`crate::pack_with`].
pub fn manifest_of(files: &ReleaseFiles, modes: &Modes) -> Result<Manifest, BundleError> {
    for path in files.keys() {
        relpath::check(path).map_err(|why| BundleError::UnsafePath { path: path.clone(), why })?;
        if path == MANIFEST_NAME {
            return Err(BundleError::ReservedName { path: path.clone() });
        }
        if let Some(file) = relpath::ancestors(path).find(|a| files.contains_key(*a)) {
            return Err(BundleError::PathConflict { path: path.clone(), file: file.to_string() });
        }
    }
    if let Some(path) = modes.keys().find(|p| !files.contains_key(*p)) {
        return Err(BundleError::ModeWithoutFile { path: path.clone() });
    }
    let files = files
        .iter()
        .map(|(path, content)| ManifestFile {
            path: path.clone(),
            size: content.len() as u64,
            sha256: sha256::hex_digest(content),
            mode: modes.get(path).copied().unwrap_or_default(),
        })
        .collect();
    Ok(Manifest { format: MANIFEST_FORMAT.to_string(), files })
}

/// Parses and checks a manifest read from a bundle: format, safe unique paths, well-formed
/// sha256, and sizes and counts within `limits` (so an oversized release is refused before its
/// files are read). Returns its files by path.
pub(crate) fn parse(data: &[u8], limits: &Limits) -> Result<BTreeMap<String, ManifestFile>, BundleError> {
    let manifest: Manifest =
        serde_json::from_slice(data).map_err(|e| BundleError::BadManifest { why: format!("invalid json: {e}") })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(BundleError::BadManifest {
            why: format!("format is {:?}, this reader reads {MANIFEST_FORMAT:?}", manifest.format),
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
        if !sha256::is_hex_digest(&file.sha256) {
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

#[cfg(test)]
mod tests;
