//! Silence: a wave member told to apply that reports nothing for `silent_after` is silent; its
//! wave fails (or holds, `on_silent: hold`). And observed time: a bake advances only while every
//! member's reports arrive.

use super::Rollout;
use crate::engine::gates::{GateEval, Verdict};
use crate::engine::observe::Observations;
use crate::release::TargetId;
use crate::spec::GateKind;
use crate::time::{Dur, Millis};

/// A member whose latest report is older than this many report intervals is not observed: the
/// bake clock stops until it reports again.
pub const FRESH_INTERVALS: u64 = 2;

/// The default `silent_after`, in report intervals.
const SILENT_INTERVALS: u64 = 3;

impl Rollout {
    /// The stage's `silent_after`, or three report intervals.
    pub fn silent_after(&self, stage: usize) -> Dur {
        self.plan
            .stages
            .get(stage)
            .and_then(|s| s.silent_after)
            .unwrap_or(Dur(self.report_interval.0.saturating_mul(SILENT_INTERVALS)))
    }

    /// Judged members of the waves up to `wave` that sent nothing for `silent_after`, counted
    /// from the latest of: when they were told to apply, their last report, and when the shell
    /// started watching (time the server was down is not their silence). With how long.
    pub fn silent_members(
        &self,
        obs: &dyn Observations,
        now: Millis,
        stage: usize,
        wave: usize,
    ) -> Vec<(TargetId, Dur)> {
        let after = self.silent_after(stage);
        let marks = self.marks_of(stage);
        let watching = obs.watching_since();
        self.memo.sync(&self.plan, obs);
        self.memo.with(|m| {
            self.members(stage, wave)
                .filter_map(|(i, t)| {
                    let told = marks.told_at(i).unwrap_or(self.started_at);
                    let heard = m.seen(obs, (stage, i), t, &self.release).last_report.unwrap_or(Millis(0));
                    let quiet = now.since(told.max(heard).max(watching));
                    (quiet >= after).then(|| (t.clone(), now.since(heard.max(told))))
                })
                .collect()
        })
    }

    /// One evaluation per silent member: failing, or holding under `on_silent: hold`.
    pub(super) fn silence_evals(&self, silent: &[(TargetId, Dur)], stage: usize) -> Vec<GateEval> {
        let after = self.silent_after(stage);
        let hold = self.holds_on_silence(stage);
        silent
            .iter()
            .map(|(t, quiet)| GateEval {
                gate: "silence".into(),
                kind: GateKind::Silence,
                metric: "seconds_since_report".into(),
                scope: Some(format!("target={t}")),
                verdict: if hold { Verdict::Inconclusive } else { Verdict::Fail },
                value: Some(quiet.as_secs_f64()),
                reference: Some(after.as_secs_f64()),
                p_value: None,
                u: None,
                samples: 0,
                baseline_samples: None,
                reason: format!(
                    "silent: {t} (no report for {quiet}, silent_after {after}){}",
                    if hold { "; on_silent: hold, the bake waits for it" } else { "" }
                ),
                failing_targets: vec![t.to_string()],
                max_failing_targets: None,
                failure_limit: 1,
                consecutive_failures: 0,
                initial_delay: Dur::ZERO,
                on_fail: crate::spec::OnFail::Rollback,
            })
            .collect()
    }

    /// Whether every judged member of the waves up to `wave` reported within
    /// [`FRESH_INTERVALS`] report intervals and since the shell started watching (false when
    /// there is no judged member: a wave with nobody to watch is not observed).
    pub(super) fn all_fresh(&self, obs: &dyn Observations, now: Millis, stage: usize, wave: usize) -> bool {
        let watching = obs.watching_since();
        let fresh_from = now.saturating_sub(Dur(self.report_interval.0.saturating_mul(FRESH_INTERVALS))).max(watching);
        self.memo.with(|m| {
            let mut any = false;
            for (i, t) in self.members(stage, wave) {
                any = true;
                if m.seen(obs, (stage, i), t, &self.release).last_report.is_none_or(|at| at < fresh_from) {
                    return false;
                }
            }
            any
        })
    }

    /// How much of `checked..now` counts toward the bake: all of it, up to one report interval
    /// (a longer gap is time nobody watched), when every member is fresh; none otherwise.
    pub(super) fn observed_credit(
        &self,
        obs: &dyn Observations,
        now: Millis,
        stage: usize,
        wave: usize,
        checked: Millis,
    ) -> Dur {
        if !self.all_fresh(obs, now, stage, wave) {
            return Dur::ZERO;
        }
        self.watched_time(obs, now, checked)
    }

    /// `checked..now`, up to one report interval and not before the shell started watching:
    /// the most a step credits to a bake or a probation when every member is fresh.
    pub(super) fn watched_time(&self, obs: &dyn Observations, now: Millis, checked: Millis) -> Dur {
        Dur(now.since(checked.max(obs.watching_since())).0.min(self.report_interval.0))
    }
}
