//! A rollout as operators see it ([`RolloutView`]): phase, per stage and wave how many targets
//! are covered and how many report the candidate now, when the current bake ends, the latest
//! gate evaluations, and the engine's full state.

use sluice_api::{RolloutView, StageView, WaveView};
use sluice_core::engine::{Outcome, Phase, Rollout};
use sluice_store::RolloutRecord;

use crate::fleet::FleetMap;

/// Where the rollout stands, for stage and wave states.
enum Position {
    /// At `stage`, wave `wave` in `state` (`applying`, `baking`, `held`).
    At {
        stage: usize,
        wave: usize,
        state: &'static str,
    },
    /// Waiting for approval before `stage`.
    Awaiting {
        stage: usize,
    },
    /// Failed (or aborted) at `stage`, wave `wave`; `done` once the rollback finished.
    Failed {
        stage: usize,
        wave: usize,
        done: bool,
    },
    Completed,
}

fn position(r: &Rollout) -> Position {
    match &r.phase {
        Phase::Paused { resume_to, .. } => position_of(r, resume_to),
        p => position_of(r, p),
    }
}

fn position_of(r: &Rollout, phase: &Phase) -> Position {
    match phase {
        Phase::Applying { stage, wave, .. } => Position::At { stage: *stage, wave: *wave, state: "applying" },
        Phase::Baking { stage, wave, held, .. } => {
            Position::At { stage: *stage, wave: *wave, state: if *held { "held" } else { "baking" } }
        }
        Phase::AwaitingApproval { stage, .. } => Position::Awaiting { stage: *stage },
        // Every wave passed; every stage stays judged until probation ends.
        Phase::Finished { outcome: Outcome::Completed, .. } | Phase::Probation { .. } => Position::Completed,
        Phase::RollingBack { .. } => reached(r, false),
        Phase::Finished { .. } => reached(r, true),
        Phase::Paused { .. } => Position::Awaiting { stage: 0 },
    }
}

/// The furthest stage and wave the rollout moved targets in.
fn reached(r: &Rollout, done: bool) -> Position {
    let touched: std::collections::HashSet<_> = r.touched.iter().collect();
    let mut at = Position::Failed { stage: 0, wave: 0, done };
    for (i, sp) in r.plan.stages.iter().enumerate() {
        let n = sp.targets.iter().filter(|t| touched.contains(t)).count();
        if n > 0 {
            let wave = sp.wave_ends.iter().position(|&e| e >= n).unwrap_or(0);
            at = Position::Failed { stage: i, wave, done };
        }
    }
    at
}

/// Build the view of `rec`, counting targets on the candidate from `fleet`.
pub fn view(rec: &RolloutRecord, fleet: &FleetMap) -> RolloutView {
    let r = &rec.rollout;
    let pos = position(r);
    let on_candidate = |t: &sluice_core::release::TargetId| {
        fleet
            .get(t)
            .and_then(|l| l.services.get(&r.service))
            .and_then(|s| s.running.as_ref())
            .is_some_and(|rel| *rel == r.release)
    };
    let stages = r
        .plan
        .stages
        .iter()
        .enumerate()
        .map(|(i, sp)| {
            let (stage_state, cur_wave, cur_state): (&str, Option<usize>, &str) = match pos {
                Position::Completed => (if sp.targets.is_empty() { "skipped" } else { "passed" }, None, ""),
                Position::At { stage, wave, state } => stage_vs(i, stage, sp.targets.is_empty(), "active", wave, state),
                Position::Awaiting { stage } => {
                    if i == stage {
                        ("awaiting_approval", None, "")
                    } else {
                        stage_vs(i, stage, sp.targets.is_empty(), "awaiting_approval", usize::MAX, "")
                    }
                }
                Position::Failed { stage, wave, done } => stage_vs(
                    i,
                    stage,
                    sp.targets.is_empty(),
                    "failed",
                    wave,
                    if done { "rolled_back" } else { "failed" },
                ),
            };
            let waves = sp
                .wave_ends
                .iter()
                .enumerate()
                .map(|(w, &end)| {
                    let state = match (stage_state, cur_wave) {
                        ("passed", _) => "passed",
                        (_, Some(cw)) if w < cw => "passed",
                        (_, Some(cw)) if w == cw => cur_state,
                        _ => "pending",
                    };
                    WaveView {
                        size: sp.wave_sizes.get(w).cloned().unwrap_or_default(),
                        targets: end,
                        on_candidate: sp
                            .targets
                            .get(..end)
                            .map_or(0, |ts| ts.iter().filter(|t| on_candidate(t)).count()),
                        state: state.to_string(),
                    }
                })
                .collect();
            StageView {
                name: sp.name.clone(),
                targets: sp.targets.len(),
                bake_ms: sp.bake.0,
                state: stage_state.to_string(),
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

/// Stage `i` relative to the current stage `cur`: before it passed (or skipped when empty),
/// after it pending; the current one gets `here` and its wave pointer.
fn stage_vs(
    i: usize,
    cur: usize,
    empty: bool,
    here: &'static str,
    wave: usize,
    wave_state: &'static str,
) -> (&'static str, Option<usize>, &'static str) {
    if i < cur {
        (if empty { "skipped" } else { "passed" }, None, "")
    } else if i == cur {
        (here, Some(wave), wave_state)
    } else {
        ("pending", None, "")
    }
}
