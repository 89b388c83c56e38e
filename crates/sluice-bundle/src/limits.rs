//! How much one bundle may hold.

/// What a reader accepts from one bundle. Sizes are checked while reading, never from a header
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
