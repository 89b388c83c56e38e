//! One release moving through one pipeline: the state machine.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::action::{Action, Event, EventKind, Outcome};
use super::gates::{GateEval, Verdict, Window, combine, evaluate};
use super::observe::Observations;
use super::plan::{Plan, PlanError, TargetInfo};
use crate::release::{ReleaseId, TargetId};
use crate::spec::{CoverageMode, PipelineSpec};
use crate::time::{Dur, Millis};

/// Where a rollout is. States carry what they need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// A person must approve before `stage` starts (the stage asks for it, or coverage blocks).
    AwaitingApproval {
        stage: usize,
        why: String,
    },
    /// The wave's targets were told to apply the candidate; waiting for them to run it.
    Applying {
        stage: usize,
        wave: usize,
        since: Millis,
    },
    /// Every target of the wave runs the candidate; gates judge it until the bake ends.
    Baking {
        stage: usize,
        wave: usize,
        since: Millis,
        held: bool,
    },
    /// Promotion stopped by a person. Gates still judge, and a failure still rolls back.
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

/// How a rollout starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartOptions {
    /// The emergency profile: bakes capped, nothing skipped.
    pub emergency: bool,
    /// Why (required for emergency rollouts by the shell's policy).
    pub reason: Option<String>,
    /// Seeds the wave order.
    pub seed: u64,
}

/// An operator's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    Pause {
        by: String,
    },
    Resume {
        by: String,
    },
    Approve {
        by: String,
    },
    /// Stop and return every touched target to known-good; the service is not held.
    Abort {
        by: String,
    },
    /// Return every touched target to known-good now and hold the service, as a failed gate does.
    Rollback {
        by: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("cannot {command} rollout {rollout}: it is {phase}")]
    NotApplicable { rollout: String, command: &'static str, phase: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: String,
    pub service: String,
    pub release: ReleaseId,
    pub known_good: Option<ReleaseId>,
    pub emergency: bool,
    pub plan: Plan,
    pub phase: Phase,
    pub started_at: Millis,
    /// Every target moved to the candidate, in the order it was moved.
    pub touched: Vec<TargetId>,
    /// Set once a gate failed or an apply failed: nothing is promoted after it.
    pub failed: bool,
    /// Stages a person approved.
    pub approved: BTreeSet<usize>,
    /// Stages whose coverage was already judged.
    pub coverage_checked: BTreeSet<usize>,
    /// The latest evaluation of each gate (and scope), for status displays.
    pub last_evals: Vec<GateEval>,
    /// Last verdict per gate and scope, so the log records changes, not every evaluation.
    last_verdicts: BTreeMap<String, Verdict>,
}

/// How long a rollback waits for every touched target to report known-good before it finishes
/// anyway, naming the targets that did not confirm.
pub const ROLLBACK_CONFIRM_TIMEOUT: Dur = Dur::mins(2);

