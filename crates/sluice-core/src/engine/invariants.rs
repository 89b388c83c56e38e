//! The engine's invariants as checks over its output, used by proptests, the simulator, and the
//! server (which counts violations in a metric rather than trusting they never happen).

use std::collections::{BTreeMap, BTreeSet};

use super::action::{Action, EventKind};
use super::observe::Observations;
use super::rollout::Rollout;
use crate::release::{ReleaseId, TargetId};
use crate::time::{Dur, Millis};

/// A broken invariant, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("never-promote-past-failed-gate: rollout {0} moved targets to the candidate after a failure")]
    PromotedPastFailure(String),
    #[error("only-validated-or-known-good: rollout {rollout} moved {target} to {release:?}")]
    UnknownRelease { rollout: String, target: TargetId, release: Option<ReleaseId> },
    #[error("waves-never-shrink: rollout {rollout} stage {stage} wave {wave} ends before the wave before it")]
    WaveShrank { rollout: String, stage: String, wave: usize },
    #[error("silence-never-passes: rollout {rollout} passed stage {stage} wave {wave} while {target} was silent")]
    SilentPassed { rollout: String, stage: String, wave: usize, target: TargetId },
    #[error("no-verdict-waits-forever: rollout {rollout} is still {phase} at {now:?}, past its deadline {deadline:?}")]
    PastDeadline { rollout: String, phase: String, now: Millis, deadline: Option<Millis> },
    #[error("known-good-only-after-probation: {release} {why}")]
    KnownGoodEarly { release: ReleaseId, why: String },
    #[error(
        "never-more-than-max-unavailable: rollout {rollout} moved targets of stage {stage} leaving {out} out of service (max_unavailable {max})"
    )]
    OverUnavailable { rollout: String, stage: String, out: usize, max: usize },
    #[error(
        "desired-follows-from-cursor: rollout {rollout} asked {target} for {acted:?} ({acted_changes} change(s)) but its state says {derived:?} ({derived_changes})"
    )]
    DesiredDiverged {
        rollout: String,
        target: TargetId,
        acted: Option<ReleaseId>,
        acted_changes: u64,
        derived: Option<ReleaseId>,
        derived_changes: u64,
    },
}

/// Every invariant's name, as [`Violation::invariant`] spells it.
pub const NAMES: [&str; 8] = [
    "never-promote-past-failed-gate",
    "only-validated-or-known-good",
    "waves-never-shrink",
    "silence-never-passes",
    "no-verdict-waits-forever",
    "known-good-only-after-probation",
    "never-more-than-max-unavailable",
    "desired-follows-from-cursor",
];

impl Violation {
    /// The invariant's name, as docs and metrics spell it.
    pub fn invariant(&self) -> &'static str {
        match self {
            Violation::PromotedPastFailure(_) => "never-promote-past-failed-gate",
            Violation::UnknownRelease { .. } => "only-validated-or-known-good",
            Violation::WaveShrank { .. } => "waves-never-shrink",
            Violation::SilentPassed { .. } => "silence-never-passes",
            Violation::PastDeadline { .. } => "no-verdict-waits-forever",
            Violation::KnownGoodEarly { .. } => "known-good-only-after-probation",
            Violation::OverUnavailable { .. } => "never-more-than-max-unavailable",
            Violation::DesiredDiverged { .. } => "desired-follows-from-cursor",
        }
    }
}

