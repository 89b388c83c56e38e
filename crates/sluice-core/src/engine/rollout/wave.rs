//! Moving through a stage's waves: applying (judged from the first apply, with a deadline),
//! baking (observed time only), promotion, and entering the next stage.

use std::collections::BTreeSet;

use super::{Phase, Rollout, StageMarks, Streak, Told};
use crate::engine::action::{Action, EventKind, Outcome};
use crate::engine::gates::{GateEval, Verdict, Window, combine, evaluate};
use crate::engine::observe::Observations;
use crate::engine::plan::StagePlan;
use crate::release::TargetId;
use crate::spec::OnFail;
use crate::spec::{CoverageMode, OnSilent};
use crate::time::{Dur, Millis};

impl Rollout {
    /// Members of the stage's waves up to `wave` that are judged (not excluded), with their
    /// index in the stage's order.
    /// Members told to apply so far (a wave's moves may still be released in batches).
    pub(super) fn members(&self, stage: usize, wave: usize) -> impl Iterator<Item = (usize, &TargetId)> {
        let sp = &self.plan.stages[stage];
        let end = sp.wave_end(wave).min(self.marks_of(stage).told_end());
        sp.targets[..end].iter().enumerate().filter(|(_, t)| !self.excluded.contains(*t))
    }

    /// The marks of `stage` (empty if it was not reached).
    pub(super) fn marks_of(&self, stage: usize) -> &StageMarks {
        static NONE: StageMarks = StageMarks { waves: Vec::new(), told: Vec::new() };
        self.marks.get(stage).unwrap_or(&NONE)
    }

    /// When the apply deadline of the current wave counts from: its start, or the latest batch
    /// of moves released in it.
    pub(super) fn apply_clock(&self, stage: usize, since: Millis) -> Millis {
        self.marks_of(stage).last_told().map_or(since, |t| t.max(since))
    }

    pub(super) fn step_applying(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
        wave: usize,
        since: Millis,
    ) {
        if self.protect(out, now, obs, stage, wave, since) {
            return;
        }
        self.release_moves(out, now, obs, stage, wave);
        if self.wave_applied(obs, stage, wave) {
            self.baking(out, now, stage, wave);
            return;
        }
        let sp = &self.plan.stages[stage];
        if now < self.apply_clock(stage, since) + sp.apply_timeout {
            return;
        }
        let unconfirmed: Vec<TargetId> = self.memo.with(|m| {
            self.members(stage, wave)
                .filter(|&(i, t)| !m.seen(obs, (stage, i), t, &self.release).on_candidate)
                .map(|(_, t)| t.clone())
                .collect()
        });
        let wave_size = sp.wave_ends.get(wave).copied().unwrap_or(0);
        let allowed = sp.unconfirmed_allowed(wave_size);
        let name = sp.name.clone();
        let timeout = sp.apply_timeout;
        let listed = list(&unconfirmed);
        let waiting = sp.wave_end(wave).saturating_sub(self.marks_of(stage).told_end());
        if unconfirmed.len() <= allowed && waiting > 0 {
            // Moves still held back by max_unavailable, and the deadline passed: the stage
            // cannot make room.
            let out_now = self.out_of_service(obs, now, stage);
            let why = format!(
                "stage {name} wave {}: {waiting} target(s) could not be moved within {timeout}: {} of the stage's targets out of service (max_unavailable {}): {}",
                wave + 1,
                out_now.len(),
                sp.max_unavailable.unwrap_or(0),
                list(&out_now)
            );
            self.record(out, now, EventKind::ApplyTimedOut { stage: name, wave, targets: out_now });
            self.begin_rollback(out, now, why, Outcome::RolledBack);
            return;
        }
        if unconfirmed.len() <= allowed {
            self.record(
                out,
                now,
                EventKind::Excluded {
                    stage: name,
                    wave,
                    targets: unconfirmed.clone(),
                    why: format!(
                        "did not confirm the apply within {timeout}; {} of {allowed} allowed by max_unconfirmed",
                        unconfirmed.len()
                    ),
                },
            );
            self.excluded.extend(unconfirmed);
            self.baking(out, now, stage, wave);
            return;
        }
        self.record(out, now, EventKind::ApplyTimedOut { stage: name.clone(), wave, targets: unconfirmed.clone() });
        let why = format!(
            "stage {name} wave {}: {} target(s) did not confirm the apply within {timeout} (max_unconfirmed allows {allowed}): {listed}",
            wave + 1,
            unconfirmed.len(),
        );
        self.begin_rollback(out, now, why, Outcome::RolledBack);
    }

