//! The strategies compared: a global push (the baseline that caused both outages) and sluice
//! pipelines driven by the real engine. Each runs on its own fresh [`World`] and yields a
//! [`StrategyReport`].

pub(crate) mod global_push;
pub(crate) mod pipeline;

use crate::report::{Outcome, ReleaseCounts, StrategyReport, round};
use crate::scenario::StrategySpec;
use crate::world::{Ctx, World};

/// The key of a strategy's `approvals` for broken glass's second person.
pub(crate) use pipeline::BREAK_GLASS;

/// Run one strategy of the scenario.
pub(crate) fn run(ctx: Ctx<'_>, spec: &StrategySpec) -> StrategyReport {
    match (&spec.global_push, &spec.pipeline) {
        (Some(gp), _) => global_push::run(ctx, spec, gp),
        (None, Some(name)) => match ctx.scenario.pipelines.get(name) {
            Some(p) => pipeline::run(ctx, spec, name, p),
            None => empty(ctx, spec, format!("pipeline {name:?} does not exist")),
        },
        (None, None) => empty(ctx, spec, "neither global_push nor pipeline given".into()),
    }
}

/// A strategy that could not run (only reachable for a scenario that skipped the checks).
fn empty(ctx: Ctx<'_>, spec: &StrategySpec, why: String) -> StrategyReport {
    let world = World::new(ctx, ctx.fleet.present(&spec.exclude_groups));
    finish(world, spec, "none", ReleaseCounts::default(), Outcome::Held, 0, Vec::new(), vec![why])
}

/// The outcome from what happened to the releases: a hold with releases waiting beats a
/// rollback that did not land, which beats a rollback, which beats a rejection.
pub(crate) fn outcome_of(c: &ReleaseCounts, held_now: bool) -> Outcome {
    if held_now && c.held > 0 {
        Outcome::Held
    } else if c.rollback_incomplete > 0 {
        Outcome::RollbackIncomplete
    } else if c.rolled_back > 0 {
        Outcome::RolledBack
    } else if c.rejected > 0 {
        Outcome::Rejected
    } else {
        Outcome::Completed
    }
}

/// Close the run at the scenario's end and assemble the report.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    mut world: World<'_>,
    spec: &StrategySpec,
    kind: &str,
    releases: ReleaseCounts,
    outcome: Outcome,
    invariant_violations: u64,
    coverage_gaps: Vec<String>,
    notes: Vec<String>,
) -> StrategyReport {
    let end = world.ctx.end;
    let mut notes = notes;
    if let Some(at) = world.stopped_early {
        notes.push(format!(
            "the run stopped early at {}: more than {} events (figures cover the run up to then)",
            crate::report::fmt_at(at, world.ctx.scenario),
            crate::world::MAX_EVENTS
        ));
    }
    let f = world.timeline.finish(world.stopped_early.unwrap_or(end));
    StrategyReport {
        name: spec.name.clone(),
        kind: kind.to_string(),
        peak_failing_traffic_pct: round(f.peak_pct, 4),
        failing_traffic_pct_minutes: round(f.area_pct_min, 3),
        failing_s: round(f.failing_s, 3),
        targets_ever_on_bad_release: f.targets_ever_bad,
        prod_share_ever_on_bad_release_pct: round(f.prod_share_ever_bad_pct, 4),
        detect_s: f.detect_s.map(|v| round(v, 3)),
        recover_s: f.recover_s.map(|v| round(v, 3)),
        outcome,
        releases,
        invariant_violations,
        coverage_gaps,
        notes,
        series: std::mem::take(&mut world.timeline.series),
        markers: std::mem::take(&mut world.timeline.markers),
    }
}
