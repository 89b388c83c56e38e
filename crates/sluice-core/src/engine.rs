//! The rollout engine: a pure state machine. The shell (server or simulator) calls
//! [`Rollout::step`] with `now` and a view of the fleet ([`Observations`]) and carries out the
//! [`Action`]s it returns; operator commands go through [`Rollout::command`]. The engine keeps
//! no clock and does no I/O, so the same inputs always give the same decisions.
//!
//! Named invariants (checked by proptests in `engine/tests.rs` and by [`invariants`]):
//! - `never-promote-past-failed-gate`: once a gate fails, no target is moved to the candidate.
//! - `only-validated-or-known-good`: every move names the rollout's (validated) candidate or
//!   the known-good release it rolls back to.
//! - `waves-never-shrink`: within a stage, each wave covers at least the targets of the last.
//! - `one-release-per-target`: each target is desired on exactly one release at any time.
//! - `deterministic`: same seed and inputs, same actions.

pub mod action;
pub mod gates;
pub mod invariants;
mod member_memo;
pub mod observe;
pub mod plan;
pub mod rollout;
pub mod service;

pub use action::{Action, Event, EventKind, Outcome, ServiceChange};
pub use gates::{GateEval, Verdict};
pub use observe::{Observations, Sample};
pub use plan::{Plan, PlanError, Seeds, StagePlan, TargetInfo};
pub use rollout::{
    Approval, BREAK_GLASS_APPROVAL_TIMEOUT, BreakGlass, Command, CommandError, DEFAULT_REPORT_INTERVAL, Deadline,
    MissingPlan, Phase, PhaseKind, ROLLBACK_CONFIRM_TIMEOUT, Rollout, StageMarks, StageProgress, StageState,
    StartOptions, Told, WaveState,
};
pub use service::{Queued, Refusal, ServiceState};

#[cfg(test)]
mod tests;
