//! A rollout as operators see it ([`RolloutView`]): phase, per stage and wave how many targets
//! are covered and how many report the candidate now, when the current bake ends, the latest
//! gate evaluations, and the engine's full state.

use sluice_api::{RolloutView, StageView, WaveView};
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
            let waves = sp
                .wave_ends
                .iter()
                .zip(&progress.waves)
                .enumerate()
                .map(|(w, (&end, state))| WaveView {
                    size: sp.wave_sizes.get(w).cloned().unwrap_or_default(),
                    targets: end,
                    on_candidate: sp.targets.get(..end).map_or(0, |ts| ts.iter().filter(|t| on_candidate(t)).count()),
                    state: state.as_str().to_string(),
                })
                .collect();
            StageView {
                name: sp.name.clone(),
                targets: sp.targets.len(),
                bake_ms: sp.bake.0,
                state: progress.state.as_str().to_string(),
                waves,
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
        phase: r.phase_name().to_string(),
        outcome: r.outcome(),
        emergency: r.emergency,
        created_at: rec.created_at,
        updated_at: rec.updated_at,
        version: rec.version,
        bake_ends_at,
        deadlines,
        stages,
        gates: r.last_evals.clone(),
        touched: r.touched.len(),
        rollout: r.clone(),
    }
}
