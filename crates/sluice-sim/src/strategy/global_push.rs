//! The baseline: every release goes to every target within the propagation time, as a global
//! configuration system does. People notice a bad release `detect_after` it fully took effect,
//! and push the last good release back at the time the scenario gives.

use std::collections::BTreeSet;

use sluice_core::time::Millis;
use sluice_core::validate::Validators;

use super::{finish, outcome_of};
use crate::report::{ReleaseCounts, StrategyReport, fmt_at};
use crate::scenario::{GlobalPushSpec, StrategySpec};
use crate::timeline::MarkerKind;
use crate::world::{Ctx, Delay, Ev, World};

pub(crate) fn run(ctx: Ctx<'_>, spec: &StrategySpec, gp: &GlobalPushSpec) -> StrategyReport {
    let present = ctx.fleet.present(&spec.exclude_groups);
    let all: Vec<u32> = (0..ctx.fleet.len() as u32).filter(|&t| present[t as usize]).collect();
    let groups: BTreeSet<u32> = all.iter().map(|&t| ctx.fleet.group_of[t as usize]).collect();
    let mut world = World::new(ctx, present);
    let validators = (!spec.validators.is_empty()).then(|| Validators::new(&spec.validators));
    let mut counts = ReleaseCounts::default();
    let mut notes = Vec::new();
    // The release pushed last, the last good one pushed, and the open incident's revert target.
    let (mut current, mut last_good) = (0u32, 0u32);
    let mut incident: Option<u32> = None;
    let mut stopped = false;
    if let Some(t) = gp.stop_at {
        world.schedule(Millis(t.0), Ev::Stop);
    }
    while let Some(ev) = world.next() {
        let now = world.now;
        match ev {
            Ev::Release(r) => {
                counts.created += 1;
                let rel = ctx.cat.get(r);
                if stopped {
                    counts.not_started += 1;
                    continue;
                }
                if let Some(v) = &validators {
                    let report = v.validate(&rel.files, Some(&ctx.cat.get(current).files));
                    if !report.is_ok() {
                        counts.rejected += 1;
                        let first = report.violations.first().map(ToString::to_string).unwrap_or_default();
                        world.timeline.mark(now, MarkerKind::Rejected, format!("{} rejected: {first}", rel.id));
                        if rel.bad() {
                            world.timeline.detect(now);
                        }
                        continue;
                    }
                }
                let full = world.tell(all.iter().copied(), r, Delay::Within(gp.propagation));
                counts.shipped += 1;
                current = r;
                world.timeline.mark(now, MarkerKind::Push, format!("{} pushed", rel.id));
                if !rel.bad() {
                    last_good = r;
                } else if incident.is_none() && groups.iter().any(|&g| ctx.model.affects(rel.fault_set, g)) {
                    // Full impact: propagated everywhere and every onset passed.
                    let onset = groups.iter().map(|&g| ctx.model.max_onset(rel.fault_set, g)).max().unwrap_or(0);
                    incident = Some(last_good);
                    world.schedule(full + sluice_core::time::Dur(onset) + gp.detect_after, Ev::Detect);
                }
            }
            Ev::Detect => {
                world.timeline.detect(now);
                world.timeline.mark(now, MarkerKind::Detected, "people notice");
                let at = match (gp.revert_after, gp.revert_at) {
                    (Some(d), _) => now + d,
                    (None, Some(t)) => Millis(t.0).max(now),
                    (None, None) => now,
                };
                world.schedule(at, Ev::Revert);
            }
            Ev::Revert => {
                let to = incident.take().unwrap_or(0);
                world.tell(all.iter().copied(), to, Delay::Revert(gp.revert_propagation));
                counts.rolled_back += 1;
                current = to;
                let label = format!("revert to {} pushed", ctx.cat.get(to).id);
                notes.push(format!("{label} at {}", fmt_at(now, ctx.scenario)));
                world.timeline.mark(now, MarkerKind::Rollback, label);
            }
            Ev::Stop => {
                stopped = true;
                notes.push(format!("new releases stopped at {}", fmt_at(now, ctx.scenario)));
            }
            _ => {}
        }
    }
    notes.insert(0, counts.summary());
    let outcome = outcome_of(&counts, false);
    finish(world, spec, "global-push", counts, outcome, 0, Vec::new(), notes)
}
