//! What a stage's waves did so far: when each wave started and when each batch of its members
//! was told to apply. Kept for every stage reached, so passed stages stay judged with the same
//! windows they were judged with while their waves baked.

use serde::{Deserialize, Serialize};

use super::{Phase, Rollout};
use crate::time::Millis;

/// `targets[..end]` of the stage were told to apply by `at` (batches are cumulative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub end: usize,
    pub at: Millis,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMarks {
    /// When each wave reached started.
    pub waves: Vec<Millis>,
    /// Each batch of moves released, in order; one per wave unless `max_unavailable` splits it.
    pub told: Vec<Told>,
}

impl StageMarks {
    /// How many of the stage's targets (in wave order) were told to apply.
    pub fn told_end(&self) -> usize {
        self.told.last().map_or(0, |t| t.end)
    }

    /// When the member at `index` was told to apply, if it was.
    pub fn told_at(&self, index: usize) -> Option<Millis> {
        self.told.iter().find(|t| t.end > index).map(|t| t.at)
    }

    /// When the latest batch was released.
    pub fn last_told(&self) -> Option<Millis> {
        self.told.last().map(|t| t.at)
    }
}

impl Rollout {
    /// A rollout stored before `marks` existed (it kept only the current stage's wave start
    /// times) gets them rebuilt: every stage before the current one was told in full when the
    /// rollout started (the earliest time known), the current one wave by wave. Without this a
    /// rollout in flight across the upgrade would see no member and fail closed.
    pub fn upgrade_marks(&mut self) {
        if !self.marks.is_empty() || self.legacy_touched.is_empty() {
            return;
        }
        let current = match &self.phase {
            Phase::Paused { resume_to, .. } => Self::stage_of(resume_to),
            p => Self::stage_of(p),
        }
        .unwrap_or(self.plan.stages.len());
        let legacy = std::mem::take(&mut self.legacy_wave_started);
        for (i, sp) in self.plan.stages.iter().enumerate().take(current.saturating_add(1)) {
            let mut m = StageMarks::default();
            if i < current {
                if !sp.targets.is_empty() {
                    m.waves = vec![self.started_at; sp.wave_ends.len()];
                    m.told = vec![Told { end: sp.targets.len(), at: self.started_at }];
                }
            } else {
                for (w, at) in legacy.iter().enumerate() {
                    m.waves.push(*at);
                    m.told.push(Told { end: sp.wave_end(w), at: *at });
                }
            }
            self.marks.push(m);
        }
    }

    fn stage_of(phase: &Phase) -> Option<usize> {
        match phase {
            Phase::Applying { stage, .. } | Phase::Baking { stage, .. } | Phase::AwaitingApproval { stage, .. } => {
                Some(*stage)
            }
            _ => None,
        }
    }
}
