//! What operators (the CLI, scripts, the dashboard) send and get back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::change::{ChangeRecord, Risk};
use sluice_core::engine::{Approval, BreakGlass, Deadline, GateEval, Outcome, PhaseKind};
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::role::Role;
use sluice_core::time::Millis;
use sluice_core::validate::ValidationReport;

/// `POST /v1/specs`: the spec as written; the server parses and checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplySpec {
    pub text: String,
    /// The file name, for error locations (`sluice.yaml:12:5`).
    #[serde(default)]
    pub file: Option<String>,
    /// Apply even though the spec drops services targets still run (audited).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecApplied {
    pub version: u64,
    /// False when the text equals the current spec (nothing stored).
    pub changed: bool,
    pub services: Vec<String>,
    pub pipelines: Vec<String>,
    /// Problems that do not refuse the spec, located (`sluice.yaml:12:5: at `path`: ...`).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The server's report interval (ms), which gate windows and `min_samples` were checked
    /// against (0 from a server that does not say).
    #[serde(default)]
    pub report_interval_ms: u64,
    /// Enrolled targets the spec was checked against.
    #[serde(default)]
    pub targets: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecView {
    pub version: u64,
    pub text: String,
    pub applied_by: String,
    pub applied_at: Millis,
}

/// A stored release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub id: ReleaseId,
    pub service: String,
    pub parent: Option<ReleaseId>,
    pub created_at: Millis,
    pub created_by: String,
    pub message: String,
    /// Bundle size in bytes.
    pub size: u64,
    /// File paths in the bundle.
    pub files: Vec<String>,
}

/// `POST /v1/services/{service}/releases`: the release, and what validation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseCreated {
    pub release: ReleaseView,
    /// False when the same bundle was uploaded before (nothing changed).
    pub created: bool,
    pub validation: ValidationReport,
}

/// `POST /v1/rollouts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRollout {
    pub service: String,
    /// A release id, or a unique prefix of its hex (`3fa9c2`).
    pub release: String,
    /// Defaults to the service's pipeline.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Emergency profile: shorter bakes, nothing skipped; needs `reason`.
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Seeds the wave order (default: derived from the rollout id).
    #[serde(default)]
    pub seed: Option<u64>,
    /// When another rollout of the service is active: wait behind it (answered 202 with
    /// [`QueuedView`]; the latest waiting release supersedes an older one) instead of the
    /// refusal (409). The CLI queues unless `--no-queue`.
    #[serde(default)]
    pub queue: bool,
    /// The change record: what and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where the change is tracked (a URL or an id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// `low`, `medium` or `high` (not stated: judged high).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// The rollback plan in words, beside the automatic one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_plan: Option<String>,
    /// Start past what the policy refuses (an unlisted pipeline, more of prod at once than
    /// `max_blast`), with `reason`: nothing moves until a second person approves.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

/// A release waiting to start once the service's active rollout ends (and it is not held).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedView {
    pub service: String,
    pub release: ReleaseId,
    /// The rollout it waits behind.
    pub behind: String,
    pub at: Millis,
    /// The waiting release this one replaced (latest wins), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded: Option<ReleaseId>,
}

/// What `POST /v1/rollouts` with `queue: true` answers: the rollout started (200), or the
/// release queued behind the active one (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StartAnswer {
    Queued { queued: QueuedView },
    Started(Box<RolloutView>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    Pause,
    Resume,
    Abort,
    Rollback,
    Approve,
    /// Take back one's approval of the stage the rollout waits at.
    Withdraw,
}

impl CommandKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Pause => "pause",
            CommandKind::Resume => "resume",
            CommandKind::Abort => "abort",
            CommandKind::Rollback => "rollback",
            CommandKind::Approve => "approve",
            CommandKind::Withdraw => "withdraw",
        }
    }
}

/// `POST /v1/rollouts/{id}/{command}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutCommand {
    /// Why (recorded in the audit log; required for `rollback`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// One wave of a stage, as the status display shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveView {
    /// As written: `1%`, `10`, `100%`.
    pub size: String,
    /// Targets the wave covers (cumulative within the stage).
    pub targets: usize,
    /// Of those, targets reporting the candidate now.
    pub on_candidate: usize,
    /// `pending`, `applying`, `baking`, `held`, `passed`, `failed`, `rolled_back`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageView {
    pub name: String,
    pub targets: usize,
    pub bake_ms: u64,
    /// `pending`, `awaiting_approval`, `active`, `passed`, `failed`, `skipped`.
    pub state: String,
    pub waves: Vec<WaveView>,
    /// The stage's gates, in the spec's order.
    #[serde(default)]
    pub gates: Vec<StageGateView>,
}

/// A gate of a stage: its name and where its values come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageGateView {
    pub name: String,
    /// `agent` (the agents' reports) or the health source's kind (`prometheus`).
    pub source: String,
}

/// The stage and wave in progress (indexes into [`RolloutView::stages`] and its waves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub stage: usize,
    pub wave: usize,
}