/// Guards against a loop of instantaneous transitions (empty stages, zero bakes).
const MAX_TRANSITIONS_PER_STEP: usize = 256;

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
        let plan = Plan::new(pipeline, targets, opts.seed, opts.emergency)?;
        let mut r = Rollout {
            id: id.into(),
            service: service.into(),
            release,
            known_good,
            emergency: opts.emergency,
            plan,
            phase: Phase::Finished { outcome: Outcome::Aborted, at: now, why: String::new() },
            started_at: now,
            touched: Vec::new(),
            failed: false,
            approved: BTreeSet::new(),
            coverage_checked: BTreeSet::new(),
            last_evals: Vec::new(),
            last_verdicts: BTreeMap::new(),
        };
        let mut out = Vec::new();
        r.record(
            &mut out,
            now,
            EventKind::Started {
                service: r.service.clone(),
                release: r.release.clone(),
                known_good: r.known_good.clone(),
                emergency: opts.emergency,
                reason: opts.reason.clone(),
            },
        );
        r.enter_stage(&mut out, now, 0);
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

    /// When the engine next needs a step even if nothing is reported (a bake ending).
    pub fn next_wakeup(&self) -> Option<Millis> {
        match &self.phase {
            Phase::Baking { stage, since, .. } => self.plan.stages.get(*stage).map(|s| *since + s.bake),
            Phase::RollingBack { since, .. } => Some(*since + ROLLBACK_CONFIRM_TIMEOUT),
            _ => None,
        }
    }

    /// Advance with what the fleet reports at `now`.
    pub fn step(&mut self, now: Millis, obs: &dyn Observations) -> Vec<Action> {
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
            Phase::Finished { .. } | Phase::AwaitingApproval { .. } => {}
            Phase::Applying { stage, wave, .. } => {
                if self.check_apply_failures(out, now, obs, stage) {
                    return;
                }
                if self.wave_applied(obs, stage, wave) {
                    let name = self.plan.stages[stage].name.clone();
                    self.record(out, now, EventKind::WaveApplied { stage: name, wave });
                    self.phase = Phase::Baking { stage, wave, since: now, held: false };
                }
            }
            Phase::Baking { stage, wave, since, held } => {
                if self.check_apply_failures(out, now, obs, stage) {
                    return;
                }
                if let Some(why) = self.left_candidate(obs, stage, wave) {
                    self.begin_rollback(out, now, why, Outcome::RolledBack);
                    return;
                }
                let verdict = self.judge(out, now, obs, stage, wave, since);
                if verdict == Verdict::Fail {
                    let failing: Vec<String> = self
                        .last_evals
                        .iter()
                        .filter(|e| e.verdict == Verdict::Fail)
                        .map(|e| {
                            format!(
                                "gate {}{}: {}",
                                e.gate,
                                e.scope.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default(),
                                e.reason
                            )
                        })
                        .collect();
                    let why =
                        format!("stage {} wave {}: {}", self.plan.stages[stage].name, wave + 1, failing.join("; "));
                    self.begin_rollback(out, now, why, Outcome::RolledBack);
                    return;
                }
                let bake_over = now >= since + self.plan.stages[stage].bake;
                if !bake_over {
                    return;
                }
                if verdict == Verdict::Inconclusive {
                    if !held {
                        let why: Vec<String> = self
                            .last_evals
                            .iter()
                            .filter(|e| e.verdict == Verdict::Inconclusive)
                            .map(|e| {
                                format!(
                                    "gate {}{}: {}",
                                    e.gate,
                                    e.scope.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default(),
                                    e.reason
                                )
                            })
                            .collect();
                        let name = self.plan.stages[stage].name.clone();
                        self.record(
                            out,
                            now,
                            EventKind::Held { stage: name, wave, why: format!("inconclusive: {}", why.join("; ")) },
                        );
                        self.phase = Phase::Baking { stage, wave, since, held: true };
                    }
                    return;
                }
                self.promote(out, now, stage, wave);
            }
            Phase::Paused { mut resume_to, by } => {
                // Paused stops promotion, never protection: a wave that finished applying
                // starts being judged.
                if let Phase::Applying { stage, wave, .. } = *resume_to
                    && self.wave_applied(obs, stage, wave)
                {
                    let name = self.plan.stages[stage].name.clone();
                    self.record(out, now, EventKind::WaveApplied { stage: name, wave });
                    *resume_to = Phase::Baking { stage, wave, since: now, held: false };
                    self.phase = Phase::Paused { resume_to: resume_to.clone(), by };
                }
                if let Phase::Applying { stage, .. } | Phase::Baking { stage, .. } = *resume_to
                    && self.check_apply_failures(out, now, obs, stage)
                {
                    return;
                }
                if let Phase::Baking { stage, wave, since, .. } = *resume_to
                    && self.judge(out, now, obs, stage, wave, since) == Verdict::Fail
                {
                    {
                        let why = format!(
                            "stage {} wave {}: a gate failed while paused",
                            self.plan.stages[stage].name,
                            wave + 1
                        );
                        self.begin_rollback(out, now, why, Outcome::RolledBack);
                    }
                }
            }
            Phase::RollingBack { since, why, outcome } => {
                let to = self.known_good.as_ref();
                let behind: Vec<&TargetId> = self.touched.iter().filter(|t| obs.running(t) != to).collect();
                if behind.is_empty() {
                    self.finish(out, now, outcome, why);
                } else if now >= since + ROLLBACK_CONFIRM_TIMEOUT {
                    // An offline target must not keep the service locked forever: its desired
                    // state already names known-good, and it moves when it comes back.
                    let shown: Vec<String> = behind.iter().take(10).map(|t| t.to_string()).collect();
                    let more = if behind.len() > shown.len() {
                        format!(" and {} more", behind.len() - shown.len())
                    } else {
                        String::new()
                    };
                    let why = format!(
                        "{why}; {} target(s) did not confirm the rollback within {}: {}{more} (their desired release is known-good; they move when they report again)",
                        behind.len(),
                        ROLLBACK_CONFIRM_TIMEOUT,
                        shown.join(", ")
                    );
                    self.finish(out, now, outcome, why);
                }
            }
        }
    }

    /// A wave target that runs another release while its wave bakes fell back on its own (a
    /// crash loop, a local switch-back): the wave failed even if the others look healthy.
    fn left_candidate(&self, obs: &dyn Observations, stage: usize, wave: usize) -> Option<String> {
        let sp = &self.plan.stages[stage];
        let left: Vec<String> = sp.targets[..sp.wave_ends[wave]]
            .iter()
            .filter_map(|t| match obs.running(t) {
                Some(r) if r != &self.release => Some(format!("{t} runs {r}")),
                _ => None,
            })
            .collect();
        if left.is_empty() {
            return None;
        }
        Some(format!(
            "stage {} wave {}: {} target(s) left the candidate while baking ({})",
            sp.name,
            wave + 1,
            left.len(),
            left.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ))
    }

    fn wave_applied(&self, obs: &dyn Observations, stage: usize, wave: usize) -> bool {
        let sp = &self.plan.stages[stage];
        sp.targets[..sp.wave_ends[wave]].iter().all(|t| obs.running(t) == Some(&self.release))
    }

    /// Evaluate every gate of the stage for the current wave; records verdict changes.
    fn judge(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
        wave: usize,
        since: Millis,
    ) -> Verdict {
        let sp = &self.plan.stages[stage];
        let w = Window { now, wave_start: since, candidate: &self.release, canary_end: sp.wave_ends[wave] };
        let mut evals = Vec::new();
        for g in &sp.gates {
            evals.extend(evaluate(g, sp, w, obs));
        }
        let name = sp.name.clone();
        let verdict = combine(&evals);
        for e in &evals {
            let key = format!("{stage}/{wave}/{}/{}", e.gate, e.scope.clone().unwrap_or_default());
            if self.last_verdicts.get(&key) != Some(&e.verdict) {
                self.last_verdicts.insert(key, e.verdict);
                self.record(out, now, EventKind::Gate { stage: name.clone(), wave, eval: e.clone() });
            }
        }
        self.last_evals = evals;
        verdict
    }

    /// Apply failures among the targets moved so far fail the rollout.
    fn check_apply_failures(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
    ) -> bool {
        let mut failures = Vec::new();
        for t in &self.touched {
            if let Some(reason) = obs.apply_failure(t, &self.release) {
                failures.push((t.clone(), reason));
            }
        }
        if failures.is_empty() {
            return false;
        }
        let name = self.plan.stages[stage].name.clone();
        let first = format!("{}: {}", failures[0].0, failures[0].1);
        let n = failures.len();
        for (target, reason) in failures {
            self.record(out, now, EventKind::ApplyFailed { stage: name.clone(), target, reason });
        }
        self.begin_rollback(
            out,
            now,
            format!("stage {name}: {n} target(s) failed to apply ({first})"),
            Outcome::RolledBack,
        );
        true
    }

    fn promote(&mut self, out: &mut Vec<Action>, now: Millis, stage: usize, wave: usize) {
        if self.failed {
            return; // never-promote-past-failed-gate
        }
        let name = self.plan.stages[stage].name.clone();
        // The log keeps each verdict change; it also keeps the evaluations that let the wave
        // pass, with their values at that moment, unless this step recorded them already.
        let recorded: Vec<GateEval> = out
            .iter()
            .filter_map(|a| match a {
                Action::Record(e) => match &e.kind {
                    EventKind::Gate { eval, .. } => Some(eval.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        for eval in self.last_evals.clone() {
            if !recorded.contains(&eval) {
                self.record(out, now, EventKind::Gate { stage: name.clone(), wave, eval });
            }
        }
        self.record(out, now, EventKind::WavePassed { stage: name.clone(), wave });
        if wave + 1 < self.plan.stages[stage].wave_ends.len() {
            self.start_wave(out, now, stage, wave + 1);
        } else {
            self.record(out, now, EventKind::StagePassed { stage: name });
            self.enter_stage(out, now, stage + 1);
        }
    }

    fn enter_stage(&mut self, out: &mut Vec<Action>, now: Millis, mut stage: usize) {
        while stage < self.plan.stages.len() && self.plan.stages[stage].targets.is_empty() {
            let name = self.plan.stages[stage].name.clone();
            self.record(
                out,
                now,
                EventKind::StageSkipped { stage: name, why: "no target matches its selector".into() },
            );
            stage += 1;
        }
        if stage >= self.plan.stages.len() {
            self.finish(out, now, Outcome::Completed, "every stage passed".into());
            return;
        }
        let name = self.plan.stages[stage].name.clone();
        if self.coverage_checked.insert(stage)
            && let Some((missing, labels, mode)) = self.coverage_gap(stage)
        {
            {
                let blocking = mode == CoverageMode::Block;
                self.record(out, now, EventKind::CoverageGap { stage: name.clone(), labels, missing, blocking });
                if blocking && !self.approved.contains(&stage) {
                    let why = "coverage gap: earlier stages did not include every variant this stage has".to_string();
                    self.record(out, now, EventKind::AwaitingApproval { stage: name, why: why.clone() });
                    self.phase = Phase::AwaitingApproval { stage, why };
                    return;
                }
            }
        }
        if self.plan.stages[stage].approval && !self.approved.contains(&stage) {
            let why = "the stage requires approval".to_string();
            self.record(out, now, EventKind::AwaitingApproval { stage: name, why: why.clone() });
            self.phase = Phase::AwaitingApproval { stage, why };
            return;
        }
        self.start_wave(out, now, stage, 0);
    }

    /// Combinations of the coverage labels present in `stage` but in no earlier stage.
    fn coverage_gap(&self, stage: usize) -> Option<(Vec<String>, Vec<String>, CoverageMode)> {
        let cov = self.plan.stages[stage].coverage.as_ref()?;
        let combos = |sp: &super::plan::StagePlan| -> BTreeSet<String> {
            (0..sp.targets.len())
                .map(|i| {
                    cov.labels
                        .iter()
                        .map(|l| format!("{l}={}", sp.label_of(l, i).unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect()
        };
        let here = combos(&self.plan.stages[stage]);
        let mut before = BTreeSet::new();
        for sp in &self.plan.stages[..stage] {
            // Earlier stages' plans only carry the labels they needed; use their targets' values
            // where recorded.
            if cov.labels.iter().all(|l| sp.label_values.contains_key(l)) {
                before.extend(combos(sp));
            }
        }
        let missing: Vec<String> = here.difference(&before).cloned().collect();
        if missing.is_empty() { None } else { Some((missing, cov.labels.clone(), cov.mode)) }
    }

    fn start_wave(&mut self, out: &mut Vec<Action>, now: Millis, stage: usize, wave: usize) {
        let sp = &self.plan.stages[stage];
        let begin = if wave == 0 { 0 } else { sp.wave_ends[wave - 1] };
        let end = sp.wave_ends[wave];
        let new: Vec<TargetId> = sp.targets[begin..end].to_vec();
        let kind = EventKind::WaveStarted {
            stage: sp.name.clone(),
            wave,
            size: sp.wave_sizes.get(wave).cloned().unwrap_or_default(),
            targets: end,
            new_targets: new.len(),
        };
        self.record(out, now, kind);
        if !new.is_empty() {
            self.touched.extend(new.iter().cloned());
            out.push(Action::SetDesired { targets: new, release: self.release.clone() });
        }
        self.phase = Phase::Applying { stage, wave, since: now };
    }

    fn begin_rollback(&mut self, out: &mut Vec<Action>, now: Millis, why: String, outcome: Outcome) {
        self.failed = self.failed || outcome == Outcome::RolledBack;
        self.record(
            out,
            now,
            EventKind::RollbackStarted { why: why.clone(), targets: self.touched.len(), to: self.known_good.clone() },
        );
        if !self.touched.is_empty() {
            out.push(Action::RollBack { targets: self.touched.clone(), to: self.known_good.clone() });
        }
        self.phase = Phase::RollingBack { since: now, why, outcome };
    }

    fn finish(&mut self, out: &mut Vec<Action>, now: Millis, outcome: Outcome, why: String) {
        self.record(out, now, EventKind::Finished { outcome, why: why.clone() });
        self.phase = Phase::Finished { outcome, at: now, why };
    }

    fn record(&self, out: &mut Vec<Action>, now: Millis, kind: EventKind) {
        out.push(Action::Record(Box::new(Event { at: now, rollout: self.id.clone(), kind })));
    }

    /// Carry out an operator's command.
    pub fn command(&mut self, now: Millis, cmd: &Command) -> Result<Vec<Action>, CommandError> {
        let mut out = Vec::new();
        let refuse = |r: &Rollout, command: &'static str| CommandError::NotApplicable {
            rollout: r.id.clone(),
            command,
            phase: r.phase_name().to_string(),
        };
        match cmd {
            Command::Pause { by } => match &self.phase {
                Phase::Applying { .. } | Phase::Baking { .. } | Phase::AwaitingApproval { .. } => {
                    self.record(&mut out, now, EventKind::Paused { by: by.clone() });
                    self.phase = Phase::Paused { resume_to: Box::new(self.phase.clone()), by: by.clone() };
                }
                _ => return Err(refuse(self, "pause")),
            },
            Command::Resume { by } => match self.phase.clone() {
                Phase::Paused { resume_to, .. } => {
                    self.record(&mut out, now, EventKind::Resumed { by: by.clone() });
                    // A bake must be one unbroken healthy stretch: it starts over.
                    self.phase = match *resume_to {
                        Phase::Baking { stage, wave, .. } => Phase::Baking { stage, wave, since: now, held: false },
                        other => other,
                    };
                }
                _ => return Err(refuse(self, "resume")),
            },
            Command::Approve { by } => match self.phase.clone() {
                Phase::AwaitingApproval { stage, .. } => {
                    self.approved.insert(stage);
                    let name = self.plan.stages[stage].name.clone();
                    self.record(&mut out, now, EventKind::Approved { stage: name, by: by.clone() });
                    self.enter_stage(&mut out, now, stage);
                }
                _ => return Err(refuse(self, "approve")),
            },
            Command::Abort { by } => match self.phase {
                Phase::Finished { .. } | Phase::RollingBack { .. } => return Err(refuse(self, "abort")),
                _ => self.begin_rollback(&mut out, now, format!("aborted by {by}"), Outcome::Aborted),
            },
            Command::Rollback { by, reason } => match self.phase {
                Phase::Finished { .. } | Phase::RollingBack { .. } => return Err(refuse(self, "roll back")),
                _ => self.begin_rollback(&mut out, now, format!("rolled back by {by}: {reason}"), Outcome::RolledBack),
            },
        }
        Ok(out)
    }

    pub fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::AwaitingApproval { .. } => "awaiting approval",
            Phase::Applying { .. } => "applying",
            Phase::Baking { held: true, .. } => "held",
            Phase::Baking { .. } => "baking",
            Phase::Paused { .. } => "paused",
            Phase::RollingBack { .. } => "rolling back",
            Phase::Finished { outcome: Outcome::Completed, .. } => "completed",
            Phase::Finished { outcome: Outcome::RolledBack, .. } => "rolled back",
            Phase::Finished { outcome: Outcome::Aborted, .. } => "aborted",
        }
    }
}
