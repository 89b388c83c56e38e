//! A rollout as operators see it ([`RolloutView`]): phase, per stage and wave how many targets
//! are covered and how many report the candidate now, when the current bake ends, the latest
//! gate evaluations — counts and API enums, never the engine's state or target lists (those
//! are one request away: [`targets_view`]).

use sluice_api::{Position, RolloutTargetsView, RolloutView, StageGateView, StageTargetsView, StageView, WaveView};
use sluice_store::RolloutRecord;

use crate::fleet::FleetMap;

/// Build the view of `rec`, counting targets on the candidate from `fleet`.
pub fn view(rec: &RolloutRecord, fleet: &FleetMap) -> RolloutView {
    let r = &rec.rollout;
    let on_candidate = |t: &sluice_core::release::TargetId| {
        fleet
            .get(t)
            .and_then(|l| l.services.get(&r.service))
            .and_then(|s| s.running.as_ref())
            .is_some_and(|rel| *rel == r.release)
    };
    // Where the rollout is, is the engine's answer.
    let stages = r
        .plan
        .stages
        .iter()
        .zip(r.progress())
        .map(|(sp, progress)| {
            let mut on = 0;
            let mut counted = 0;
            let waves = sp
                .wave_ends
                .iter()
                .zip(&progress.waves)
                .enumerate()
                .map(|(w, (&end, state))| {
                    // Waves are cumulative: count each target once, wave by wave.
                    let end = end.min(sp.targets.len());
                    on += sp.targets.get(counted..end).map_or(0, |ts| ts.iter().filter(|t| on_candidate(t)).count());
                    counted = counted.max(end);
                    WaveView {
                        size: sp.wave_sizes.get(w).cloned().unwrap_or_default(),
                        targets: end,
                        on_candidate: on,
                        state: state.as_str().to_string(),
                    }
                })
                .collect();
            StageView {
                name: sp.name.clone(),
                targets: sp.targets.len(),
                bake_ms: sp.bake.0,
                state: progress.state.as_str().to_string(),
                waves,
                gates: sp
                    .gates
                    .iter()
                    .map(|g| StageGateView {
                        name: g.name().to_string(),
                        source: g.source().map_or("agent", |s| s.kind()).to_string(),
                    })
                    .collect(),
            }
        })
        .collect();
    let deadlines = r.deadlines();
    let bake_ends_at = deadlines.iter().find(|d| d.what == "bake").map(|d| d.at);
    RolloutView {
        id: r.id.clone(),
        service: r.service.clone(),
        release: r.release.clone(),
        known_good: r.known_good.clone(),
        phase: r.phase_kind(),
        reason: r.phase_why(),
        outcome: r.outcome(),
        emergency: r.emergency,
        revert: r.revert,
        author: r.author.clone(),
        change: r.change.clone(),
        start_reason: r.reason.clone(),
        break_glass: r.break_glass.clone(),
        approvals: r
            .approvals
            .iter()
            .filter(|(_, given)| !given.is_empty())
            .filter_map(|(s, given)| Some((r.plan.stages.get(*s)?.name.clone(), given.clone())))
            .collect(),
        position: r.position().map(|(stage, wave)| Position { stage, wave }),
        observed_ms: r.observed().map(|d| d.0),
        probation_ms: r.plan.probation.0,
        created_at: rec.created_at,
        updated_at: rec.updated_at,
        version: rec.version,
        bake_ends_at,
        deadlines,
        stages,
        gates: r.last_evals.clone(),
        touched: r.touched_count(),
    }
}

/// Which targets `rec` covers, stage by stage in wave order, and how many it told to move.
pub fn targets_view(rec: &RolloutRecord) -> RolloutTargetsView {
    let r = &rec.rollout;
    RolloutTargetsView {
        rollout: r.id.clone(),
        stages: r
            .plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, sp)| StageTargetsView {
                name: sp.name.clone(),
                targets: sp.targets.clone(),
                wave_ends: sp.wave_ends.clone(),
                told: r.told_in(i),
            })
            .collect(),
        excluded: r.excluded.iter().cloned().collect(),
    }
}
