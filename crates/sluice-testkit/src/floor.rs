//! The floor: the least a long-poll control plane of sluice's shape can cost on this machine,
//! measured in the same run as sluice so the benchmark's figure is a ratio that survives a noisy
//! machine. [`server`] is a minimal axum server (same axum, tokio and listen backlog as
//! `sluice server`) that holds long-polls on one version number and releases them all at once;
//! [`client`] runs clients of the fake agents' shape (one shared HTTP client, a poll task and a
//! report task per client, a ~300-byte report after every new version and every interval).
//!
//! The floor does what sluice's agent path must do at the least — answer a held poll with a
//! small JSON, take a report — and nothing sluice must do beyond it: no auth lookup, no store,
//! no rollout engine. It speaks `sluice_api`'s own wire types ([`sluice_api::DesiredView`],
//! [`sluice_api::Report`]) so the bytes on the wire and their (de)serialisation match.
//!
//! Routes: `GET /poll?after=V&wait_ms=W` (answers when the version passes `V`, else after `W`
//! ms), `POST /report` (a JSON [`sluice_api::Report`], answered 204), `POST /release` (bump the
//! version; answers [`Released`] with the decision time), `GET /stats` ([`Stats`]),
//! `GET /healthz`.

use serde::{Deserialize, Serialize};
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;

pub mod client;
pub mod server;

#[cfg(test)]
mod tests;

/// The one service the floor's desired state names.
pub const SERVICE: &str = "bench";

/// `POST /release`: the version released and when the server decided it (ms since the Unix
/// epoch, the same clock as sluice's `wave_started` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    pub version: u64,
    pub decided_at: Millis,
}

/// `GET /stats`: what the server has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The current version (0 before the first release).
    pub version: u64,
    /// Reports taken since the start.
    pub reports: u64,
    /// Reports naming the current version's release as running, since it was released.
    pub reports_current: u64,
}

/// The release a version stands for (`None` for version 0: nothing released yet), spelt like
/// a sluice release id (64 hex digits).
pub fn release_of(version: u64) -> Option<ReleaseId> {
    (version > 0).then(|| ReleaseId(format!("{version:064x}")))
}
