//! The records the store keeps, as callers see them. Times are [`Millis`] since the Unix epoch,
//! passed in by the caller (the store reads no clock); JSON documents are [`serde_json::Value`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::engine::{Rollout, TargetInfo};
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::role::Role;
use sluice_core::time::Millis;

/// The version of an applied spec: 1 for the first, one more for each apply.
pub type SpecVersion = u64;

/// Who made a change outside a rollout, when, and why; recorded in the event the store appends
/// for the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    pub actor: String,
    pub at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Audit {
    pub fn new(actor: impl Into<String>, at: Millis) -> Audit {
        Audit { actor: actor.into(), at, reason: None }
    }

    pub fn because(mut self, reason: impl Into<String>) -> Audit {
        self.reason = Some(reason.into());
        self
    }
}

/// A spec to apply: the text as written and its parsed form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSpec {
    pub text: String,
    pub parsed: Value,
    pub applied_by: String,
    pub applied_at: Millis,
    /// Services this spec drops although targets still run them (applied with `force`): each
    /// gets a [`SERVICE_DROPPED`](crate::event::kind::SERVICE_DROPPED) event in the same
    /// transaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedService>,
}

/// A service a spec drops while targets still run a release of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedService {
    pub service: String,
    /// The targets that ran it when the spec was applied.
    pub targets: Vec<TargetId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecRecord {
    pub version: SpecVersion,
    pub text: String,
    pub parsed: Value,
    pub applied_by: String,
    pub applied_at: Millis,
}

/// An immutable, content-addressed release and its change record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Its content address (`sha256:<hex>`, see [`ReleaseId`]).
    pub id: ReleaseId,
    pub service: String,
    /// The release it was made from (the known-good one, usually); must be stored already and
    /// belong to the same service.
    pub parent: Option<ReleaseId>,
    pub created_at: Millis,
    pub message: String,
    pub created_by: String,
    pub manifest: Value,
    /// Bundle size in bytes.
    pub size: u64,
}

/// A target as an agent reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetUpsert {
    pub id: TargetId,
    /// Set by operators in the agent's configuration (`env=prod`).
    pub labels: Labels,
    /// Discovered by the agent (`os=debian-12`).
    pub facts: Labels,
    pub seen_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub id: TargetId,
    pub labels: Labels,
    pub facts: Labels,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// The desired-state changes folded in so far (finished rollouts; see
    /// [`Store::desired_for`](crate::Store::desired_for) for the version with the rollouts not
    /// folded yet).
    pub desired_version: u64,
}

impl TargetRecord {
    /// The target as the planner sees it: facts and labels in one map (a label wins over a fact
    /// of the same name: operators may override what was discovered).
    pub fn info(&self) -> TargetInfo {
        let mut labels = self.facts.clone();
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        TargetInfo { id: self.id.clone(), labels, traffic_share: 0.0 }
    }
}

/// An operator's API token to store: by the hash of its secret only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub name: String,
    pub token_hash: String,
    pub role: Role,
    /// The services a deployer or approver is limited to; `None`: every service.
    pub services: Option<Vec<String>>,
    pub created_by: String,
    pub created_at: Millis,
}

/// A stored API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub name: String,
    pub role: Role,
    pub services: Option<Vec<String>>,
    pub created_by: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A one-time enrollment token, stored by hash only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEnrollmentToken {
    pub token_hash: String,
    pub created_by: String,
    pub created_at: Millis,
    /// After this instant the token is refused; `None`: never expires (until used).
    pub expires_at: Option<Millis>,
}

/// An agent enrolling: it spends a one-time token and receives its own credential, in one
/// transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub enrollment_token_hash: String,
    pub target: TargetUpsert,
    /// Hash of the agent token the server hands out in return.
    pub credential_hash: String,
}

/// One service's desired release on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    pub service: String,
    /// `None`: nothing from sluice; the agent restores what ran before sluice.
    pub release: Option<ReleaseId>,
    /// The rollout that set it.
    pub rollout: Option<String>,
    pub updated_at: Millis,
}

/// Everything a target should run, read in one snapshot with its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub target: TargetId,
    pub version: u64,
    /// By service name.
    pub services: Vec<Desired>,
}

/// A rollout as stored: the engine's state and the version to pass to the next
/// [`commit_transition`](crate::Store::commit_transition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    pub rollout: Rollout,
    pub version: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Which rollouts to list. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutFilter {
    /// Only rollouts not finished yet.
    pub active_only: bool,
    /// Only this service's.
    pub service: Option<String>,
    /// At most this many.
    pub limit: Option<u32>,
}

impl RolloutFilter {
    pub fn active() -> RolloutFilter {
        RolloutFilter { active_only: true, ..RolloutFilter::default() }
    }

    pub fn all() -> RolloutFilter {
        RolloutFilter::default()
    }

    pub fn service(mut self, service: impl Into<String>) -> RolloutFilter {
        self.service = Some(service.into());
        self
    }
}
