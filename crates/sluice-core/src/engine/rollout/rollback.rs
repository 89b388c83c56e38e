//! Rolling back: every touched target is told to return to known-good; the rollback is done
//! when every one of them runs it. One that cannot (its probe fails, it is away) keeps its
//! desired release at known-good — it is never left told to run the candidate — and after
//! [`ROLLBACK_CONFIRM_TIMEOUT`] the rollout ends `rollback incomplete`, naming each target
//! still out and why, rather than waiting forever.

use super::{ROLLBACK_CONFIRM_TIMEOUT, Rollout};
use crate::engine::action::{Action, EventKind, Outcome};
use crate::engine::observe::Observations;
use crate::release::TargetId;
use crate::time::Millis;

impl Rollout {
    pub(super) fn step_rolling_back(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        since: Millis,
        why: String,
        outcome: Outcome,
    ) {
        let to = self.known_good.clone();
        let behind: Vec<TargetId> = self.touched().filter(|t| obs.running(t) != to.as_ref()).cloned().collect();
        if behind.is_empty() {
            self.finish(out, now, outcome, why);
            return;
        }
        // A target that tried and failed to return is logged once, with the agent's reason.
        if let Some(kg) = &to {
            for t in &behind {
                if self.rollback_failures.contains(t) {
                    continue;
                }
                if let Some(reason) = obs.apply_failure(t, kg) {
                    self.rollback_failures.insert(t.clone());
                    self.record(out, now, EventKind::RollbackFailed { target: t.clone(), reason });
                }
            }
        }
        if now < since + ROLLBACK_CONFIRM_TIMEOUT {
            return;
        }
        let reasons: Vec<String> =
            behind.iter().take(10).map(|t| format!("{t}: {}", self.why_behind(obs, now, t))).collect();
        let more = if behind.len() > reasons.len() {
            format!("; and {} more", behind.len() - reasons.len())
        } else {
            String::new()
        };
        let target = to.as_ref().map_or_else(|| "what it ran before sluice".to_string(), ToString::to_string);
        let why = format!(
            "{why}; rollback incomplete: {} of {} touched target(s) not on {target} after {}: {}{more} (their desired release stays {target}; they move when they can)",
            behind.len(),
            self.touched_count(),
            ROLLBACK_CONFIRM_TIMEOUT,
            reasons.join("; ")
        );
        self.finish(out, now, Outcome::RollbackIncomplete, why);
    }

    /// Why a touched target is not back on known-good.
    fn why_behind(&self, obs: &dyn Observations, now: Millis, t: &TargetId) -> String {
        if let Some(kg) = &self.known_good
            && let Some(reason) = obs.apply_failure(t, kg)
        {
            return format!("failed to return ({reason})");
        }
        let running = match obs.running(t) {
            Some(r) if r == &self.release => "runs the candidate".to_string(),
            Some(r) => format!("runs {r}"),
            None => "runs nothing sluice knows".to_string(),
        };
        match obs.last_report(t) {
            Some(at) => format!("{running}, last report {} ago", now.since(at)),
            None => format!("{running}, never reported"),
        }
    }
}
