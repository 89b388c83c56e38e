//! Why a bundle was refused, packing, reading or unpacking. Messages read after "failed to …" and name
//! the entry.

use std::io;

/// Why a bundle could not be packed, verified, read or unpacked. [`BundleError::reason`] is the
/// stable string reported to the server and counted in metrics.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("verify bundle: expected digest {digest:?} is not `sha256:` and 64 lowercase hex digits")]
    InvalidDigest { digest: String },
    #[error("verify bundle: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("accept bundle: it is {size} bytes, over the limit of {limit}")]
    BundleTooLarge { size: u64, limit: u64 },
    #[error("unpack `{path}`: it is at least {size} bytes, over the per-file limit of {limit}")]
    FileTooLarge { path: String, size: u64, limit: u64 },
    #[error("unpack `{path}`: the release would be over the total limit of {limit} bytes")]
    TotalTooLarge { path: String, limit: u64 },
    #[error("unpack `{path}`: the bundle has more than {limit} entries")]
    TooManyEntries { path: String, limit: u64 },
    #[error("read bundle at {at}: the unpacked stream is over {limit} bytes")]
    StreamTooLarge { at: String, limit: u64 },
    #[error("unpack `{path}`: unsafe path, {why}")]
    UnsafePath { path: String, why: &'static str },
    #[error("unpack `{path}`: it is a link to `{target}`, and bundles may not contain links of any kind")]
    Link { path: String, target: String },
    #[error("unpack `{path}`: {kind} entries are not allowed, only regular files and directories")]
    UnsupportedEntry { path: String, kind: String },
    #[error("unpack `{path}`: the bundle has this path twice")]
    Duplicate { path: String },
    #[error("unpack `{path}`: `{file}` is a file, so it cannot also be a directory")]
    PathConflict { path: String, file: String },
    #[error("pack `{path}`: the name is reserved for the bundle manifest")]
    ReservedName { path: String },
    #[error("pack `{path}`: a mode is given for it, but the release has no such file")]
    ModeWithoutFile { path: String },
    #[error("read the manifest: the first entry is `{path}`, expected `sluice-manifest.json`")]
    ManifestNotFirst { path: String },
    #[error("read the manifest: {why}")]
    BadManifest { why: String },
    #[error("unpack `{path}`: it is not in the manifest")]
    NotInManifest { path: String },
    #[error("unpack `{path}`: the manifest lists it but the bundle does not contain it")]
    MissingFile { path: String },
    #[error("unpack `{path}`: {actual} bytes, the manifest says {expected}")]
    SizeMismatch { path: String, expected: u64, actual: u64 },
    #[error("unpack `{path}`: sha256 {actual}, the manifest says {expected}")]
    ShaMismatch { path: String, expected: String, actual: String },
    #[error("read bundle at {at}: it is not a valid tar archive ({source})")]
    Malformed {
        at: String,
        #[source]
        source: io::Error,
    },
    #[error("unpack into `{path}`: it already exists")]
    DestExists { path: String },
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl BundleError {
    /// The stable reason reported to the server: `digest_mismatch`, `too_large`,
    /// `unsafe_path`, `link`, `manifest`, `malformed` or `io`.
    pub fn reason(&self) -> &'static str {
        match self {
            BundleError::InvalidDigest { .. } | BundleError::DigestMismatch { .. } => "digest_mismatch",
            BundleError::BundleTooLarge { .. }
            | BundleError::FileTooLarge { .. }
            | BundleError::TotalTooLarge { .. }
            | BundleError::TooManyEntries { .. }
            | BundleError::StreamTooLarge { .. } => "too_large",
            BundleError::UnsafePath { .. }
            | BundleError::UnsupportedEntry { .. }
            | BundleError::Duplicate { .. }
            | BundleError::PathConflict { .. }
            | BundleError::ReservedName { .. } => "unsafe_path",
            BundleError::Link { .. } => "link",
            BundleError::ManifestNotFirst { .. }
            | BundleError::BadManifest { .. }
            | BundleError::NotInManifest { .. }
            | BundleError::MissingFile { .. }
            | BundleError::ModeWithoutFile { .. }
            | BundleError::SizeMismatch { .. }
            | BundleError::ShaMismatch { .. } => "manifest",
            BundleError::Malformed { .. } => "malformed",
            BundleError::DestExists { .. } | BundleError::Io { .. } => "io",
        }
    }
}
