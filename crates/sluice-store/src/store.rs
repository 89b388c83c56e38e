//! The [`Store`] trait: everything the server keeps, behind one interface that SQLite (the
//! embedded default) and PostgreSQL (for HA, later) implement alike.
//!
//! The contract, for every implementation:
//! - Each method is one transaction: it happens entirely or not at all.
//! - Every change appends its audit event(s) in the same transaction (see [`crate::event`]).
//! - Event sequence numbers grow in commit order: paging with `events_since` never skips an
//!   event that commits later.
//! - `get_*` of a missing record is [`StoreError::NotFound`](crate::StoreError::NotFound);
//!   lookups that may legitimately find nothing return `Option`.
//! - Times are passed in; the store reads no clock.

use async_trait::async_trait;
use sluice_core::engine::ServiceState;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;

use crate::error::Result;
use crate::event::{EventSeq, NewEvent, StoredEvent};
use crate::model::{
    ApiTokenRecord, Audit, DesiredState, Enrollment, NewApiToken, NewEnrollmentToken, NewSpec, Release, RolloutFilter,
    RolloutRecord, SpecRecord, SpecVersion, TargetRecord, TargetUpsert,
};
use crate::transition::{Committed, Transition};

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // --- admin ---

    /// The hash of the admin token, once set.
    async fn admin_token_hash(&self) -> Result<Option<String>>;
    /// Set the admin token hash unless one is set (first start); true if this call set it.
    async fn init_admin_token_hash(&self, hash: &str, audit: &Audit) -> Result<bool>;
    /// Replace the admin token hash (rotation).
    async fn replace_admin_token_hash(&self, hash: &str, audit: &Audit) -> Result<()>;

    // --- specs ---

    /// Store a new spec version; returns its version (1 for the first).
    async fn put_spec(&self, spec: &NewSpec) -> Result<SpecVersion>;
    /// The latest applied spec, if any was.
    async fn current_spec(&self) -> Result<Option<SpecRecord>>;
    async fn get_spec(&self, version: SpecVersion) -> Result<SpecRecord>;

    // --- releases and bundles ---

    /// Store a release. Releases are immutable: storing one again is a no-op (false); the same
    /// id for another service is a conflict. Its parent must be stored, for the same service.
    async fn put_release(&self, release: &Release) -> Result<bool>;
    async fn get_release(&self, id: &ReleaseId) -> Result<Release>;
    /// A service's releases, newest first.
    async fn list_releases(&self, service: &str) -> Result<Vec<Release>>;
    /// Store bundle bytes under `sha256:<hex>` of the bytes (checked); false if already there.
    async fn put_bundle(&self, digest: &str, bytes: &[u8], at: Millis) -> Result<bool>;
    async fn get_bundle(&self, digest: &str) -> Result<Vec<u8>>;

    // --- services ---

    /// A service's standing; the default (no known-good, nothing active, no hold) if never set.
    async fn get_service_state(&self, service: &str) -> Result<ServiceState>;
    /// Every service with a stored state, by name.
    async fn list_service_states(&self) -> Result<Vec<(String, ServiceState)>>;
    /// Set a service's standing outside a rollout (a person clears a hold).
    async fn put_service_state(&self, service: &str, state: &ServiceState, audit: &Audit) -> Result<()>;

    // --- rollouts ---

    /// Write a new rollout (version 1), its plan (stored once) and its first transition: the
    /// service state that marks it active, the `started` events. A rollout with the same id,
    /// or another active rollout of the service, is a conflict.
    async fn create_rollout(&self, transition: &Transition<'_>) -> Result<Committed>;
    /// Write a rollout's next state (its cursor: the plan is not written again), its service
    /// state and its events in one transaction, if the stored version is still
    /// `expected_version`; otherwise a conflict and nothing is written. O(1) in the fleet
    /// size: desired state follows from the plan and the state (see [`Store::desired_for`]).
    async fn commit_transition(&self, expected_version: u64, transition: &Transition<'_>) -> Result<Committed>;
    async fn get_rollout(&self, id: &str) -> Result<RolloutRecord>;
    /// Rollouts whose id starts with `prefix`, newest first, at most `limit` (to resolve a
    /// short id: one match is the rollout, two are ambiguous).
    async fn rollouts_with_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<RolloutRecord>>;
    async fn list_rollouts(&self, filter: &RolloutFilter) -> Result<Vec<RolloutRecord>>;

    // --- targets and agents ---

    /// Record a target's report: created on first sight, labels and facts replaced, last seen
    /// moved. Appends an event when the target is new or its labels or facts changed.
    async fn upsert_target(&self, target: &TargetUpsert) -> Result<TargetRecord>;
    /// Upsert many targets in one transaction (batched heartbeats: last-seen and facts).
    async fn upsert_targets(&self, targets: &[TargetUpsert]) -> Result<()>;
    async fn get_target(&self, id: &TargetId) -> Result<TargetRecord>;
    /// Every target, by id.
    async fn list_targets(&self) -> Result<Vec<TargetRecord>>;
    /// Set (or replace) the hash of a target's agent token.
    async fn put_agent_credential(&self, target: &TargetId, token_hash: &str, audit: &Audit) -> Result<()>;
    /// The target an agent token hash belongs to.
    async fn agent_by_token_hash(&self, token_hash: &str) -> Result<Option<TargetId>>;
    /// Store an operator's API token (and its event); `Conflict` if the name or the hash is
    /// taken (names are never reused, revoked or not).
    async fn create_api_token(&self, token: &NewApiToken) -> Result<()>;
    /// Every API token, revoked ones too, by name.
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>>;
    /// Revoke a token (and record it); `NotFound` for an unknown name, `Conflict` if it was
    /// revoked already.
    async fn revoke_api_token(&self, name: &str, audit: &Audit) -> Result<ApiTokenRecord>;
    /// The token a secret's hash belongs to, unless it was revoked.
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>>;
    async fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()>;
    /// Create several enrollment tokens in one transaction: all of them or none.
    async fn create_enrollment_tokens(&self, tokens: &[NewEnrollmentToken]) -> Result<()>;
    /// Spend a one-time enrollment token: registers the target and sets its credential. An
    /// unknown token is not found; a used or expired one is a conflict.
    async fn enroll(&self, enrollment: &Enrollment) -> Result<TargetRecord>;

    // --- desired state ---

    /// What the target should run, per service, with the version of that state: what the
    /// newest rollout not yet folded that touched it says, else what folded rollouts left.
    async fn desired_for(&self, target: &TargetId) -> Result<DesiredState>;
    /// Just the version, for long-polls that wait for a change.
    async fn desired_version(&self, target: &TargetId) -> Result<u64>;
    /// The desired state of every target (those with no desired release too), by target id,
    /// read in one snapshot: what a server loads into memory at start.
    async fn all_desired(&self) -> Result<Vec<DesiredState>>;
    /// Fold the oldest finished rollout not folded yet (when every rollout before it is) into
    /// the stored desired state, in one transaction; returns it and how many targets it wrote.
    /// Desired state reads the same before and after: folding only bounds how many rollouts a
    /// read lays over the stored rows. `None` when there is nothing to fold.
    async fn fold_finished_rollout(&self) -> Result<Option<(String, usize)>>;

    // --- events ---

    /// Append events that record something outside a rollout transition; returns their
    /// sequence numbers. There is no way to change or delete an event.
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<EventSeq>>;
    /// Up to `limit` events after `after`, in order.
    async fn events_since(&self, after: EventSeq, limit: u32) -> Result<Vec<StoredEvent>>;
    /// Every event of a rollout, in order.
    async fn events_for_rollout(&self, rollout: &str) -> Result<Vec<StoredEvent>>;
    /// The sequence number of the latest event ([`EventSeq::ZERO`] for an empty log).
    async fn last_event_seq(&self) -> Result<EventSeq>;
}
