//! Releases: immutable, content-addressed bundles of a service's files.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The id of a release: `sha256:<hex>` of its bundle (see `sluice-bundle`), any unique string in the
/// simulator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseId(pub String);

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ReleaseId {
    fn from(s: &str) -> Self {
        ReleaseId(s.to_string())
    }
}

/// The id of a target (a node running `sluice agent`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetId(pub String);

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TargetId {
    fn from(s: &str) -> Self {
        TargetId(s.to_string())
    }
}

/// The files of a release, by relative path (`/`-separated, no `..`), in memory. Validators run
/// over this; the caller (CLI, server, agent) reads it from disk or a bundle.
pub type ReleaseFiles = BTreeMap<String, Vec<u8>>;