    fn baking(&mut self, out: &mut Vec<Action>, now: Millis, stage: usize, wave: usize) {
        let name = self.plan.stages[stage].name.clone();
        self.record(out, now, EventKind::WaveApplied { stage: name, wave });
        self.phase = Phase::Baking { stage, wave, since: now, held: false, observed: Dur::ZERO, checked: now };
    }

    /// What runs whatever the phase (applying, baking, paused): apply failures, members that
    /// left the candidate, silence and failing gates roll back. Returns whether it rolled back.
    fn protect(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
        wave: usize,
        since: Millis,
    ) -> bool {
        if self.check_apply_failures(out, now, obs, stage) {
            return true;
        }
        let context = if matches!(self.phase, Phase::Paused { .. }) { "while paused" } else { "while later waves ran" };
        if self.guard_passed(out, now, obs, stage, context) {
            return true;
        }
        if let Some(why) = self.left_candidate(obs, stage, wave) {
            self.begin_rollback(out, now, why, Outcome::RolledBack);
            return true;
        }
        let silent = self.silent_members(obs, now, stage, wave);
        let silence = self.silence_evals(&silent, stage);
        let evals = self.evaluate_stage(out, now, obs, stage, wave, since, silence);
        self.last_evals = evals;
        let failing = |pause: bool| {
            self.last_evals.iter().filter(move |e| e.verdict == Verdict::Fail && (e.on_fail == OnFail::Pause) == pause)
        };
        if failing(false).next().is_some() {
            let why = format!(
                "stage {} wave {}: {}",
                self.plan.stages[stage].name,
                wave + 1,
                Self::summaries(failing(false))
            );
            self.begin_rollback(out, now, why, Outcome::RolledBack);
            return true;
        }
        if failing(true).next().is_some() {
            let why =
                format!("stage {} wave {}: {}", self.plan.stages[stage].name, wave + 1, Self::summaries(failing(true)));
            return self.pause_for_gate(out, now, why);
        }
        false
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn step_baking(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        (stage, wave): (usize, usize),
        since: Millis,
        held: bool,
        observed: Dur,
        checked: Millis,
    ) {
        if self.protect(out, now, obs, stage, wave, since) {
            return;
        }
        let observed = observed + self.observed_credit(obs, now, stage, wave, checked);
        self.phase = Phase::Baking { stage, wave, since, held, observed, checked: now };
        let sp = &self.plan.stages[stage];
        let verdict = combine(&self.last_evals);
        // Silence never passes: every member must have been heard from just now, too.
        // Missing data never passes, in a stage already passed either: a watched stage that
        // lost its data holds promotion (its bake clock is this wave's).
        let watched_lacking = self.watched_lacking();
        if observed >= sp.bake
            && verdict == Verdict::Pass
            && watched_lacking.is_empty()
            && self.all_fresh(obs, now, stage, wave)
        {
            self.promote(out, now, stage, wave);
            return;
        }
        let name = sp.name.clone();
        let (bake, hold_timeout) = (sp.bake, sp.hold_timeout);
        let lacking = if verdict == Verdict::Pass && !watched_lacking.is_empty() {
            format!("inconclusive: {}", watched_lacking.join("; "))
        } else if verdict == Verdict::Pass {
            format!("{} of {bake} bake observed with every member reporting", observed)
        } else {
            format!(
                "inconclusive: {}",
                Self::summaries(self.last_evals.iter().filter(|e| e.verdict == Verdict::Inconclusive))
            )
        };
        if now >= since + bake + hold_timeout {
            let why = format!(
                "stage {name} wave {}: held past its deadline ({bake} bake + {hold_timeout} hold_timeout): {lacking}",
                wave + 1
            );
            self.record(out, now, EventKind::HoldTimedOut { stage: name, wave, why: why.clone() });
            self.begin_rollback(out, now, why, Outcome::RolledBack);
            return;
        }
        // Past the bake's length in wall time with a verdict still missing: say so once.
        if !held && now >= since + bake {
            self.record(out, now, EventKind::Held { stage: name, wave, why: lacking });
            self.phase = Phase::Baking { stage, wave, since, held: true, observed, checked: now };
        }
    }

    pub(super) fn step_paused(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        mut resume_to: Phase,
        by: String,
    ) {
        // Paused stops promotion, never protection: a wave that finished applying starts being
        // judged, and failures, silence and failing gates still roll back.
        if let Phase::Applying { stage, wave, .. } = resume_to
            && self.wave_applied(obs, stage, wave)
        {
            let name = self.plan.stages[stage].name.clone();
            self.record(out, now, EventKind::WaveApplied { stage: name, wave });
            resume_to = Phase::Baking { stage, wave, since: now, held: false, observed: Dur::ZERO, checked: now };
            self.phase = Phase::Paused { resume_to: Box::new(resume_to.clone()), by };
        }
        let guarded = match resume_to {
            Phase::Applying { stage, wave, since } | Phase::Baking { stage, wave, since, .. } => {
                self.protect(out, now, obs, stage, wave, since)
            }
            Phase::AwaitingApproval { stage, .. } => self.guard_passed(out, now, obs, stage, "while paused"),
            Phase::Probation { .. } => {
                let all = self.plan.stages.len();
                self.check_apply_failures(out, now, obs, all.saturating_sub(1))
                    || self.guard_passed(out, now, obs, all, "while paused in probation")
            }
            _ => false,
        };
        if guarded && matches!(self.phase, Phase::RollingBack { .. }) {
            // The rollback's reason already names the failure; note it happened while paused.
            if let Phase::RollingBack { why, .. } = &mut self.phase {
                why.push_str(" (while paused)");
            }
        }
    }

    /// A wave target that runs another release while its wave bakes fell back on its own (a
    /// crash loop, a local switch-back): the wave failed even if the others look healthy.
    fn left_candidate(&self, obs: &dyn Observations, stage: usize, wave: usize) -> Option<String> {
        if !matches!(self.phase, Phase::Baking { .. })
            && !matches!(&self.phase, Phase::Paused { resume_to, .. } if matches!(**resume_to, Phase::Baking { .. }))
        {
            return None;
        }
        self.left_candidate_of(obs, stage, wave)
    }

    /// Members of waves up to `wave` that run another release than the candidate.
    pub(super) fn left_candidate_of(&self, obs: &dyn Observations, stage: usize, wave: usize) -> Option<String> {
        let sp = &self.plan.stages[stage];
        let off: Vec<&TargetId> = self.memo.with(|m| {
            self.members(stage, wave)
                .filter(|&(i, t)| !m.seen(obs, (stage, i), t, &self.release).on_candidate)
                .map(|(_, t)| t)
                .collect()
        });
        let left: Vec<String> = off
            .into_iter()
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
        self.marks_of(stage).told_end() >= self.plan.stages[stage].wave_end(wave)
            && self.memo.with(|m| {
                self.members(stage, wave).all(|(i, t)| m.seen(obs, (stage, i), t, &self.release).on_candidate)
            })
    }

    /// Evaluate every gate of the stage over its waves up to `wave`, with the silence records,
    /// apply failure streaks (`failure_limit`), and record verdict changes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn evaluate_stage(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
        wave: usize,
        since: Millis,
        silence: Vec<GateEval>,
    ) -> Vec<GateEval> {
        self.memo.sync(&self.plan, obs);
        let sp = &self.plan.stages[stage];
        let marks = self.marks_of(stage);
        let w = Window {
            now,
            wave_start: marks.waves.get(wave).copied().unwrap_or(since),
            candidate: &self.release,
            canary_end: sp.wave_end(wave).min(marks.told_end()),
            told: &marks.told,
            excluded: &self.excluded,
        };
        let mut evals = silence;
        self.memo.with(|m| {
            for (i, g) in sp.gates.iter().enumerate() {
                evals.extend(evaluate(g, sp, w, obs, m.gate(stage, i)));
            }
        });
        let name = sp.name.clone();
        for e in &mut evals {
            let key = format!("{stage}/{}/{}", e.gate, e.scope.clone().unwrap_or_default());
            let streak = self.streaks.entry(key).or_default();
            apply_streak(e, streak, now, self.report_interval);
        }
        for e in &evals {
            let key = format!("{stage}/{wave}/{}/{}", e.gate, e.scope.clone().unwrap_or_default());
            if self.last_verdicts.get(&key) != Some(&e.verdict) {
                self.last_verdicts.insert(key, e.verdict);
                self.record(out, now, EventKind::Gate { stage: name.clone(), wave, eval: e.clone() });
            }
        }
        evals
    }

