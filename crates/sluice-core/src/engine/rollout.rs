//! One release moving through one pipeline: the state machine.
//!
//! Fail closed: a wave member that sends nothing is silent and fails its wave (or holds it,
//! `on_silent: hold`); gates judge from the first apply, over the aggregate and each member
//! alone; a bake counts only observed time; every phase that does not wait for a person has a
//! deadline ([`Rollout::deadline`]); a rollback is done only when every touched target runs
//! known-good, else it ends `rollback incomplete`, naming each target still out and why.

mod batch;
mod command;
mod desired;
mod marks;
mod progress;
mod rollback;
mod silence;
mod stored;
mod watch;
mod wave;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::marks::{StageMarks, Told};
pub use self::progress::{PhaseKind, StageProgress, StageState, WaveState};
pub use self::silence::FRESH_INTERVALS;
pub use self::stored::MissingPlan;
use super::action::{Action, Event, EventKind, Outcome, ServiceChange};
use super::gates::{GateEval, Verdict};
use super::observe::Observations;
use super::plan::{Plan, PlanError, Seeds, TargetInfo};
use crate::change::ChangeRecord;
use crate::release::{ReleaseId, TargetId};
use crate::role::Role;
use crate::spec::PipelineSpec;
use crate::time::{Dur, Millis};

/// Where a rollout is. States carry what they need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// A person must approve before `stage` starts (the stage asks for it, or coverage blocks).
    AwaitingApproval {
        stage: usize,
        why: String,
        /// When waiting ends unapproved (break glass must be approved in time); `None`: it
        /// waits for a person.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Millis>,
    },
    /// The wave's targets were told to apply the candidate at `since`; gates already judge
    /// those that run it; the wave fails if they have not all confirmed by `apply_timeout`.
    Applying {
        stage: usize,
        wave: usize,
        since: Millis,
    },
    /// Every judged target of the wave runs the candidate; gates judge it until `observed`
    /// (time in which every member reported) reaches the bake.
    Baking {
        stage: usize,
        wave: usize,
        since: Millis,
        held: bool,
        /// Observed bake time so far.
        #[serde(default)]
        observed: Dur,
        /// When `observed` was last brought up to date.
        #[serde(default)]
        checked: Millis,
    },
    /// Every wave of every stage passed; every stage's gates keep judging until `observed`
    /// (time in which every member reported) reaches the pipeline's probation. Only then does
    /// the release become known-good.
    Probation {
        since: Millis,
        held: bool,
        #[serde(default)]
        observed: Dur,
        #[serde(default)]
        checked: Millis,
    },
    /// Promotion stopped by a person (or by a failing gate with `on_fail: pause`). Gates still
    /// judge, and a failure of any other gate still rolls back.
    Paused {
        resume_to: Box<Phase>,
        by: String,
    },
    /// Every touched target was told to go back; waiting for them to run known-good.
    RollingBack {
        since: Millis,
        why: String,
        outcome: Outcome,
    },
    Finished {
        outcome: Outcome,
        at: Millis,
        why: String,
    },
}

/// The report interval a rollout assumes when none is given (the server's default).
pub const DEFAULT_REPORT_INTERVAL: Dur = Dur::secs(5);

fn default_report_interval() -> Dur {
    DEFAULT_REPORT_INTERVAL
}

/// How a rollout starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartOptions {
    /// The emergency profile: bakes capped, nothing skipped.
    pub emergency: bool,
    /// Why (required for emergency rollouts by the shell's policy).
    pub reason: Option<String>,
    /// A revert to the service's previous known-good: the emergency profile, no approvals, no
    /// probation (the release already finished one).
    #[serde(default)]
    pub revert: bool,
    /// Seeds the wave order of stages with `canary: rotate` (others use the service's seed).
    pub seed: u64,
    /// How often targets report: silence, observed bake time and failure streaks are
    /// measured in it.
    #[serde(default = "default_report_interval")]
    pub report_interval: Dur,
    /// Who started it (an operator's token name): never the one to approve it.
    #[serde(default)]
    pub author: Option<String>,
    /// What the change says about itself.
    #[serde(default)]
    pub change: ChangeRecord,
    /// Start despite what the policy refuses (named in `skips`): nothing moves until a second
    /// person approves, within [`BREAK_GLASS_APPROVAL_TIMEOUT`].
    #[serde(default)]
    pub break_glass: Option<BreakGlass>,
}

