//! sluice: each release is validated, then rolled out by the real engine (`Rollout`) through
//! the strategy's pipeline, stepped at report ticks and bake ends while a rollout is active.
//! The service's standing (`ServiceState`) decides what may start: one rollout at a time (the
//! newest waiting release goes next), and after a failed rollout a hold that makes every newer
//! release wait for a person. The engine's invariants are checked on every batch of actions and
//! every step (`check_actions`, and `check_step`: silence never passes, no verdict waits
//! forever; `check_desired`: the desired state follows from the rollout's state).

use std::collections::BTreeSet;

use sluice_core::engine::invariants::{
    DesiredTally, check_actions, check_desired, check_plan, check_rollback_targets, check_step, tally_desired,
};
use sluice_core::engine::{
    Action, Command, Event, EventKind, Outcome as EngineOutcome, Phase, Rollout, ServiceState, StartOptions,
    TargetInfo, Verdict,
};
use sluice_core::policy::{StartRequest, judge_start};
use sluice_core::release::ReleaseId;
use sluice_core::spec::{PipelineSpec, ServiceSpec};
use sluice_core::time::Millis;
use sluice_core::validate::Validators;

use super::{finish, outcome_of};
use crate::report::{ReleaseCounts, StrategyReport, fmt_at};
use crate::rng::{Stream, draw};
use crate::scenario::StrategySpec;
use crate::timeline::MarkerKind;
use crate::world::{Ctx, Delay, Ev, World};

/// The key of `approvals` for broken glass's second person.
pub(crate) const BREAK_GLASS: &str = "break_glass";

struct Driver<'s> {
    spec: &'s StrategySpec,
    pipeline: &'s PipelineSpec,
    pipeline_name: &'s str,
    /// The service as the policy sees it (which pipelines it lists).
    service: ServiceSpec,
    infos: Vec<TargetInfo>,
    validators: Option<Validators>,
    state: ServiceState,
    rollout: Option<Rollout>,
    rollouts: u64,
    /// The newest release waiting to start.
    pending: Option<u32>,
    tick_at: Option<Millis>,
    last_step: Option<Millis>,
    approval_asked: bool,
    /// Approvals given in the current rollout (each from another scripted person).
    approvals_given: u32,
    counts: ReleaseCounts,
    violations: u64,
    /// Releases that finished a probation (and the one the fleet ran before sluice): the only
    /// ones a rollback may return to.
    probated: BTreeSet<ReleaseId>,
    coverage_gaps: Vec<String>,
    notes: Vec<String>,
    /// What the current rollout's actions asked of each target, for `desired-follows-from-cursor`.
    tally: DesiredTally,
}

pub(crate) fn run(ctx: Ctx<'_>, spec: &StrategySpec, pipeline_name: &str, pipeline: &PipelineSpec) -> StrategyReport {
    let present = ctx.fleet.present(&spec.exclude_groups);
    let infos = ctx.fleet.infos(&present);
    let listed =
        ctx.scenario.service_pipelines.clone().unwrap_or_else(|| ctx.scenario.pipelines.keys().cloned().collect());
    let service = match listed.split_first() {
        Some((first, rest)) => ServiceSpec::for_pipelines(first.clone(), rest.to_vec()),
        None => ServiceSpec::for_pipelines(pipeline_name, Vec::new()),
    };
    let mut world = World::new(ctx, present);
    let mut d = Driver {
        spec,
        pipeline,
        pipeline_name,
        service,
        infos,
        validators: (!spec.validators.is_empty()).then(|| Validators::new(&spec.validators)),
        state: ServiceState { known_good: Some(ctx.cat.get(0).id.clone()), ..ServiceState::default() },
        rollout: None,
        rollouts: 0,
        pending: None,
        tick_at: None,
        last_step: None,
        approval_asked: false,
        approvals_given: 0,
        counts: ReleaseCounts::default(),
        violations: 0,
        probated: [ctx.cat.get(0).id.clone()].into_iter().collect(),
        coverage_gaps: Vec::new(),
        notes: Vec::new(),
        tally: DesiredTally::new(),
    };
    while let Some(ev) = world.next() {
        match ev {
            Ev::Release(r) => d.on_release(&mut world, r),
            Ev::Tick => {
                if d.tick_at == Some(world.now) {
                    d.tick_at = None;
                }
                d.step(&mut world);
            }
            Ev::Approve => d.approve(&mut world),
            Ev::ClearHold => d.clear_hold(&mut world),
            _ => {}
        }
    }
    // A rollout that has not finished by the end did not ship: its release counts as held.
    if let Some(r) = &d.rollout {
        d.notes.push(format!("rollout {} of {} still {} at the end", r.id, r.release, r.phase_name()));
        d.counts.held += 1;
    }
    d.notes.insert(0, d.counts.summary());
    let outcome = outcome_of(&d.counts, d.state.hold.is_some() || d.rollout.is_some());
    finish(world, spec, "pipeline", d.counts, outcome, d.violations, d.coverage_gaps, d.notes)
}

