//! Pipelines: ordered stages, each a label selector with waves, a bake time and gates.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::gate::GateSpec;
use super::wave::WaveSize;
use crate::change::RecordRules;
use crate::labels::Selector;
use crate::role::Role;
use crate::time::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Stages in order (dev → test → staging → prod).
    pub stages: Vec<StageSpec>,
    /// The emergency profile: shorter bakes for an urgent change. It never skips the first
    /// wave of a stage or any gate.
    #[serde(default)]
    pub emergency: EmergencyProfile,
    /// The most of the last stage (prod) a rollout may put on a release before any of it was
    /// judged: the last stage's first wave (default `25%`). A larger one is refused at start
    /// unless broken glass lets it through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blast: Option<WaveSize>,
    /// How long every stage's gates keep judging after the last wave before the release
    /// becomes known-good (default: the longest bake of the pipeline). A failure in probation
    /// rolls back to the previous known-good; a rollback never returns to a release that has
    /// not finished its probation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probation: Option<Dur>,
}

impl StageSpec {
    /// The approvals the stage needs before it starts, if any: `approvals`, or one approver
    /// for `approval: true`.
    pub fn approval_rule(&self) -> Option<ApprovalSpec> {
        self.approvals.clone().or_else(|| self.approval.then(ApprovalSpec::one))
    }
}

/// How many approvals a stage needs, from which roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// How many different people (at least 1).
    pub count: u32,
    /// The roles whose holders may approve (default `[approver]`). An `admin` holds every
    /// role's rights and may always approve.
    #[serde(default = "default_approver_roles")]
    pub from: Vec<Role>,
}

impl ApprovalSpec {
    /// One approval from an approver.
    pub fn one() -> ApprovalSpec {
        ApprovalSpec { count: 1, from: default_approver_roles() }
    }

    /// Whether a holder of `role` may give one of these approvals.
    pub fn accepts(&self, role: Role) -> bool {
        role == Role::Admin || self.from.contains(&role)
    }
}

fn default_approver_roles() -> Vec<Role> {
    vec![Role::Approver]
}

impl PipelineSpec {
    /// The probation as written, or the longest bake; an emergency rollout caps it at the
    /// emergency profile's `max_bake`, as it caps bakes.
    pub fn probation(&self, emergency: bool) -> Dur {
        let p = self.probation.unwrap_or_else(|| self.stages.iter().map(|s| s.bake).max().unwrap_or(Dur::ZERO));
        if emergency { p.min(self.emergency.max_bake) } else { p }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    /// Which targets belong to the stage (`{env: prod}`). A target belongs to the first stage
    /// of the pipeline that selects it.
    pub selector: Selector,
    /// Cumulative wave sizes; the last must be `100%` (default `["100%"]`).
    #[serde(default = "default_waves")]
    pub waves: Vec<WaveSize>,
    /// How long each wave must stay healthy before the next starts (default 0s).
    #[serde(default)]
    pub bake: Dur,
    /// Health gates judged while each wave bakes.
    #[serde(default)]
    pub gates: Vec<GateSpec>,
    /// A person must approve before this stage starts (the same as `approvals: {count: 1}`).
    #[serde(default)]
    pub approval: bool,
    /// How many people must approve before this stage starts, and in which roles. The author
    /// of a rollout never counts; each person counts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalSpec>,
    /// What a change's record must carry for a rollout through this pipeline to start
    /// (checked at start over every stage).
    #[serde(default, skip_serializing_if = "RecordRules::is_empty")]
    pub requires: RecordRules,
    /// Every combination of these labels present in this stage must have been present in the
    /// stages before it.
    #[serde(default)]
    pub require_coverage: Option<CoverageSpec>,
    /// Labels to spread waves over: the first wave takes one target of each combination
    /// before taking a second of any (defaults to the coverage labels).
    #[serde(default)]
    pub spread_by: Vec<String>,
    /// A wave member told to apply that sends no report for this long is silent (default:
    /// three of the server's report intervals). Silence is failure unless `on_silent: hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_after: Option<Dur>,
    /// What a silent wave member does to its wave: `fail` (default) fails the wave and rolls
    /// back; `hold` stops the bake clock and holds the wave until it reports again, for fleets
    /// whose hosts sleep. A stage whose members are all silent never passes either way.
    #[serde(default)]
    pub on_silent: OnSilent,
    /// How long a wave's members have to confirm they run the release (default 2m); a wave
    /// with members still unconfirmed then fails, naming them, unless `max_unconfirmed` allows.
    #[serde(default = "default_apply_timeout")]
    pub apply_timeout: Dur,
    /// How many members of a wave (a count, or a share of the wave such as `5%`) may miss
    /// `apply_timeout` without failing it; they are then excluded from the rollout's judgement
    /// and listed (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unconfirmed: Option<WaveSize>,
    /// How long a wave may stay held (gates inconclusive, or members silent under
    /// `on_silent: hold`) past the end of its bake before it fails closed (default 15m).
    #[serde(default = "default_hold_timeout")]
    pub hold_timeout: Dur,
    /// The stage may select no target (it is then skipped, with an event). Without it a stage
    /// that selects nothing is refused at `apply` and at rollout start.
    #[serde(default)]
    pub allow_empty: bool,
    /// At no instant are more of the stage's targets out of service (told to apply and not yet
    /// confirmed, or silent) than this (a count, or a share of the stage such as `10%`): a
    /// wave's moves are released in batches within it, whatever the wave sizes say. Rollbacks
    /// are not batched (a failing release is worse than lost capacity). Default: unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<WaveSize>,
    /// The order waves take the stage's targets: `stable` (default) puts the same hosts first
    /// in every rollout of the service, so a parity gap is caught at the same wave every time;
    /// `rotate` draws a new order per rollout.
    #[serde(default)]
    pub canary: CanaryOrder,
}

/// The order a stage's waves take its targets in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CanaryOrder {
    /// The same order in every rollout of the service.
    #[default]
    Stable,
    /// A new order for every rollout.
    Rotate,
}