/// How long broken glass waits for a second person's approval before the rollout ends
/// unstarted.
pub const BREAK_GLASS_APPROVAL_TIMEOUT: Dur = Dur::mins(15);

/// A person's approval: who, in which role, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    /// The role they approved in (`None` where roles are not known, as in the simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A start past the policy: why, what it lets through, and the second person who approved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlass {
    pub reason: String,
    /// What the policy would have refused, one line each.
    pub skips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approval>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            emergency: false,
            reason: None,
            revert: false,
            seed: 0,
            report_interval: DEFAULT_REPORT_INTERVAL,
            author: None,
            change: ChangeRecord::default(),
            break_glass: None,
        }
    }
}

pub use self::command::{Command, CommandError};

/// Consecutive failing evaluations of one gate (and scope).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Streak {
    count: u32,
    at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: String,
    pub service: String,
    pub release: ReleaseId,
    pub known_good: Option<ReleaseId>,
    pub emergency: bool,
    /// A revert to an earlier known-good (see [`StartOptions::revert`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revert: bool,
    /// Who started it ([`StartOptions::author`]); `None` for rollouts stored before authors
    /// were kept, and in the simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Why it was started, as given ([`StartOptions::reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the change says about itself ([`StartOptions::change`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub change: ChangeRecord,
    /// Started past the policy ([`StartOptions::break_glass`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
    /// What the rollout does, fixed at start. Not part of the rollout's serialized state: a
    /// store keeps it once per rollout and gives it back with [`Rollout::attach_plan`], so a
    /// transition writes only what changed (O(1) in the fleet size).
    #[serde(skip)]
    pub plan: Arc<Plan>,
    /// Rollouts stored before the plan was kept apart carried it in their state: read once by
    /// [`Rollout::attach_plan`], never written.
    #[serde(default, rename = "plan", skip_serializing)]
    legacy_plan: Option<Box<Plan>>,
    pub phase: Phase,
    pub started_at: Millis,
    /// How often targets report (see [`StartOptions::report_interval`]).
    #[serde(default = "default_report_interval")]
    pub report_interval: Dur,
    /// Rollouts stored before `marks` existed listed the targets they moved here; read once by
    /// [`Rollout::upgrade_marks`], never written (the touched targets follow from the plan and
    /// the marks: [`Rollout::touched`]).
    #[serde(default, rename = "touched", skip_serializing)]
    legacy_touched: Vec<TargetId>,
    /// Set once a gate failed or an apply failed: nothing is promoted after it.
    pub failed: bool,
    /// Stages approved by as many people as they need.
    pub approved: BTreeSet<usize>,
    /// The approvals given so far, by stage (withdrawn ones removed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<usize, Vec<Approval>>,
    /// Stages whose coverage was already judged.
    pub coverage_checked: BTreeSet<usize>,
    /// For each stage reached, when its waves started and its members were told to apply.
    #[serde(default)]
    pub marks: Vec<StageMarks>,
    /// Rollouts stored before `marks` existed kept the current stage's wave start times here;
    /// read once to rebuild `marks` ([`Rollout::upgrade_marks`]), never written.
    #[serde(default, rename = "wave_started", skip_serializing)]
    legacy_wave_started: Vec<Millis>,
    /// Members that missed the apply deadline within `max_unconfirmed`: left out of judgement,
    /// still rolled back with the rest.
    #[serde(default)]
    pub excluded: BTreeSet<TargetId>,
    /// The latest evaluation of each gate (and scope) of the current wave, for status displays.
    pub last_evals: Vec<GateEval>,
    /// The latest evaluations of each stage already passed (watched until the rollout ends),
    /// by stage name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub watched: BTreeMap<String, Vec<GateEval>>,
    /// Last verdict per gate and scope, so the log records changes, not every evaluation.
    last_verdicts: BTreeMap<String, Verdict>,
    /// Failing streaks per gate and scope, for `failure_limit`.
    #[serde(default)]
    streaks: BTreeMap<String, Streak>,
    /// Touched targets whose failure to return to known-good was already logged.
    #[serde(default)]
    rollback_failures: BTreeSet<TargetId>,
    /// What members told at earlier steps (a memo: never stored, not cloned).
    #[serde(skip)]
    memo: super::member_memo::MemberMemo,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// How long a rollback waits for every touched target to report known-good before it finishes
