//! `max_unavailable`: at no instant are more of a stage's targets out of service (told to apply
//! and not yet running the candidate, or not heard from lately) than the stage allows; a
//! wave's moves are released in batches within it, whatever the wave sizes say.

use super::{FRESH_INTERVALS, Rollout, Told};
use crate::engine::action::{Action, EventKind};
use crate::engine::observe::Observations;
use crate::release::TargetId;
use crate::time::{Dur, Millis};

impl Rollout {
    /// The stage's targets out of service at `now`: moved and not yet confirmed (running the
    /// candidate, with a report at least one report interval after it was told to move — a
    /// host that restarts on apply is not back until it reports again), or silent (no report
    /// within [`FRESH_INTERVALS`] report intervals), whether this rollout touched them or not.
    pub fn out_of_service(&self, obs: &dyn Observations, now: Millis, stage: usize) -> Vec<TargetId> {
        let Some(sp) = self.plan.stages.get(stage) else { return Vec::new() };
        let marks = self.marks_of(stage);
        let fresh_from = now.saturating_sub(Dur(self.report_interval.0.saturating_mul(FRESH_INTERVALS)));
        self.memo.sync(&self.plan, obs);
        self.memo.with(|m| {
            sp.targets
                .iter()
                .enumerate()
                .filter(|&(i, t)| {
                    let seen = m.seen(obs, (stage, i), t, &self.release);
                    let last = seen.last_report;
                    let moving = marks.told_at(i).is_some_and(|told| {
                        !seen.on_candidate || last.is_none_or(|at| at < told + self.report_interval)
                    });
                    let silent = last.is_none_or(|at| at < fresh_from);
                    moving || silent
                })
                .map(|(_, t)| t.clone())
                .collect()
        })
    }

    /// Release the next moves of `wave` that fit in the stage's `max_unavailable` (all of the
    /// wave's at once when it has none).
    pub(super) fn release_moves(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        obs: &dyn Observations,
        stage: usize,
        wave: usize,
    ) {
        let sp = &self.plan.stages[stage];
        let Some(max) = sp.max_unavailable else { return };
        let end = sp.wave_end(wave);
        let told_end = self.marks_of(stage).told_end();
        if told_end >= end {
            return;
        }
        let out_now = self.out_of_service(obs, now, stage).len();
        let room = max.saturating_sub(out_now);
        if room == 0 {
            return;
        }
        let new_end = (told_end + room).min(end);
        let new: Vec<TargetId> = sp.targets[told_end..new_end].to_vec();
        let name = sp.name.clone();
        self.marks[stage].told.push(Told { end: new_end, at: now });
        self.record(
            out,
            now,
            EventKind::MovesReleased {
                stage: name,
                wave,
                begin: told_end,
                end: new_end,
                out_of_service: out_now,
                max_unavailable: max,
            },
        );
        out.push(Action::SetDesired { targets: new, release: self.release.clone() });
    }
}
