//! Where a rollout is, as the engine answers it: each stage's state and each wave's, for every
//! shell that shows it (the server's status views, the CLI through them). One derivation, one
//! spelling: the states serialize as the API sends them (`awaiting_approval`, `rolled_back`).

use serde::{Deserialize, Serialize};

use super::{Phase, Rollout};
use crate::engine::action::Outcome;

/// A stage's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Pending,
    /// Its waves are applying or baking (or paused there).
    Active,
    AwaitingApproval,
    Passed,
    /// It selects no target (`allow_empty`).
    Skipped,
    /// The rollout failed (or was aborted) here.
    Failed,
}

/// A wave's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveState {
    Pending,
    Applying,
    Baking,
    /// Past its bake's length without a verdict.
    Held,
    Passed,
    /// The rollout failed here and is rolling back.
    Failed,
    /// The rollout failed here and finished rolling back.
    RolledBack,
}

impl StageState {
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Pending => "pending",
            StageState::Active => "active",
            StageState::AwaitingApproval => "awaiting_approval",
            StageState::Passed => "passed",
            StageState::Skipped => "skipped",
            StageState::Failed => "failed",
        }
    }
}

impl WaveState {
    pub fn as_str(self) -> &'static str {
        match self {
            WaveState::Pending => "pending",
            WaveState::Applying => "applying",
            WaveState::Baking => "baking",
            WaveState::Held => "held",
            WaveState::Passed => "passed",
            WaveState::Failed => "failed",
            WaveState::RolledBack => "rolled_back",
        }
    }
}

/// One stage's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageProgress {
    pub state: StageState,
    pub waves: Vec<WaveState>,
}

/// Where the rollout stands, relative to which stage and wave.
enum At {
    /// At `stage`, wave `wave`, its state `state`, the stage's `here`.
    Wave { stage: usize, wave: usize, here: StageState, state: WaveState },
    /// Waiting for approval before `stage`.
    Awaiting { stage: usize },
    /// Every wave passed (completed, or on probation).
    AllPassed,
}

impl Rollout {
    /// Each stage's state and each of its waves', for status displays.
    pub fn progress(&self) -> Vec<StageProgress> {
        let at = match &self.phase {
            Phase::Paused { resume_to, .. } => self.at(resume_to),
            p => self.at(p),
        };
        self.plan
            .stages
            .iter()
            .enumerate()
            .map(|(i, sp)| {
                let empty = sp.targets.is_empty();
                let before = if empty { StageState::Skipped } else { StageState::Passed };
                let (state, current) = match at {
                    At::AllPassed => (before, None),
                    At::Wave { stage, wave, here, state } => match i.cmp(&stage) {
                        std::cmp::Ordering::Less => (before, None),
                        std::cmp::Ordering::Equal => (here, Some((wave, state))),
                        std::cmp::Ordering::Greater => (StageState::Pending, None),
                    },
                    At::Awaiting { stage } => match i.cmp(&stage) {
                        std::cmp::Ordering::Less => (before, None),
                        std::cmp::Ordering::Equal => (StageState::AwaitingApproval, None),
                        std::cmp::Ordering::Greater => (StageState::Pending, None),
                    },
                };
                let waves = (0..sp.wave_ends.len())
                    .map(|w| match (state, current) {
                        (StageState::Passed, _) => WaveState::Passed,
                        (_, Some((cw, _))) if w < cw => WaveState::Passed,
                        (_, Some((cw, s))) if w == cw => s,
                        _ => WaveState::Pending,
                    })
                    .collect();
                StageProgress { state, waves }
            })
            .collect()
    }

    fn at(&self, phase: &Phase) -> At {
        match phase {
            Phase::Applying { stage, wave, .. } => {
                At::Wave { stage: *stage, wave: *wave, here: StageState::Active, state: WaveState::Applying }
            }
            Phase::Baking { stage, wave, held, .. } => At::Wave {
                stage: *stage,
                wave: *wave,
                here: StageState::Active,
                state: if *held { WaveState::Held } else { WaveState::Baking },
            },
            Phase::AwaitingApproval { stage, .. } => At::Awaiting { stage: *stage },
            Phase::Finished { outcome: Outcome::Completed, .. } | Phase::Probation { .. } => At::AllPassed,
            Phase::RollingBack { .. } => self.failed_at(WaveState::Failed),
            Phase::Finished { .. } => self.failed_at(WaveState::RolledBack),
            Phase::Paused { .. } => At::Awaiting { stage: 0 },
        }
    }

