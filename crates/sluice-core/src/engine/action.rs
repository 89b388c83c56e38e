//! What the engine decides: move targets, and record what happened and why.

use serde::{Deserialize, Serialize};

use super::gates::GateEval;
use crate::change::ChangeRecord;
use crate::release::{ReleaseId, TargetId};
use crate::time::{Dur, Millis};

/// A decision for the shell to carry out, in order. The shell persists the rollout's new state
/// and the events before it carries out the moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Set these targets' desired release to the rollout's candidate.
    SetDesired { targets: Vec<TargetId>, release: ReleaseId },
    /// Move these targets back: to the known-good release, or, when the service has none yet,
    /// to nothing (`to: None`, the agent restores what it ran before sluice).
    RollBack { targets: Vec<TargetId>, to: Option<ReleaseId> },
    /// Append an event to the audit log.
    Record(Box<Event>),
    /// The service's standing changes: the shell applies it to the service's `ServiceState`
    /// ([`ServiceState::apply`](super::ServiceState::apply)) and persists it with the rest of
    /// the step. The engine says when; no shell decides it on its own.
    Service(ServiceChange),
}

impl ServiceChange {
    /// The change a rollout's start makes.
    pub fn started(r: &super::Rollout) -> ServiceChange {
        ServiceChange::Started { rollout: r.id.clone(), release: r.release.clone() }
    }

    /// The change a finished rollout made (`None` while it runs).
    pub fn finished(r: &super::Rollout) -> Option<ServiceChange> {
        match &r.phase {
            super::Phase::Finished { outcome, why, .. } => Some(ServiceChange::Finished {
                rollout: r.id.clone(),
                release: r.release.clone(),
                outcome: *outcome,
                revert: r.revert,
                why: why.clone(),
            }),
            _ => None,
        }
    }
}

/// A change of a service's standing that a rollout causes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum ServiceChange {
    /// The rollout became the service's active one (a release queued the same is no longer
    /// waiting).
    Started { rollout: String, release: ReleaseId },
    /// The rollout ended: completed, its release is known-good (a revert's also leaves the
    /// history of earlier ones); rolled back or incomplete, the service is held.
    Finished { rollout: String, release: ReleaseId, outcome: Outcome, revert: bool, why: String },
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    RolledBack,
    Aborted,
    /// Told to roll back, but some touched targets did not get back to known-good within the
    /// confirmation timeout (the rollout's reason names each one and why). Holds the service.
    RollbackIncomplete,
}

impl Outcome {
    /// The outcome in words, as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::RolledBack => "rolled back",
            Outcome::Aborted => "aborted",
            Outcome::RollbackIncomplete => "rollback incomplete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: Millis,
    pub rollout: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum EventKind {
    Started {
        service: String,
        release: ReleaseId,
        known_good: Option<ReleaseId>,
        emergency: bool,
        reason: Option<String>,
        /// A revert to the previous known-good (emergency profile, no approvals).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        revert: bool,
        /// Who started it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author: Option<String>,
        /// What the change says about itself.
        #[serde(default, skip_serializing_if = "ChangeRecord::is_empty")]
        change: ChangeRecord,
    },
    /// A start past what the policy refuses: who, why, and what it lets through.
    BreakGlass {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        reason: String,
        skips: Vec<String>,
    },
    /// A second person approved broken glass: the rollout may move.
    BreakGlassApproved {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    StageSkipped {
        stage: String,
        why: String,
    },
    CoverageGap {
        stage: String,
        labels: Vec<String>,
        missing: Vec<String>,
        blocking: bool,
    },
    AwaitingApproval {
        stage: String,
        why: String,
    },
    Approved {
        stage: String,
        by: String,
        /// Why, as the person gave it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Approvals the stage has now, and how many it needs (0: not recorded).
        #[serde(default, skip_serializing_if = "is_zero")]
        count: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        needed: u32,
    },
    /// A person took back their approval before the stage started.
    ApprovalWithdrawn {
        stage: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    WaveStarted {
        stage: String,
        wave: usize,
        size: String,
        targets: usize,
        new_targets: usize,
    },
    WaveApplied {
        stage: String,
        wave: usize,
    },
    ApplyFailed {
        stage: String,
        target: TargetId,
        reason: String,
    },
    /// Members that did not confirm the apply in time, within `max_unconfirmed`: left out of
    /// judgement from now on.
    Excluded {
        stage: String,
        wave: usize,
        targets: Vec<TargetId>,
        why: String,
    },
    /// Members that did not confirm the apply in time: the wave fails.
    ApplyTimedOut {
        stage: String,
        wave: usize,
        targets: Vec<TargetId>,
    },
    /// A wave stayed held (inconclusive, or members silent under `on_silent: hold`) past its
    /// `hold_timeout`: it fails closed.
    HoldTimedOut {
        stage: String,
        wave: usize,
        why: String,
    },
    /// A touched target reported that it could not return to known-good.
    RollbackFailed {
        target: TargetId,
        reason: String,
    },
    Gate {
        stage: String,
        wave: usize,
        eval: GateEval,
    },
    Held {
        stage: String,
        wave: usize,
        why: String,
    },
    WavePassed {
        stage: String,
        wave: usize,
    },
    StagePassed {
        stage: String,
    },
    Paused {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A gate with `on_fail: pause` failed: promotion stopped, waiting for a person.
    GatePaused {
        why: String,
    },
    /// A stage that had passed failed later (its gates, silence, or a member leaving the
    /// candidate) while the rollout went on; everything touched rolls back.
    WatchFailed {
        stage: String,
        why: String,
    },
    /// Moves of a wave released within the stage's `max_unavailable`: the stage's members
    /// `begin..end` in wave order (the plan, stored once with the rollout, names them; an
    /// event stays the same size whatever the batch).
    MovesReleased {
        stage: String,
        wave: usize,
        begin: usize,
        end: usize,
        /// Targets of the stage out of service just before.
        out_of_service: usize,
        max_unavailable: usize,
    },
    /// Every wave passed: every stage stays judged for `probation` before known-good.
    ProbationStarted {
        probation: Dur,
    },
    /// Probation ended with every stage healthy: the release is known-good.
    ProbationPassed {
        observed: Dur,
    },
    Resumed {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    RollbackStarted {
        why: String,
        targets: usize,
        to: Option<ReleaseId>,
    },
    Finished {
        outcome: Outcome,
        why: String,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
