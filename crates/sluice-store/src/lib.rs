//! `sluice-store` owns everything the sluice server keeps across restarts: applied specs,
//! releases and their bundle bytes, each service's standing (known-good, active rollout, hold),
//! rollouts with an optimistic version, targets and their agent credentials, one-time
//! enrollment tokens, the desired state of every target, and the append-only event log that
//! is the audit trail. It offers one async [`Store`] trait and its embedded implementation,
//! [`SqliteStore`] (one file under the data directory); PostgreSQL comes behind the same trait.
//!
//! It must never decide anything: no rollout logic, no policy, no clock reads (times are passed
//! in as [`Millis`](sluice_core::time::Millis)), no secrets in the clear (tokens arrive hashed).
//! It must never change or delete an event, never write part of a transition, and never
//! panic on data it reads back: what does not decode is [`StoreError::Corrupt`].

pub mod error;
pub mod event;
pub mod model;
pub mod sqlite;
pub mod store;
pub mod transition;

pub use error::{Result, StoreError};
pub use event::{EventSeq, NewEvent, StoredEvent};
pub use model::{
    ApiTokenRecord, Audit, Desired, DesiredState, DroppedService, Enrollment, NewApiToken, NewEnrollmentToken, NewSpec,
    Release, RolloutFilter, RolloutRecord, SpecRecord, SpecVersion, TargetRecord, TargetUpsert,
};
pub use sqlite::{SqliteSettings, SqliteStore};
pub use store::Store;
pub use transition::{Committed, DesiredChange, Transition, split_actions};
