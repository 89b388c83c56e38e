//! `sluice-bundle` owns the release bundle: the format (a deterministic tar, gzip-compressed
//! or not, whose first entry is the [`Manifest`] naming every file with its size, sha256 and
//! [`Mode`]), packing it ([`pack`], [`pack_with_modes`]), the release id ([`digest`]: `sha256:`
//! of the bundle's bytes, the one sha256 helper of sluice in [`sha256`]), and reading a bundle
//! that came from outside, with one implementation of every check, into memory
//! ([`read_in_memory`], [`verify_in_memory`], for the server) or onto disk
//! ([`verify_and_unpack`], for the agent).
//!
//! It must never trust a byte of a bundle it reads: it refuses a wrong digest before parsing,
//! paths that are absolute or hold `..`, links of any kind, devices, duplicates, entries not in
//! the manifest and files over the [`Limits`], checked on the bytes actually read. It must
//! never write outside the destination it is given, never leave a half-unpacked release there,
//! never create a setuid, setgid or group- or world-writable file whatever a manifest says,
//! and never panic on bytes from outside the process. It depends on nothing of the CLI, the
//! server or the agent, and knows nothing of services, hooks or the `current` release: applying
//! a release is the agent's job.

mod durable;
mod error;
mod limits;
pub mod manifest;
mod mode;
mod pack;
mod read;
mod relpath;
pub mod sha256;
mod unpack;

pub use durable::TEMP_PREFIX;
pub use error::BundleError;
pub use limits::Limits;
pub use manifest::{MANIFEST_FORMAT, MANIFEST_NAME, Manifest, ManifestFile, manifest_of};
pub use mode::{Mode, Modes};
pub use pack::{BundleCompression, pack, pack_with, pack_with_modes};
pub use read::{Bundle, read_in_memory, verify_in_memory};
pub use sha256::{digest, digest_hex};
pub use unpack::verify_and_unpack;