/// Checks of one step against what the fleet showed at `now`:
/// - `known-good-only-after-probation`: a rollout completes (its release becomes known-good)
///   only in a step that ended a probation at least as long as its plan's;
/// - `never-more-than-max-unavailable`: a step that moves targets of a stage with
///   `max_unavailable` leaves at most that many of the stage's targets out of service (moved
///   and not yet on the candidate with a report an interval after the move, or not heard from
///   within two report intervals);
/// - `silence-never-passes`: every judged member of a wave that passed reported since the shell
///   started watching and within its stage's `silent_after`;
/// - `no-verdict-waits-forever`: a rollout that is applying, baking or rolling back has a
///   deadline, and is not past it after the step (the step must have acted on it).
pub fn check_step(r: &Rollout, now: Millis, obs: &dyn Observations, actions: &[Action]) -> Vec<Violation> {
    let mut v = Vec::new();
    for a in actions {
        let Action::Record(e) = a else { continue };
        let EventKind::WavePassed { stage, wave } = &e.kind else { continue };
        let Some(si) = r.plan.stages.iter().position(|s| &s.name == stage) else { continue };
        let sp = &r.plan.stages[si];
        let after = r.silent_after(si);
        let end = sp.wave_ends.get(*wave).copied().unwrap_or(0).min(sp.targets.len());
        for t in sp.targets[..end].iter().filter(|t| !r.excluded.contains(*t)) {
            let heard = obs.last_report(t);
            if heard.is_none_or(|at| at < obs.watching_since() || now.since(at) >= after) {
                v.push(Violation::SilentPassed {
                    rollout: r.id.clone(),
                    stage: stage.clone(),
                    wave: *wave,
                    target: t.clone(),
                });
            }
        }
    }
    v.extend(check_probation(r, actions));
    v.extend(check_unavailable(r, now, obs, actions));
    let waits_on_fleet = matches!(
        r.phase,
        super::Phase::Applying { .. }
            | super::Phase::Baking { .. }
            | super::Phase::Probation { .. }
            | super::Phase::RollingBack { .. }
    );
    if waits_on_fleet && r.deadline().is_none_or(|d| now >= d) {
        v.push(Violation::PastDeadline {
            rollout: r.id.clone(),
            phase: r.phase_name().to_string(),
            now,
            deadline: r.deadline(),
        });
    }
    v
}

fn check_probation(r: &Rollout, actions: &[Action]) -> Vec<Violation> {
    let events = || actions.iter().filter_map(|a| if let Action::Record(e) = a { Some(&e.kind) } else { None });
    let completed = events().any(|k| matches!(k, EventKind::Finished { outcome: super::Outcome::Completed, .. }));
    if !completed || r.plan.probation == Dur::ZERO {
        return Vec::new();
    }
    match events().find_map(|k| if let EventKind::ProbationPassed { observed } = k { Some(*observed) } else { None }) {
        Some(observed) if observed >= r.plan.probation => Vec::new(),
        Some(observed) => vec![Violation::KnownGoodEarly {
            release: r.release.clone(),
            why: format!("completed after {observed} of its {} probation", r.plan.probation),
        }],
        None => vec![Violation::KnownGoodEarly {
            release: r.release.clone(),
            why: format!("completed without ending its {} probation", r.plan.probation),
        }],
    }
}

fn check_unavailable(r: &Rollout, now: Millis, obs: &dyn Observations, actions: &[Action]) -> Vec<Violation> {
    let mut v = Vec::new();
    let fresh_from = now.saturating_sub(Dur(r.report_interval.0.saturating_mul(super::rollout::FRESH_INTERVALS)));
    for a in actions {
        let Action::SetDesired { targets, .. } = a else { continue };
        let Some(first) = targets.first() else { continue };
        let Some(si) = r.plan.stages.iter().position(|s| s.targets.contains(first)) else { continue };
        let sp = &r.plan.stages[si];
        let Some(max) = sp.max_unavailable else { continue };
        let told = r.marks.get(si).map(|m| m.told.as_slice()).unwrap_or_default();
        let out = sp
            .targets
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                let last = obs.last_report(t);
                // Moved: not back until it runs the candidate and reported an interval later.
                let moved = told.iter().find(|b| b.end > *i).is_some_and(|b| {
                    obs.running(t) != Some(&r.release) || last.is_none_or(|at| at < b.at + r.report_interval)
                });
                moved || last.is_none_or(|at| at < fresh_from)
            })
            .count();
        if out > max {
            v.push(Violation::OverUnavailable { rollout: r.id.clone(), stage: sp.name.clone(), out, max });
        }
    }
    v
}

/// `known-good-only-after-probation`, across rollouts: a rollback returns only to a release that
/// finished its probation (`probated`: releases whose rollouts completed, and the release the
/// fleet trusted before sluice's first rollout).
pub fn check_rollback_targets(probated: &BTreeSet<ReleaseId>, actions: &[Action]) -> Vec<Violation> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RollBack { to: Some(to), .. } if !probated.contains(to) => Some(Violation::KnownGoodEarly {
                release: to.clone(),
                why: "is a rollback's destination but never finished a probation".into(),
            }),
            _ => None,
        })
        .collect()
}

