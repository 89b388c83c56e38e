//! What a stage's waves did so far: when each wave started and when each batch of its members
//! was told to apply. Kept for every stage reached, so passed stages stay judged with the same
//! windows they were judged with while their waves baked.

use serde::{Deserialize, Serialize};

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
