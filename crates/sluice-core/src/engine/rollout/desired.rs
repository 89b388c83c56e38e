//! What the rollout asks of each target it moved, derived from the plan and the marks — never
//! kept per target. A store keeps, per target and service, only what earlier rollouts left
//! (folded in after they end) and lays the rollouts not folded yet over it with this, so a
//! transition writes O(1) whatever the fleet size.

use super::{Phase, Rollout};
use crate::engine::Outcome;
use crate::release::{ReleaseId, TargetId};

impl Rollout {
    /// How many of `stage`'s members (in wave order) were told to move to the candidate.
    pub fn told_in(&self, stage: usize) -> usize {
        let len = self.plan.stages.get(stage).map_or(0, |sp| sp.targets.len());
        self.marks.get(stage).map_or(0, |m| m.told_end()).min(len)
    }

    /// Every target moved to the candidate, in the order it was moved: each stage's members
    /// told so far, stage by stage.
    pub fn touched(&self) -> impl Iterator<Item = &TargetId> {
        self.plan.stages.iter().enumerate().flat_map(move |(i, sp)| sp.targets[..self.told_in(i)].iter())
    }

    /// Where `target` is in [`Rollout::touched`]'s order, if the rollout moved it.
    pub fn touched_position(&self, target: &TargetId) -> Option<usize> {
        let (stage, index) = self.plan.locate(target)?;
        (index < self.told_in(stage)).then(|| (0..stage).map(|i| self.told_in(i)).sum::<usize>() + index)
    }

    pub fn touched_count(&self) -> usize {
        (0..self.plan.stages.len()).map(|i| self.told_in(i)).sum()
    }

    /// Whether the rollout told its touched targets to go back: it is rolling back, or ended
    /// other than completed (a rollout that ends so always rolls back what it touched).
    pub fn sent_back(&self) -> bool {
        match &self.phase {
            Phase::RollingBack { .. } => true,
            Phase::Finished { outcome, .. } => *outcome != Outcome::Completed,
            _ => false,
        }
    }

    /// What every touched target should run now: the candidate, or the known-good once the
    /// rollout sent its targets back (`None`: nothing from sluice).
    pub fn desired_release(&self) -> Option<&ReleaseId> {
        if self.sent_back() { self.known_good.as_ref() } else { Some(&self.release) }
    }

    /// How many times the rollout changed each touched target's desired release: once to move
    /// it, once more to send it back. A target's desired-state version counts these, so a
    /// store that derives it agrees with a board that counted the actions one by one.
    pub fn desired_changes(&self) -> u64 {
        1 + u64::from(self.sent_back())
    }
}
