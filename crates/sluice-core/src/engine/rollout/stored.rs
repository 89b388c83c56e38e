//! How a rollout is stored: its plan once, apart from its state, which holds only the cursor
//! (phase, marks, verdicts) and so stays small whatever the fleet size.

use std::sync::Arc;

use super::Rollout;
use crate::engine::plan::Plan;

/// A stored rollout came back without its plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the rollout's plan is missing: it is neither stored apart nor in the rollout's state")]
pub struct MissingPlan;

impl Rollout {
    /// Give a rollout read back from its serialized state its plan: `plan` as stored apart,
    /// or, for a rollout stored before plans were kept apart, the plan its state carried. Then
    /// bring older shapes up to date ([`Rollout::upgrade_marks`]).
    pub fn attach_plan(&mut self, plan: Option<Plan>) -> Result<(), MissingPlan> {
        let legacy = self.legacy_plan.take();
        let plan = match (plan, legacy) {
            (Some(p), _) => p,
            (None, Some(p)) => *p,
            (None, None) => return Err(MissingPlan),
        };
        self.plan = Arc::new(plan);
        self.upgrade_marks();
        if !self.marks.is_empty() {
            // The marks say who was moved from now on.
            self.legacy_touched.clear();
        }
        Ok(())
    }
}
