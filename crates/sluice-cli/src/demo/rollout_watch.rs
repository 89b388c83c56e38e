//! Following one rollout to its end, and reading what its audit log says happened: which gate
//! failed first, where, and when the rollback finished.

use std::time::Duration;

use sluice_api::{Client, RolloutView};
use sluice_core::engine::{Event, EventKind, Verdict};

use super::progress::Progress;
use super::wait;

/// Poll the rollout until it finishes (or `timeout`), showing its progress.
pub async fn follow(
    client: &Client,
    id: &str,
    timeout: Duration,
    progress: &mut Progress,
) -> Result<RolloutView, wait::TimedOut> {
    let progress = std::cell::RefCell::new(progress);
    let r = wait::until(&format!("rollout {id} to finish"), timeout, Duration::from_millis(200), || {
        let progress = &progress;
        async move {
            let view = client.rollout(id).await.map_err(|e| e.to_string())?;
            progress.borrow_mut().update(&view);
            if view.is_finished() { Ok(view) } else { Err(view.phase.to_string()) }
        }
    })
    .await;
    progress.borrow_mut().finish();
    r
}

/// What the audit log of one rollout tells the story.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdicts {
    /// The first failing gate: its stage and when (server ms).
    pub first_failure: Option<(String, u64)>,
    /// When the rollout finished (server ms).
    pub finished_at: Option<u64>,
}

impl Verdicts {
    pub fn from_events(events: &[Event]) -> Verdicts {
        let mut v = Verdicts::default();
        for e in events {
            match &e.kind {
                EventKind::Gate { stage, eval, .. } if eval.verdict == Verdict::Fail && v.first_failure.is_none() => {
                    v.first_failure = Some((stage.clone(), e.at.0));
                }
                EventKind::ApplyFailed { stage, .. } if v.first_failure.is_none() => {
                    v.first_failure = Some((stage.clone(), e.at.0));
                }
                EventKind::Finished { .. } => v.finished_at = Some(e.at.0),
                _ => {}
            }
        }
        v
    }

    /// From the failing verdict to the finished rollback.
    pub fn verdict_to_finish_ms(&self) -> Option<u64> {
        match (&self.first_failure, self.finished_at) {
            (Some((_, failed)), Some(done)) => Some(done.saturating_sub(*failed)),
            _ => None,
        }
    }
}

/// Every event of rollout `id`, oldest first (events the engine did not write are skipped).
pub async fn events(client: &Client, id: &str) -> Result<Vec<Event>, sluice_api::ClientError> {
    const PAGE: u32 = 500;
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = client.events(after, PAGE, Some(id)).await?;
        let n = page.len();
        for e in page {
            after = after.max(e.seq);
            if let Ok(ev) = serde_json::from_value::<Event>(e.body) {
                out.push(ev);
            }
        }
        if n < PAGE as usize {
            return Ok(out);
        }
    }
}

/// Targets the rollout told to move to the candidate, and of those, how many in `stage`.
pub async fn touched_in(
    client: &Client,
    rollout: &str,
    stage: &str,
) -> Result<(usize, usize), sluice_api::ClientError> {
    let targets = client.rollout_targets(rollout).await?;
    let in_stage = targets.stages.iter().filter(|s| s.name == stage).map(|s| s.told).sum();
    Ok((targets.touched().count(), in_stage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::time::Millis;

    fn ev(at: u64, kind: EventKind) -> Event {
        Event { at: Millis(at), rollout: "r1".into(), kind }
    }

    #[test]
    fn the_first_failing_gate_and_the_finish_give_the_time_to_rollback() {
        let gate = |verdict| {
            let mut e: sluice_core::engine::GateEval = serde_json::from_value(serde_json::json!({
                "gate": "http-5xx", "kind": "threshold", "metric": "error_rate", "scope": "proxy=fl1",
                "verdict": "pass", "value": 1.0, "reference": 0.01, "samples": 3, "baseline_samples": null,
                "reason": "",
            }))
            .unwrap();
            e.verdict = verdict;
            EventKind::Gate { stage: "staging".into(), wave: 0, eval: e }
        };
        let events = [
            ev(1_000, gate(Verdict::Pass)),
            ev(5_000, gate(Verdict::Fail)),
            ev(5_100, gate(Verdict::Fail)),
            ev(5_000, EventKind::RollbackStarted { why: "x".into(), targets: 3, to: None }),
            ev(6_250, EventKind::Finished { outcome: sluice_core::engine::Outcome::RolledBack, why: "x".into() }),
        ];
        let v = Verdicts::from_events(&events);
        assert_eq!(v.first_failure, Some(("staging".into(), 5_000)));
        assert_eq!(v.verdict_to_finish_ms(), Some(1_250));
        assert_eq!(Verdicts::from_events(&events[..1]).verdict_to_finish_ms(), None);
    }
}