impl Driver<'_> {
    fn on_release(&mut self, world: &mut World<'_>, r: u32) {
        let ctx = world.ctx;
        let now = world.now;
        self.counts.created += 1;
        let rel = ctx.cat.get(r);
        if let Some(v) = &self.validators {
            let parent = self.state.known_good.as_ref().and_then(|id| ctx.cat.index_of(id)).unwrap_or(0);
            let report = v.validate(&rel.files, Some(&ctx.cat.get(parent).files));
            if !report.is_ok() {
                self.counts.rejected += 1;
                let first = report.violations.first().map(ToString::to_string).unwrap_or_default();
                if self.counts.rejected == 1 {
                    self.notes.push(format!(
                        "first rejection: {} at {} ({} violations): {}",
                        rel.id,
                        fmt_at(now, ctx.scenario),
                        report.violations.len(),
                        report.violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    ));
                }
                world.timeline.mark(now, MarkerKind::Rejected, format!("{} rejected: {first}", rel.id));
                if rel.bad() {
                    world.timeline.detect(now);
                }
                return;
            }
        }
        if self.state.hold.is_some() {
            self.counts.held += 1;
            self.pending = Some(r);
        } else if self.rollout.is_some() {
            if self.pending.replace(r).is_some() {
                self.counts.superseded += 1;
            }
        } else {
            self.start(world, r);
        }
    }

    fn start(&mut self, world: &mut World<'_>, r: u32) {
        let ctx = world.ctx;
        if self.state.may_start().is_err() {
            self.pending = Some(r);
            return;
        }
        let release = ctx.cat.get(r).id.clone();
        // The start-time policy, judged as the server judges it.
        let reason = self
            .spec
            .break_glass
            .clone()
            .or_else(|| self.spec.emergency.then(|| "simulated emergency change".to_string()));
        let verdict = judge_start(&StartRequest {
            service: &ctx.scenario.service,
            spec: &self.service,
            pipeline_name: self.pipeline_name,
            pipeline: self.pipeline,
            targets: &self.infos,
            change: &self.spec.change,
            emergency: self.spec.emergency,
            reason: reason.as_deref(),
        });
        let break_glass = match verdict.resolve(self.spec.break_glass.as_deref()) {
            Ok(glass) => glass,
            Err(refusal) => {
                self.counts.rejected += 1;
                self.notes
                    .push(format!("{release} refused by policy at {}: {refusal}", fmt_at(world.now, ctx.scenario)));
                world.timeline.mark(world.now, MarkerKind::Rejected, format!("{release} refused by policy: {refusal}"));
                return;
            }
        };
        self.rollouts += 1;
        let id = format!("{}-{}", self.spec.name, self.rollouts);
        let opts = StartOptions {
            emergency: self.spec.emergency,
            reason,
            revert: false,
            seed: draw(ctx.seed, Stream::PlanSeed, self.rollouts, 0),
            report_interval: ctx.scenario.report_interval,
            author: None,
            change: self.spec.change.clone(),
            break_glass,
        };
        let known_good = self.state.known_good.clone();
        match Rollout::start(
            id,
            &ctx.scenario.service,
            release,
            known_good,
            self.pipeline,
            &self.infos,
            &opts,
            world.now,
        ) {
            Err(e) => {
                self.counts.not_started += 1;
                self.notes.push(format!("{} could not start: {e}", ctx.cat.get(r).id));
            }
            Ok((rollout, actions)) => {
                self.violations += check_plan(&rollout).len() as u64;
                self.violations += check_actions(&rollout, false, &actions).len() as u64;
                self.violations += check_step(&rollout, world.now, &*world, &actions).len() as u64;
                self.rollout = Some(rollout);
                self.tally.clear();
                self.approval_asked = false;
                self.approvals_given = 0;
                self.carry_out(world, &actions);
                self.after_step(world);
            }
        }
    }

    fn step(&mut self, world: &mut World<'_>) {
        let now = world.now;
        let Some(r) = self.rollout.as_mut() else { return };
        if self.last_step == Some(now) {
            return;
        }
        self.last_step = Some(now);
        let failed_before = r.failed;
        let actions = r.step(now, &*world);
        self.violations += check_actions(r, failed_before, &actions).len() as u64;
        self.violations += check_step(r, now, &*world, &actions).len() as u64;
        self.carry_out(world, &actions);
        self.after_step(world);
    }

    fn approve(&mut self, world: &mut World<'_>) {
        let Some(r) = self.rollout.as_mut() else { return };
        let failed_before = r.failed;
        // Each approval of a stage comes from another person.
        self.approvals_given += 1;
        let by = format!("approver-{}", self.approvals_given);
        if let Ok(actions) = r.command(world.now, &Command::Approve { by, reason: None, role: None }) {
            self.violations += check_actions(r, failed_before, &actions).len() as u64;
            self.violations += check_step(r, world.now, &*world, &actions).len() as u64;
            self.approval_asked = false;
            self.carry_out(world, &actions);
            self.after_step(world);
        }
    }

    fn clear_hold(&mut self, world: &mut World<'_>) {
        if let Some(h) = self.state.clear_hold() {
            self.notes.push(format!("hold after {} cleared at {}", h.release, fmt_at(world.now, world.ctx.scenario)));
        }
        if self.rollout.is_none()
            && let Some(p) = self.pending.take()
        {
            self.start(world, p);
        }
    }

    /// Carry out the engine's decisions: moves go to the agents, events to the timeline.
    fn carry_out(&mut self, world: &mut World<'_>, actions: &[Action]) {
        let ctx = world.ctx;
        self.violations += check_rollback_targets(&self.probated, actions).len() as u64;
        tally_desired(&mut self.tally, actions);
        // The engine says how the service's standing changes.
        self.state.apply_all(actions, world.now);
        let moves = actions.iter().any(|a| !matches!(a, Action::Record(_)));
        if let Some(r) = self.rollout.as_ref().filter(|_| moves) {
            self.violations += check_desired(r, &self.tally, true).len() as u64;
        }
        for a in actions {
            match a {
                Action::SetDesired { targets, release } => {
                    let Some(r) = ctx.cat.index_of(release) else { continue };
                    let ids = targets.iter().filter_map(|t| ctx.fleet.index_of(t));
                    world.tell(ids, r, Delay::Apply);
                }
                Action::RollBack { targets, to } => {
                    let r = to.as_ref().and_then(|id| ctx.cat.index_of(id)).unwrap_or(0);
                    let ids = targets.iter().filter_map(|t| ctx.fleet.index_of(t));
                    world.tell(ids, r, Delay::Rollback);
                }
                Action::Record(e) => self.record(world, e),
                Action::Service(_) => {} // applied above
            }
        }
    }

    fn record(&mut self, world: &mut World<'_>, e: &Event) {
        let now = world.now;
        let bad = self
            .rollout
            .as_ref()
            .and_then(|r| world.ctx.cat.index_of(&r.release))
            .is_some_and(|r| world.ctx.cat.get(r).bad());
        let tl = &mut world.timeline;
        match &e.kind {
            EventKind::WaveStarted { stage, wave, size, targets, .. } => {
                tl.mark(
                    now,
                    MarkerKind::Wave,
                    format!("{}: {stage} wave {} ({size}, {targets} targets)", e.rollout, wave + 1),
                );
            }
            EventKind::Gate { stage, wave, eval } => {
                let scope = eval.scope.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default();
                let label =
                    format!("{}: {stage} wave {} gate {}{scope}: {}", e.rollout, wave + 1, eval.gate, eval.reason);
                match eval.verdict {
                    Verdict::Fail => {
                        tl.mark(now, MarkerKind::GateFail, label);
                        if bad {
                            tl.detect(now);
                        }
                    }
                    Verdict::Pass => tl.mark(now, MarkerKind::GatePass, label),
                    Verdict::Inconclusive => {}
                }
            }
            EventKind::ApplyFailed { stage, target, reason } => {
                tl.mark(
                    now,
                    MarkerKind::GateFail,
                    format!("{}: {stage}: {target} failed to apply: {reason}", e.rollout),
                );
                if bad {
                    tl.detect(now);
                }
            }
            EventKind::ApplyTimedOut { stage, wave, targets } => {
                let shown: Vec<String> = targets.iter().take(3).map(ToString::to_string).collect();
                let more = targets.len().saturating_sub(shown.len());
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                tl.mark(
                    now,
                    MarkerKind::GateFail,
                    format!(
                        "{}: {stage} wave {}: apply not confirmed by {}{more}",
                        e.rollout,
                        wave + 1,
                        shown.join(", ")
                    ),
                );
                if bad {
                    tl.detect(now);
                }
            }
            EventKind::HoldTimedOut { why, .. } => {
                tl.mark(now, MarkerKind::GateFail, format!("{}: {why}", e.rollout));
                if bad {
                    tl.detect(now);
                }
            }
            EventKind::Excluded { stage, wave, targets, why } => {
                self.notes.push(format!(
                    "{}: {stage} wave {}: {} target(s) excluded: {why} (at {})",
                    e.rollout,
                    wave + 1,
                    targets.len(),
                    fmt_at(now, world.ctx.scenario)
                ));
            }
            EventKind::RollbackFailed { target, reason } => {
                self.notes.push(format!(
                    "{}: {target} failed to return: {reason} (at {})",
                    e.rollout,
                    fmt_at(now, world.ctx.scenario)
                ));
            }
            EventKind::Finished { outcome: EngineOutcome::RollbackIncomplete, why } => {
                self.notes.push(format!(
                    "{} ended rollback incomplete: {why} (at {})",
                    e.rollout,
                    fmt_at(now, world.ctx.scenario)
                ));
            }
            EventKind::RollbackStarted { why, targets, to } => {
                let to = to.as_ref().map_or("what it ran before".to_string(), ToString::to_string);
                let label = format!("{}: rollback of {targets} targets to {to}: {why}", e.rollout);
                self.notes.push(format!("{label} (at {})", fmt_at(now, world.ctx.scenario)));
                tl.mark(now, MarkerKind::Rollback, label);
            }
            EventKind::CoverageGap { stage, labels, missing, blocking } => {
                let mode = if *blocking { "blocking" } else { "warning" };
                self.coverage_gaps.push(format!(
                    "{}: stage {stage}: {} ({}) not present in earlier stages ({mode}, at {})",
                    e.rollout,
                    missing.join("; "),
                    labels.join(","),
                    fmt_at(now, world.ctx.scenario)
                ));
            }
            EventKind::Finished { outcome: EngineOutcome::Completed, .. } => {
                tl.mark(now, MarkerKind::Completed, format!("{} completed", e.rollout));
            }
            _ => {}
        }
    }

    /// After the engine acted: take a finished rollout's result, or plan the next step.
    fn after_step(&mut self, world: &mut World<'_>) {
        let now = world.now;
        let Some(r) = &self.rollout else { return };
        if r.is_finished() {
            match r.outcome() {
                Some(EngineOutcome::Completed) => {
                    self.counts.shipped += 1;
                    self.probated.insert(r.release.clone());
                }
                Some(o @ (EngineOutcome::RolledBack | EngineOutcome::RollbackIncomplete)) => {
                    if o == EngineOutcome::RolledBack {
                        self.counts.rolled_back += 1;
                    } else {
                        self.counts.rollback_incomplete += 1;
                    }
                    if let Some(d) = self.spec.clear_hold_after {
                        world.schedule(now + d, Ev::ClearHold);
                    }
                }
                _ => self.counts.aborted += 1,
            }
            self.rollout = None;
            if self.state.may_start().is_ok()
                && let Some(p) = self.pending.take()
            {
                self.start(world, p);
            }
            return;
        }
        if let Phase::AwaitingApproval { stage, until, .. } = &r.phase {
            let glass = r.break_glass.as_ref().is_some_and(|g| g.approved.is_none());
            let (key, what) = match r.plan.stages.get(*stage).map(|s| s.name.as_str()) {
                _ if glass => (BREAK_GLASS, "its broken glass".to_string()),
                Some(name) => (name, format!("stage {name}")),
                None => ("", "an unknown stage".to_string()),
            };
            if !self.approval_asked {
                self.approval_asked = true;
                match self.spec.approvals.get(key) {
                    Some(d) => world.schedule(now + *d, Ev::Approve),
                    None => self.notes.push(format!("{} waits for approval of {what}", r.id)),
                }
            }
            // Broken glass waits for its approval until a deadline, and no longer.
            if let Some(until) = *until
                && self.tick_at.is_none_or(|t| until < t || t <= now)
            {
                self.tick_at = Some(until);
                world.schedule(until, Ev::Tick);
            }
            return;
        }
        let interval = world.ctx.scenario.report_interval.0.max(1);
        let mut next = Millis((now.0 / interval + 1) * interval);
        if let Some(w) = r.next_wakeup(now).filter(|w| *w < next) {
            next = w;
        }
        if self.tick_at.is_none_or(|t| next < t || t <= now) {
            self.tick_at = Some(next);
            world.schedule(next, Ev::Tick);
        }
    }
}
