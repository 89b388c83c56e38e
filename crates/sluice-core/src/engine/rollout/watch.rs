//! After the wave: every stage already passed stays judged by its own gates for the whole
//! rollout (while later waves run, while awaiting approval, while paused), and after the last
//! wave the whole release is on probation: only when it ends does the release become
//! known-good. A failure anywhere rolls back everything touched and names the stage.

use std::collections::BTreeMap;

use super::{Phase, Rollout};
use crate::engine::action::{Action, EventKind, Outcome};
use crate::engine::gates::{GateEval, Verdict};
use crate::engine::observe::Observations;
use crate::spec::{GateKind, OnFail};
use crate::time::{Dur, Millis};

impl Rollout {
    /// Judge every stage reached before `upto` (each over all its members, with its own gates,
    /// silence and left-candidate checks). Rolls back on a failure, or pauses for a failing gate
    /// with `on_fail: pause`. Returns whether it did either.
    pub(super) fn guard_passed(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        upto: usize,
        context: &str,
    ) -> bool {
        let mut watched = BTreeMap::new();
        for stage in 0..upto.min(self.plan.stages.len()) {
            if self.marks_of(stage).told.is_empty() {
                continue; // skipped (no targets) or never reached
            }
            let last = self.plan.stages[stage].wave_ends.len().saturating_sub(1);
            let name = self.plan.stages[stage].name.clone();
            if let Some(why) = self.left_candidate_of(obs, stage, last) {
                let why = format!("{why} (passed earlier; {context})");
                self.record(out, now, EventKind::WatchFailed { stage: name, why: why.clone() });
                self.begin_rollback(out, now, why, Outcome::RolledBack);
                return true;
            }
            let silent = self.silent_members(obs, now, stage, last);
            let silence = self.silence_evals(&silent, stage);
            let since = self.marks_of(stage).waves.last().copied().unwrap_or(self.started_at);
            let evals = self.evaluate_stage(out, now, obs, stage, last, since, silence);
            watched.insert(name, evals);
        }
        self.watched = watched;
        for pause in [false, true] {
            let failing: Vec<(String, String)> = self
                .watched
                .iter()
                .filter_map(|(stage, evals)| {
                    let f: Vec<&GateEval> = evals
                        .iter()
                        .filter(|e| e.verdict == Verdict::Fail && (e.on_fail == OnFail::Pause) == pause)
                        .collect();
                    (!f.is_empty()).then(|| (stage.clone(), Self::summaries(f.into_iter())))
                })
                .collect();
            let Some((stage, summary)) = failing.into_iter().next() else { continue };
            if pause && matches!(self.phase, Phase::Paused { .. }) {
                return false; // already waiting for a person
            }
            let never = if matches!(self.phase, Phase::Probation { .. }) {
                "; the release never became known-good"
            } else {
                ""
            };
            let why = format!("stage {stage} (passed earlier; failed {context}): {summary}{never}");
            self.record(out, now, EventKind::WatchFailed { stage, why: why.clone() });
            if pause {
                return self.pause_for_gate(out, now, why);
            }
            self.begin_rollback(out, now, why, Outcome::RolledBack);
            return true;
        }
        false
    }

    /// Whether a watched stage lacks a verdict in a way that holds promotion and probation: a
    /// threshold gate without data, or a silent member under `on_silent: hold`. (A compare gate
    /// has no baseline once its stage runs the candidate everywhere; it judges waves, not
    /// watched stages: `sluice check` warns about a stage judged by compare gates alone.)
    pub(super) fn watched_lacking(&self) -> Vec<String> {
        self.watched
            .iter()
            .flat_map(|(stage, evals)| {
                evals
                    .iter()
                    .filter(|e| e.verdict == Verdict::Inconclusive && e.kind != GateKind::Compare)
                    .map(move |e| format!("stage {stage}: {}", e.summary()))
            })
            .collect()
    }

    /// After the last wave: probation, or done at once when it is zero.
    pub(super) fn enter_probation(&mut self, out: &mut Vec<Action>, now: Millis) {
        if self.plan.probation == Dur::ZERO {
            self.finish(out, now, Outcome::Completed, "every stage passed".into());
            return;
        }
        self.record(out, now, EventKind::ProbationStarted { probation: self.plan.probation });
        self.phase = Phase::Probation { since: now, held: false, observed: Dur::ZERO, checked: now };
    }

    /// How long probation may stay held past its length before it fails closed: the longest
    /// `hold_timeout` of the pipeline's stages.
    pub(super) fn probation_hold_timeout(&self) -> Dur {
        self.plan.stages.iter().map(|s| s.hold_timeout).max().unwrap_or(crate::spec::DEFAULT_HOLD_TIMEOUT)
    }

    /// Whether every judged member of every stage reached reported recently (false when there
    /// is nobody to watch).
    fn fresh_everywhere(&self, obs: &dyn Observations, now: Millis) -> bool {
        let mut any = false;
        for stage in 0..self.plan.stages.len() {
            if self.marks_of(stage).told.is_empty() {
                continue;
            }
            let last = self.plan.stages[stage].wave_ends.len().saturating_sub(1);
            if !self.all_fresh(obs, now, stage, last) {
                return false;
            }
            any = true;
        }
        any
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn step_probation(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        since: Millis,
        held: bool,
        observed: Dur,
        checked: Millis,
    ) {
        let last = self.plan.stages.len().saturating_sub(1);
        if self.check_apply_failures(out, now, obs, last) {
            return;
        }
        if self.guard_passed(out, now, obs, self.plan.stages.len(), "in probation") {
            return;
        }
        let fresh = self.fresh_everywhere(obs, now);
        let credit = if fresh { self.watched_time(obs, now, checked) } else { Dur::ZERO };
        let observed = observed + credit;
        self.phase = Phase::Probation { since, held, observed, checked: now };
        let lacking = self.watched_lacking();
        let probation = self.plan.probation;
        if observed >= probation && fresh && lacking.is_empty() {
            self.record(out, now, EventKind::ProbationPassed { observed });
            self.finish(out, now, Outcome::Completed, format!("every stage passed and {probation} of probation held"));
            return;
        }
        let why = if lacking.is_empty() {
            format!("{observed} of {probation} probation observed with every member reporting")
        } else {
            format!("inconclusive: {}", lacking.join("; "))
        };
        let hold_timeout = self.probation_hold_timeout();
        if now >= since + probation + hold_timeout {
            let why = format!("probation held past its deadline ({probation} + {hold_timeout} hold_timeout): {why}");
            self.record(out, now, EventKind::HoldTimedOut { stage: "probation".into(), wave: 0, why: why.clone() });
            self.begin_rollback(out, now, why, Outcome::RolledBack);
            return;
        }
        if !held && now >= since + probation {
            self.record(out, now, EventKind::Held { stage: "probation".into(), wave: 0, why });
            self.phase = Phase::Probation { since, held: true, observed, checked: now };
        }
    }

    /// A failing gate with `on_fail: pause`: promotion stops where it is and waits for a person.
    /// Returns true (the step acted), or false when already paused.
    pub(super) fn pause_for_gate(&mut self, out: &mut Vec<Action>, now: Millis, why: String) -> bool {
        if matches!(self.phase, Phase::Paused { .. }) {
            return false;
        }
        self.record(out, now, EventKind::GatePaused { why: why.clone() });
        self.phase = Phase::Paused { resume_to: Box::new(self.phase.clone()), by: format!("gate: {why}") };
        true
    }
}