    /// The furthest stage and wave the rollout moved targets in, failed there.
    fn failed_at(&self, state: WaveState) -> At {
        let mut at = At::Wave { stage: 0, wave: 0, here: StageState::Failed, state };
        for (i, sp) in self.plan.stages.iter().enumerate() {
            // Rollouts stored before marks existed: count the targets they touched.
            let told = match self.marks.get(i) {
                Some(m) => m.told_end(),
                None => sp.targets.iter().filter(|t| self.legacy_touched.contains(t)).count(),
            };
            if told > 0 {
                let wave = sp.wave_ends.iter().position(|&e| e >= told).unwrap_or(0);
                at = At::Wave { stage: i, wave, here: StageState::Failed, state };
            }
        }
        at
    }
}

/// Where the rollout is, in a word: one spelling per format — snake_case in JSON
/// (`awaiting_approval`, `rolled_back`), words in text ([`PhaseKind::as_str`]: `awaiting
/// approval`, `rolled back`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    AwaitingApproval,
    Applying,
    Baking,
    /// Baking past its bake's length without a verdict.
    Held,
    OnProbation,
    /// Probation past its length without a verdict.
    ProbationHeld,
    Paused,
    RollingBack,
    Completed,
    RolledBack,
    Aborted,
    RollbackIncomplete,
}

impl PhaseKind {
    /// The phase in words, as text output shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::AwaitingApproval => "awaiting approval",
            PhaseKind::Applying => "applying",
            PhaseKind::Baking => "baking",
            PhaseKind::Held => "held",
            PhaseKind::OnProbation => "on probation",
            PhaseKind::ProbationHeld => "probation held",
            PhaseKind::Paused => "paused",
            PhaseKind::RollingBack => "rolling back",
            PhaseKind::Completed => Outcome::Completed.as_str(),
            PhaseKind::RolledBack => Outcome::RolledBack.as_str(),
            PhaseKind::Aborted => Outcome::Aborted.as_str(),
            PhaseKind::RollbackIncomplete => Outcome::RollbackIncomplete.as_str(),
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            PhaseKind::Completed | PhaseKind::RolledBack | PhaseKind::Aborted | PhaseKind::RollbackIncomplete
        )
    }
}

impl std::fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Rollout {
    /// Where the rollout is, in a word.
    pub fn phase_kind(&self) -> PhaseKind {
        match &self.phase {
            Phase::AwaitingApproval { .. } => PhaseKind::AwaitingApproval,
            Phase::Applying { .. } => PhaseKind::Applying,
            Phase::Baking { held: true, .. } => PhaseKind::Held,
            Phase::Baking { .. } => PhaseKind::Baking,
            Phase::Probation { held: true, .. } => PhaseKind::ProbationHeld,
            Phase::Probation { .. } => PhaseKind::OnProbation,
            Phase::Paused { .. } => PhaseKind::Paused,
            Phase::RollingBack { .. } => PhaseKind::RollingBack,
            Phase::Finished { outcome, .. } => match outcome {
                Outcome::Completed => PhaseKind::Completed,
                Outcome::RolledBack => PhaseKind::RolledBack,
                Outcome::Aborted => PhaseKind::Aborted,
                Outcome::RollbackIncomplete => PhaseKind::RollbackIncomplete,
            },
        }
    }

    /// Why the rollout is where it is, when the engine says: who paused it, why it awaits
    /// approval, rolls back or finished, what probation waits for.
    pub fn phase_why(&self) -> Option<String> {
        match &self.phase {
            Phase::AwaitingApproval { why, .. } => Some(why.clone()),
            Phase::Paused { by, .. } => Some(format!("paused by {by}")),
            Phase::RollingBack { why, .. } | Phase::Finished { why, .. } => Some(why.clone()),
            Phase::Probation { .. } => Some(format!(
                "every wave passed; every stage stays judged for {} before the release becomes known-good",
                self.plan.probation
            )),
            Phase::Applying { .. } | Phase::Baking { .. } => None,
        }
        .filter(|s| !s.is_empty())
    }

    /// Observed (every member reporting) time of the current bake or probation.
    pub fn observed(&self) -> Option<crate::time::Dur> {
        match &self.phase {
            Phase::Baking { observed, .. } | Phase::Probation { observed, .. } => Some(*observed),
            _ => None,
        }
    }
}