/// Static checks of a rollout's plan.
pub fn check_plan(r: &Rollout) -> Vec<Violation> {
    let mut v = Vec::new();
    for sp in &r.plan.stages {
        for w in 1..sp.wave_ends.len() {
            if sp.wave_ends[w] < sp.wave_ends[w - 1] {
                v.push(Violation::WaveShrank { rollout: r.id.clone(), stage: sp.name.clone(), wave: w });
            }
        }
        if sp.wave_ends.last().copied() != Some(sp.targets.len()) {
            v.push(Violation::WaveShrank { rollout: r.id.clone(), stage: sp.name.clone(), wave: sp.wave_ends.len() });
        }
    }
    v
}

/// Checks one batch of actions. `failed_before` is whether the rollout had failed before the
/// step that produced them.
pub fn check_actions(r: &Rollout, failed_before: bool, actions: &[Action]) -> Vec<Violation> {
    let mut v = Vec::new();
    for a in actions {
        match a {
            Action::SetDesired { targets, release } => {
                if failed_before {
                    v.push(Violation::PromotedPastFailure(r.id.clone()));
                }
                if release != &r.release {
                    for t in targets {
                        v.push(Violation::UnknownRelease {
                            rollout: r.id.clone(),
                            target: t.clone(),
                            release: Some(release.clone()),
                        });
                    }
                }
            }
            Action::RollBack { targets, to } => {
                if to != &r.known_good {
                    for t in targets {
                        v.push(Violation::UnknownRelease {
                            rollout: r.id.clone(),
                            target: t.clone(),
                            release: to.clone(),
                        });
                    }
                }
            }
            Action::Record(_) | Action::Service(_) => {}
        }
    }
    v
}

/// Applies actions to a map of desired releases: every target has exactly one entry, so
/// `one-release-per-target` holds by construction of the map; callers compare it to what
/// targets run.
pub fn apply_desired(desired: &mut BTreeMap<TargetId, Option<ReleaseId>>, actions: &[Action]) {
    for a in actions {
        match a {
            Action::SetDesired { targets, release } => {
                for t in targets {
                    desired.insert(t.clone(), Some(release.clone()));
                }
            }
            Action::RollBack { targets, to } => {
                for t in targets {
                    desired.insert(t.clone(), to.clone());
                }
            }
            Action::Record(_) | Action::Service(_) => {}
        }
    }
}

/// What a rollout's actions asked of each target: the last desired release and how many
/// times it changed.
pub type DesiredTally = BTreeMap<TargetId, (Option<ReleaseId>, u64)>;

/// Add `actions`' desired-state changes to `tally`.
pub fn tally_desired(tally: &mut DesiredTally, actions: &[Action]) {
    for a in actions {
        let (targets, release) = match a {
            Action::SetDesired { targets, release } => (targets, Some(release.clone())),
            Action::RollBack { targets, to } => (targets, to.clone()),
            Action::Record(_) | Action::Service(_) => continue,
        };
        for t in targets {
            let entry = tally.entry(t.clone()).or_insert((None, 0));
            entry.0 = release.clone();
            entry.1 += 1;
        }
    }
}

/// `desired-follows-from-cursor`: what the rollout's actions asked of its targets is what its
/// state alone says ([`Rollout::touched`], [`Rollout::desired_release`],
/// [`Rollout::desired_changes`]) — the store derives desired state from the state, never
/// writing it per target, so the two must agree. `tally` holds every action of the rollout
/// (`whole`: each touched target changed exactly `desired_changes` times, every other target
/// never) or only one step's (`!whole`: each target it changed is touched, ends on the derived
/// release, and changed at most that often).
pub fn check_desired(r: &Rollout, tally: &DesiredTally, whole: bool) -> Vec<Violation> {
    let derived = r.desired_release().cloned();
    let changes = r.desired_changes();
    let touched: BTreeSet<&TargetId> = r.touched().collect();
    let diverged = |target: &TargetId, acted: Option<ReleaseId>, acted_changes: u64, derived_changes: u64| {
        Violation::DesiredDiverged {
            rollout: r.id.clone(),
            target: target.clone(),
            acted,
            acted_changes,
            derived: if derived_changes == 0 { None } else { derived.clone() },
            derived_changes,
        }
    };
    let mut v = Vec::new();
    for (t, (acted, n)) in tally {
        let expect = if touched.contains(t) { changes } else { 0 };
        let count_ok = if whole { *n == expect } else { *n <= expect };
        if expect == 0 || !count_ok || *acted != derived {
            v.push(diverged(t, acted.clone(), *n, expect));
        }
    }
    if whole {
        for t in touched.iter().filter(|t| !tally.contains_key(**t)) {
            v.push(diverged(t, None, 0, changes));
        }
    }
    v
}