    /// Apply failures among the targets moved so far fail the rollout.
    pub(super) fn check_apply_failures(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
    ) -> bool {
        let mut failures = Vec::new();
        match obs.apply_failure_candidates() {
            Some(candidates) => {
                // In the order the targets were moved, as when every target is asked.
                let mut moved: Vec<(usize, TargetId)> =
                    candidates.into_iter().filter_map(|t| self.touched_position(&t).map(|p| (p, t))).collect();
                moved.sort();
                for (_, t) in moved {
                    if let Some(reason) = obs.apply_failure(&t, &self.release) {
                        failures.push((t, reason));
                    }
                }
            }
            None => {
                for t in self.touched() {
                    if let Some(reason) = obs.apply_failure(t, &self.release) {
                        failures.push((t.clone(), reason));
                    }
                }
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

    pub(super) fn enter_stage(&mut self, out: &mut Vec<Action>, now: Millis, mut stage: usize) {
        while stage < self.plan.stages.len() && self.plan.stages[stage].targets.is_empty() {
            let name = self.plan.stages[stage].name.clone();
            self.record(
                out,
                now,
                EventKind::StageSkipped {
                    stage: name,
                    why: "no target matches its selector (the stage allows it: allow_empty)".into(),
                },
            );
            stage += 1;
        }
        if stage >= self.plan.stages.len() {
            self.enter_probation(out, now);
            return;
        }
        if self.marks.len() <= stage {
            self.marks.resize(stage + 1, StageMarks::default());
        }
        let name = self.plan.stages[stage].name.clone();
        if self.coverage_checked.insert(stage)
            && let Some((missing, labels, mode)) = self.coverage_gap(stage)
        {
            let blocking = mode == CoverageMode::Block;
            self.record(out, now, EventKind::CoverageGap { stage: name.clone(), labels, missing, blocking });
            if blocking && !self.approved.contains(&stage) {
                let why = "coverage gap: earlier stages did not include every variant this stage has".to_string();
                self.record(out, now, EventKind::AwaitingApproval { stage: name, why: why.clone() });
                self.phase = Phase::AwaitingApproval { stage, why, until: None };
                return;
            }
        }
        if let Some(rule) = self.plan.stages[stage].approval_rule()
            && !self.approved.contains(&stage)
        {
            let given = self.approvals.get(&stage).map_or(0, Vec::len);
            let why = super::command::approvals_why(given, &rule);
            self.record(out, now, EventKind::AwaitingApproval { stage: name, why: why.clone() });
            self.phase = Phase::AwaitingApproval { stage, why, until: None };
            return;
        }
        self.start_wave(out, now, stage, 0);
    }

    /// Combinations of the coverage labels present in `stage` but in no earlier stage.
    fn coverage_gap(&self, stage: usize) -> Option<(Vec<String>, Vec<String>, CoverageMode)> {
        let cov = self.plan.stages[stage].coverage.as_ref()?;
        let combos = |sp: &StagePlan| -> BTreeSet<String> {
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

    pub(super) fn start_wave(&mut self, out: &mut Vec<Action>, now: Millis, stage: usize, wave: usize) {
        let sp = &self.plan.stages[stage];
        let begin = if wave == 0 { 0 } else { sp.wave_ends[wave - 1] };
        let end = sp.wave_ends[wave];
        let batched = sp.max_unavailable.is_some();
        // Under max_unavailable the moves are released in batches by `release_moves`.
        let new: Vec<TargetId> = if batched { Vec::new() } else { sp.targets[begin..end].to_vec() };
        let kind = EventKind::WaveStarted {
            stage: sp.name.clone(),
            wave,
            size: sp.wave_sizes.get(wave).cloned().unwrap_or_default(),
            targets: end,
            new_targets: end - begin,
        };
        self.record(out, now, kind);
        if self.marks.len() <= stage {
            self.marks.resize(stage + 1, StageMarks::default());
        }
        let marks = &mut self.marks[stage];
        marks.waves.truncate(wave);
        while marks.waves.len() <= wave {
            marks.waves.push(now);
        }
        if !new.is_empty() {
            self.marks[stage].told.push(Told { end, at: now });
            out.push(Action::SetDesired { targets: new, release: self.release.clone() });
        }
        self.phase = Phase::Applying { stage, wave, since: now };
    }

    /// Whether a silent member holds rather than fails the wave in `stage`.
    pub(super) fn holds_on_silence(&self, stage: usize) -> bool {
        self.plan.stages.get(stage).is_some_and(|s| s.on_silent == OnSilent::Hold)
    }
}

/// `failure_limit`: a failing evaluation counts at most once per report interval; until the
/// streak reaches the limit the gate holds (inconclusive) instead of failing. A pass ends the
/// streak.
fn apply_streak(e: &mut GateEval, streak: &mut Streak, now: Millis, interval: Dur) {
    match e.verdict {
        Verdict::Pass => *streak = Streak::default(),
        Verdict::Inconclusive => {}
        Verdict::Fail => {
            if streak.count == 0 || now >= streak.at + interval {
                streak.count += 1;
                streak.at = now;
            }
            e.consecutive_failures = streak.count;
            if streak.count < e.failure_limit {
                e.verdict = Verdict::Inconclusive;
                e.reason = format!(
                    "failing {} of {} consecutive evaluations needed: {}",
                    streak.count, e.failure_limit, e.reason
                );
            }
        }
    }
}

/// Up to ten targets, then how many more.
pub(super) fn list(targets: &[TargetId]) -> String {
    let shown: Vec<String> = targets.iter().take(10).map(ToString::to_string).collect();
    let more =
        if targets.len() > shown.len() { format!(" and {} more", targets.len() - shown.len()) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}