/// What a silent wave member does to its wave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnSilent {
    /// The wave fails and every touched target rolls back.
    #[default]
    Fail,
    /// The wave holds (its bake clock stopped) until the member reports again.
    Hold,
}

/// The default `apply_timeout`.
pub const DEFAULT_APPLY_TIMEOUT: Dur = Dur::mins(2);
/// The default `hold_timeout`.
pub const DEFAULT_HOLD_TIMEOUT: Dur = Dur::mins(15);

fn default_apply_timeout() -> Dur {
    DEFAULT_APPLY_TIMEOUT
}

fn default_hold_timeout() -> Dur {
    DEFAULT_HOLD_TIMEOUT
}

fn default_waves() -> Vec<WaveSize> {
    vec![WaveSize::Percent(100.0)]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverageSpec {
    pub labels: Vec<String>,
    /// `warn` records a loud event and goes on; `block` holds the rollout until approved.
    #[serde(default)]
    pub mode: CoverageMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoverageMode {
    #[default]
    Warn,
    Block,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyProfile {
    /// The longest bake any wave gets in an emergency rollout (default 1m). Gates still
    /// need their minimum samples, so a wave is never promoted on no data.
    #[serde(default = "default_emergency_bake")]
    pub max_bake: Dur,
    /// The waves of an emergency rollout: `first_then_rest` (default) runs each stage's first
    /// wave as written, then the rest of the stage at once; `as_written` keeps every wave.
    #[serde(default)]
    pub waves: EmergencyWaves,
    /// `keep` (default): a stage's approvals apply to an emergency rollout as written; `one`:
    /// one approval from a different person replaces them.
    #[serde(default)]
    pub approvals: EmergencyApprovals,
}

impl Default for EmergencyProfile {
    fn default() -> Self {
        EmergencyProfile {
            max_bake: default_emergency_bake(),
            waves: EmergencyWaves::default(),
            approvals: EmergencyApprovals::default(),
        }
    }
}

/// The waves of an emergency rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyWaves {
    /// Each stage's first wave, judged, then the rest of the stage.
    #[default]
    FirstThenRest,
    /// Every wave as written.
    AsWritten,
}

/// What an emergency rollout's approvals are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyApprovals {
    /// As the stages say.
    #[default]
    Keep,
    /// One approval from someone other than the author, where a stage asks for any.
    One,
}

fn default_emergency_bake() -> Dur {
    Dur::mins(1)
}
