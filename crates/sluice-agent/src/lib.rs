//! `sluice-agent` owns the node side of a rollout, where outages happen: the per-service
//! release store ([`ReleaseStore`]) that has a downloaded bundle verified and unpacked beside
//! the live release (by `sluice-bundle`, which owns the format and every check of it),
//! validates the release and runs its `check` hook while the old release still serves, switches
//! the `current` symlink atomically, runs `reload` and the `health` probe, switches back on any
//! failure, keeps the last releases and never deletes known-good.
//!
//! It must never switch to a release that failed verification, validation or `check`; never
//! leave a half-unpacked release where a release is expected; never write outside the service's
//! directory whatever a bundle contains; never delete the current, previous or known-good
//! release; and never panic on bytes that came from outside the process. Every failure is a
//! typed error with a stable [`ApplyError::reason`] for reports and metrics.
//!
//! The agent runtime ([`runtime::run`], `sluice agent`) talks to the server: enrollment and
//! the saved [`credential`], long-polled desired state decided by the pure [`runtime::plan`],
//! and reports whose health samples come from the service's Prometheus endpoint ([`scrape`],
//! [`histogram`], [`sampler`]), synthetic HTTP probes ([`synthetic`]) and a command
//! ([`command_source`]). The agent's own metrics: [`telemetry`]. Configuration: [`config`].

pub mod backoff;
pub mod clock;
pub mod command_source;
pub mod config;
pub mod credential;
mod durable;
pub mod facts;
pub mod histogram;
pub mod hook;
pub mod outcome;
pub mod probe;
mod release_dir;
pub mod releases;
mod retention;
pub mod rss;
pub mod runtime;
pub mod sampler;
pub mod scrape;
pub mod state;
pub mod synthetic;
pub mod telemetry;
#[cfg(test)]
mod test_desired_server;
#[cfg(test)]
mod test_server;

pub use clock::{Clock, SystemClock};
pub use config::AgentConfig;
pub use outcome::{ApplyError, ApplyFailure, ApplyOutcome};
pub use releases::{ReleaseStore, StoreConfig};
pub use runtime::{AgentError, RunOptions, run, run_with};
pub use state::{HistoryEntry, HistoryEvent, ServiceState};