/// A rollout with its progress, as `sluice rollout status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutView {
    pub id: String,
    pub service: String,
    pub release: ReleaseId,
    pub known_good: Option<ReleaseId>,
    /// `applying`, `baking`, `held`, `paused`, `awaiting_approval`, `on_probation`,
    /// `probation_held`, `rolling_back`, `completed`, `rolled_back`, `aborted`,
    /// `rollback_incomplete` (in text: the same in words).
    pub phase: PhaseKind,
    /// Why it is where it is: who paused it, why it awaits approval, rolls back or finished.
    #[serde(default)]
    pub reason: Option<String>,
    pub outcome: Option<Outcome>,
    pub emergency: bool,
    /// A revert to an earlier known-good.
    #[serde(default)]
    pub revert: bool,
    /// Who started it (the token's name); never the one who approves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// What the change says about itself.
    #[serde(default)]
    pub change: ChangeRecord,
    /// Why the rollout was started (an emergency's or broken glass's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_reason: Option<String>,
    /// Started past the policy: why, what it let through, who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
    /// Approvals given so far, by stage name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<String, Vec<Approval>>,
    /// The stage and wave applying or baking (also while paused there).
    #[serde(default)]
    pub position: Option<Position>,
    /// Observed time (every member reporting) of the current bake or probation.
    #[serde(default)]
    pub observed_ms: Option<u64>,
    /// How long every stage stays judged after the last wave before known-good.
    #[serde(default)]
    pub probation_ms: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Stored version of the rollout (grows with each transition).
    pub version: u64,
    /// When the bake of the current wave ends at the earliest (if every member keeps
    /// reporting: a bake counts only observed time), if baking.
    pub bake_ends_at: Option<Millis>,
    /// Every deadline of the current phase: `apply` (members must confirm by then), `bake`
    /// (earliest end), `hold` (a wave still held then fails), `rollback` (an unconfirmed
    /// rollback ends incomplete then).
    #[serde(default)]
    pub deadlines: Vec<Deadline>,
    pub stages: Vec<StageView>,
    /// The latest evaluation of each gate.
    pub gates: Vec<GateEval>,
    /// Targets ever moved to the candidate.
    pub touched: usize,
}

impl RolloutView {
    /// True once the rollout ended (completed, rolled back, aborted, rollback incomplete).
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some() || self.phase.is_finished()
    }
}

/// `GET /v1/rollouts/{id}/targets`: which targets a rollout covers, stage by stage in wave
/// order, and how many of each stage it told to move (the status view carries only counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutTargetsView {
    pub rollout: String,
    pub stages: Vec<StageTargetsView>,
    /// Members left out of judgement (missed the apply deadline within `max_unconfirmed`).
    pub excluded: Vec<TargetId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTargetsView {
    pub name: String,
    /// The stage's targets in wave order: wave `w` covers `targets[..wave_ends[w]]`.
    pub targets: Vec<TargetId>,
    pub wave_ends: Vec<usize>,
    /// `targets[..told]` were told to move to the candidate.
    pub told: usize,
}

impl RolloutTargetsView {
    /// Every target told to move, stage by stage.
    pub fn touched(&self) -> impl Iterator<Item = &TargetId> {
        self.stages.iter().flat_map(|s| s.targets.iter().take(s.told))
    }

    /// The 1-based wave of `stage` that covers `target`.
    pub fn wave_of(&self, stage: &str, target: &str) -> Option<usize> {
        let s = self.stages.iter().find(|s| s.name == stage)?;
        let pos = s.targets.iter().position(|t| t.0 == target)?;
        s.wave_ends.iter().position(|&end| pos < end).map(|w| w + 1)
    }
}

/// One service on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetServiceView {
    pub service: String,
    pub desired: Option<ReleaseId>,
    pub running: Option<ReleaseId>,
    pub known_good: Option<ReleaseId>,
    /// The last apply failure the agent reported, if the last apply failed.
    pub last_failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    pub id: TargetId,
    pub labels: Labels,
    pub facts: Labels,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// Reported within the last three report intervals.
    pub connected: bool,
    pub services: Vec<TargetServiceView>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub seq: u64,
    pub at: Millis,
    pub actor: String,
    pub kind: String,
    pub rollout: Option<String>,
    pub service: Option<String>,
    pub body: Value,
}

/// Extra fields of a view keyed by name, for forwards-compatible output.
pub type Extra = BTreeMap<String, Value>;

/// A service's standing: its known-good release, the rollout in progress, and the hold a
/// failed rollout left (new rollouts are refused until a person clears it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub service: String,
    pub known_good: Option<ReleaseId>,
    pub active: Option<String>,
    pub hold: Option<HoldView>,
    /// The release waiting behind the active rollout (or the hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<QueuedView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldView {
    /// The release that failed.
    pub release: ReleaseId,
    pub rollout: String,
    pub why: String,
    pub at: Millis,
}

/// `POST /v1/services/{service}/revert`: return the service to its previous known-good through
/// the pipeline's emergency profile (waves and gates, no approvals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    /// Why (recorded in the audit log; required).
    pub reason: String,
}

/// `POST /v1/services/{service}/clear-hold`: a person has looked at the failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearHold {
    /// Why it is safe to ship again (recorded in the audit log).
    pub reason: String,
}

/// `POST /v1/tokens`: a named operator token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    /// Who holds it: the actor of every event it causes. Letters, digits, `.`, `_`, `@`, `-`;
    /// never reused.
    pub name: String,
    pub role: Role,
    /// For a deployer or approver: the services it may act on (default: every service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

/// An operator token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenView {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    pub created_by: String,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Millis>,
}

/// The answer to `POST /v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenCreated {
    pub token: ApiTokenView,
    pub secret: String,
}

/// `POST /v1/tokens/{name}/revoke`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeApiToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
