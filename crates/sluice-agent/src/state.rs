//! A service's `state.json` on the node: which release is current, which was before it, which
//! is known-good, and a bounded history of what happened. Written atomically (temporary file,
//! fsync, rename), so a crash leaves the old or the new state, never half of one.

use std::path::Path;
use std::{fs, io};

use serde::{Deserialize, Serialize};
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;

use crate::durable;

/// History entries kept at least (more when retention keeps more releases).
pub const HISTORY_LEN: usize = 100;

/// The state of one service on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The release the `current` symlink points to.
    pub current: Option<ReleaseId>,
    /// The release that was current before it: what a failed apply switches back to.
    pub previous: Option<ReleaseId>,
    /// The last release marked known-good; never deleted.
    pub known_good: Option<ReleaseId>,
    /// What happened, oldest first, bounded.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// One thing that happened to a service on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When, by the store's clock.
    pub at: Millis,
    pub release: ReleaseId,
    pub event: HistoryEvent,
    /// For refusals and switch-backs, the failure's stable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a [`HistoryEntry`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryEvent {
    /// The release was applied and is current.
    Applied,
    /// The release was refused before the switch (verification, validation, check).
    Refused,
    /// The release was switched to, failed reload or probe, and was switched away from.
    SwitchedBack,
    /// `rollback_to` made this release current.
    RolledBack,
    /// The release was marked known-good.
    MarkedKnownGood,
    /// On open, the `current` symlink disagreed with the state file; the link won.
    Reconciled,
}

impl ServiceState {
    /// Reads `path`; a missing file is the empty state. A file that does not parse is an
    /// error: the agent never guesses what it runs.
    pub fn load(path: &Path) -> io::Result<ServiceState> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::from),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ServiceState::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the state to `path` atomically.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(io::Error::from)?;
        bytes.push(b'\n');
        durable::write_atomic(path, &bytes)
    }

    /// Appends to the history, dropping the oldest entries past `keep`.
    pub fn record(&mut self, entry: HistoryEntry, keep: usize) {
        self.history.push(entry);
        let excess = self.history.len().saturating_sub(keep.max(1));
        self.history.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> HistoryEntry {
        HistoryEntry { at: Millis(n), release: ReleaseId(format!("r{n}")), event: HistoryEvent::Applied, reason: None }
    }

    #[test]
    fn round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(ServiceState::load(&path).unwrap(), ServiceState::default());
        let mut state = ServiceState { current: Some("a".into()), known_good: Some("a".into()), ..Default::default() };
        state.record(entry(1), 10);
        state.save(&path).unwrap();
        assert_eq!(ServiceState::load(&path).unwrap(), state);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"event\": \"applied\""), "{text}");
    }

    #[test]
    fn a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"{not json").unwrap();
        assert!(ServiceState::load(&path).is_err());
    }

    #[test]
    fn history_is_bounded() {
        let mut state = ServiceState::default();
        for n in 0..10 {
            state.record(entry(n), 3);
        }
        let kept: Vec<_> = state.history.iter().map(|e| e.at.0).collect();
        assert_eq!(kept, [7, 8, 9]);
    }
}