/// as `rollback incomplete`, naming the targets that did not get there and why.
pub const ROLLBACK_CONFIRM_TIMEOUT: Dur = Dur::mins(2);

/// Guards against a loop of instantaneous transitions (empty stages, zero bakes).
const MAX_TRANSITIONS_PER_STEP: usize = 256;

/// A time by which a phase must end, for status displays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// `apply`, `bake`, `hold` or `rollback`.
    pub what: String,
    pub at: Millis,
}

impl Rollout {
    /// Plan and start a rollout of `release` (which must have passed validation) through
    /// `pipeline` over `targets`. Returns the rollout and its first actions.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: impl Into<String>,
        service: impl Into<String>,
        release: ReleaseId,
        known_good: Option<ReleaseId>,
        pipeline: &PipelineSpec,
        targets: &[TargetInfo],
        opts: &StartOptions,
        now: Millis,
    ) -> Result<(Rollout, Vec<Action>), PlanError> {
        let service = service.into();
        let emergency = opts.emergency || opts.revert;
        let mut plan = Plan::new(pipeline, targets, Seeds::for_service(&service, opts.seed), emergency)?;
        if opts.revert {
            plan.probation = Dur::ZERO;
            for s in &mut plan.stages {
                s.approval = false;
                s.coverage = None;
            }
        }
        let mut r = Rollout {
            id: id.into(),
            service,
            release,
            known_good,
            emergency,
            revert: opts.revert,
            author: opts.author.clone(),
            reason: opts.reason.clone(),
            change: opts.change.clone(),
            break_glass: opts.break_glass.clone(),
            plan: Arc::new(plan),
            legacy_plan: None,
            phase: Phase::Finished { outcome: Outcome::Aborted, at: now, why: String::new() },
            started_at: now,
            report_interval: if opts.report_interval.0 == 0 { DEFAULT_REPORT_INTERVAL } else { opts.report_interval },
            legacy_touched: Vec::new(),
            failed: false,
            approved: BTreeSet::new(),
            approvals: BTreeMap::new(),
            coverage_checked: BTreeSet::new(),
            marks: Vec::new(),
            legacy_wave_started: Vec::new(),
            excluded: BTreeSet::new(),
            last_evals: Vec::new(),
            watched: BTreeMap::new(),
            last_verdicts: BTreeMap::new(),
            streaks: BTreeMap::new(),
            rollback_failures: BTreeSet::new(),
            memo: Default::default(),
        };
        let mut out = Vec::new();
        r.record(
            &mut out,
            now,
            EventKind::Started {
                service: r.service.clone(),
                release: r.release.clone(),
                known_good: r.known_good.clone(),
                emergency,
                reason: opts.reason.clone(),
                revert: opts.revert,
                author: r.author.clone(),
                change: r.change.clone(),
            },
        );
        out.push(Action::Service(ServiceChange::started(&r)));
        if let Some(glass) = &opts.break_glass {
            // Loud, and nothing moves until a second person agrees.
            r.record(
                &mut out,
                now,
                EventKind::BreakGlass {
                    by: r.author.clone(),
                    reason: glass.reason.clone(),
                    skips: glass.skips.clone(),
                },
            );
            let why = format!("break glass ({}): a second person must approve", glass.skips.join("; "));
            let stage = r.plan.stages.first().map(|s| s.name.clone()).unwrap_or_default();
            r.record(&mut out, now, EventKind::AwaitingApproval { stage, why: why.clone() });
            r.phase = Phase::AwaitingApproval { stage: 0, why, until: Some(now + BREAK_GLASS_APPROVAL_TIMEOUT) };
        } else {
            r.enter_stage(&mut out, now, 0);
        }
        Ok((r, out))
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished { .. })
    }

    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Finished { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// The stage and wave now in progress, if any.
    pub fn position(&self) -> Option<(usize, usize)> {
        match &self.phase {
            Phase::Applying { stage, wave, .. } | Phase::Baking { stage, wave, .. } => Some((*stage, *wave)),
            Phase::Paused { resume_to, .. } => match **resume_to {
                Phase::Applying { stage, wave, .. } | Phase::Baking { stage, wave, .. } => Some((stage, wave)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The stages whose gates judge now: the current one and every one reached before it
    /// (passed stages stay watched), all of them in probation; none once rolling back or
    /// finished. Shells fetch health sources for these.
    pub fn judged_stages(&self) -> Vec<usize> {
        let upto = match &self.phase {
            Phase::Paused { resume_to, .. } => Self::judged_upto(resume_to, self.plan.stages.len()),
            p => Self::judged_upto(p, self.plan.stages.len()),
        };
        (0..upto.min(self.plan.stages.len()))
            .filter(|&s| self.marks.get(s).is_some_and(|m| !m.told.is_empty()))
            .collect()
    }

    /// Stages `..n` judged in `phase` (reached ones only; see [`Rollout::judged_stages`]).
    fn judged_upto(phase: &Phase, all: usize) -> usize {
        match phase {
            Phase::Applying { stage, .. } | Phase::Baking { stage, .. } => stage + 1,
            Phase::AwaitingApproval { stage, .. } => *stage,
            Phase::Probation { .. } => all,
            Phase::Paused { .. } | Phase::RollingBack { .. } | Phase::Finished { .. } => 0,
        }
    }

    /// The time by which the current phase must end; `None` only while the rollout waits for a
    /// person (approval, pause) or is finished. Invariant `no-verdict-waits-forever`: a step at
    /// or after it always moves the phase on.
    pub fn deadline(&self) -> Option<Millis> {
        match &self.phase {
            Phase::Applying { stage, since, .. } => {
                self.plan.stages.get(*stage).map(|s| self.apply_clock(*stage, *since) + s.apply_timeout)
            }
            Phase::Baking { stage, since, .. } => {
                self.plan.stages.get(*stage).map(|s| *since + s.bake + s.hold_timeout)
            }
            Phase::Probation { since, .. } => Some(*since + self.plan.probation + self.probation_hold_timeout()),
            Phase::RollingBack { since, .. } => Some(*since + ROLLBACK_CONFIRM_TIMEOUT),
            Phase::AwaitingApproval { until, .. } => *until,
            Phase::Paused { .. } | Phase::Finished { .. } => None,
        }
    }

    /// Every deadline of the current phase, for status: when the apply must be confirmed, the
    /// earliest end of the bake (if every member keeps reporting), when a held wave fails, when
    /// a rollback must be confirmed.
    pub fn deadlines(&self) -> Vec<Deadline> {
        let d = |what: &str, at: Millis| Deadline { what: what.to_string(), at };
        match &self.phase {
            Phase::Applying { stage, since, .. } => self
                .plan
                .stages
                .get(*stage)
                .map(|s| vec![d("apply", self.apply_clock(*stage, *since) + s.apply_timeout)])
                .unwrap_or_default(),
            Phase::Baking { stage, since, observed, checked, .. } => self
                .plan
                .stages
                .get(*stage)
                .map(|s| {
                    let left = Dur(s.bake.0.saturating_sub(observed.0));
                    vec![d("bake", (*checked).max(*since) + left), d("hold", *since + s.bake + s.hold_timeout)]
                })
                .unwrap_or_default(),
            Phase::Probation { since, observed, checked, .. } => {
                let left = Dur(self.plan.probation.0.saturating_sub(observed.0));
                vec![
                    d("probation", (*checked).max(*since) + left),
                    d("hold", *since + self.plan.probation + self.probation_hold_timeout()),
                ]
            }
            Phase::RollingBack { since, .. } => vec![d("rollback", *since + ROLLBACK_CONFIRM_TIMEOUT)],
            Phase::AwaitingApproval { until: Some(at), .. } => vec![d("approval", *at)],
            _ => Vec::new(),
        }
    }

    /// When the engine next needs a step even if nothing is reported: the earliest end of a
    /// bake or a deadline, if one is still ahead of `now`. (Silence needs no wake-up of its
    /// own: shells step at least once a report interval while a wave is judged.)
    pub fn next_wakeup(&self, now: Millis) -> Option<Millis> {
        self.deadlines().into_iter().map(|d| d.at).filter(|at| *at > now).min()
    }

    /// Advance with what the fleet reports at `now`.
    pub fn step(&mut self, now: Millis, obs: &dyn Observations) -> Vec<Action> {
        self.upgrade_marks();
        self.memo.sync(&self.plan, obs);
        let mut out = Vec::new();
        for _ in 0..MAX_TRANSITIONS_PER_STEP {
            let before = self.phase.clone();
            self.step_once(&mut out, now, obs);
            if self.phase == before {
                break;
            }
        }
        out
    }

    fn step_once(&mut self, out: &mut Vec<Action>, now: Millis, obs: &dyn Observations) {
        match self.phase.clone() {
            Phase::Finished { .. } => {}
            Phase::AwaitingApproval { until: Some(until), .. } if now >= until => {
                // Nothing was touched yet (broken glass waits before the first wave).
                let why = format!(
                    "break glass was not approved by a second person within {BREAK_GLASS_APPROVAL_TIMEOUT}: nothing was changed"
                );
                self.finish(out, now, Outcome::Aborted, why);
            }
            Phase::AwaitingApproval { stage, .. } => {
                self.guard_passed(out, now, obs, stage, "while awaiting approval");
            }
            Phase::Probation { since, held, observed, checked } => {
                self.step_probation(out, now, obs, since, held, observed, checked);
            }
            Phase::Applying { stage, wave, since } => self.step_applying(out, now, obs, stage, wave, since),
            Phase::Baking { stage, wave, since, held, observed, checked } => {
                self.step_baking(out, now, obs, (stage, wave), since, held, observed, checked)
            }
            Phase::Paused { resume_to, by } => self.step_paused(out, now, obs, *resume_to, by),
            Phase::RollingBack { since, why, outcome } => self.step_rolling_back(out, now, obs, since, why, outcome),
        }
    }

    fn begin_rollback(&mut self, out: &mut Vec<Action>, now: Millis, why: String, outcome: Outcome) {
        self.failed = self.failed || outcome == Outcome::RolledBack;
        self.record(
            out,
            now,
            EventKind::RollbackStarted { why: why.clone(), targets: self.touched_count(), to: self.known_good.clone() },
        );
        let touched: Vec<TargetId> = self.touched().cloned().collect();
        if !touched.is_empty() {
            out.push(Action::RollBack { targets: touched, to: self.known_good.clone() });
        }
        self.phase = Phase::RollingBack { since: now, why, outcome };
    }

    fn finish(&mut self, out: &mut Vec<Action>, now: Millis, outcome: Outcome, why: String) {
        self.record(out, now, EventKind::Finished { outcome, why: why.clone() });
        self.phase = Phase::Finished { outcome, at: now, why };
        out.extend(ServiceChange::finished(self).map(Action::Service));
    }

    fn record(&self, out: &mut Vec<Action>, now: Millis, kind: EventKind) {
        out.push(Action::Record(Box::new(Event { at: now, rollout: self.id.clone(), kind })));
    }

    /// Evaluations joined for a message.
    fn summaries<'a>(evals: impl Iterator<Item = &'a GateEval>) -> String {
        evals.map(GateEval::summary).collect::<Vec<_>>().join("; ")
    }
}
