//! The engine's invariants as checks over its output, used by proptests, the simulator, and the
//! server (which counts violations in a metric rather than trusting they never happen).

use std::collections::BTreeMap;

use super::action::Action;
use super::rollout::Rollout;
use crate::release::{ReleaseId, TargetId};

/// A broken invariant, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("never-promote-past-failed-gate: rollout {0} moved targets to the candidate after a failure")]
    PromotedPastFailure(String),
    #[error("only-validated-or-known-good: rollout {rollout} moved {target} to {release:?}")]
    UnknownRelease { rollout: String, target: TargetId, release: Option<ReleaseId> },
    #[error("waves-never-shrink: rollout {rollout} stage {stage} wave {wave} ends before the wave before it")]
    WaveShrank { rollout: String, stage: String, wave: usize },
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
            Action::Record(_) => {}
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
            Action::Record(_) => {}
        }
    }
}
