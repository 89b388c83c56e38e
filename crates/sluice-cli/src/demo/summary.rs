//! The story's summary as a person reads it: one row per step, what happened and whether it
//! is what the story expects.

use super::step::StepResult;

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_else(|| "-".into())
}

fn failed((sent, failed): (u64, u64)) -> String {
    if sent == 0 { "-".into() } else { format!("{failed} of {sent}") }
}

/// The summary table, then one line per problem.
pub fn table(steps: &[StepResult]) -> String {
    let mut t = crate::render::table(&[
        "step",
        "release",
        "outcome",
        "caught in",
        "targets on it",
        "prod targets on bad",
        "verdict → rolled back",
        "failed requests (prod)",
        "failed requests (all)",
        "as expected",
    ]);
    for s in steps {
        t.add_row(vec![
            s.name.to_string(),
            s.release.to_string(),
            s.outcome.as_str().to_string(),
            opt(&s.stage_caught),
            opt(&s.targets_ever_on_release),
            opt(&s.prod_targets_ever_on_bad),
            s.verdict_to_rollback_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into()),
            failed(s.failed_requests.prod),
            failed(s.failed_requests.all),
            if s.ok() { "yes".into() } else { "NO".into() },
        ]);
    }
    let mut out = format!("{t}\n");
    for s in steps {
        for p in &s.problems {
            out.push_str(&format!("{}: {p}\n", s.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::step::{Expect, FailedRequests, StepOutcome};

    #[test]
    fn rows_show_every_step_and_problems_follow() {
        let mut a = StepResult::new("killswitch-2025-12-05", "v3-killswitch", Expect::CaughtIn("staging"));
        a.outcome = StepOutcome::RolledBack;
        a.stage_caught = Some("staging".into());
        a.targets_ever_on_release = Some(5);
        a.prod_targets_ever_on_bad = Some(0);
        a.verdict_to_rollback_ms = Some(840);
        a.failed_requests = FailedRequests { prod: (4000, 0), all: (5000, 31) };
        a.judge(48);
        let mut b = StepResult::new("good-release", "v2-good", Expect::Completes);
        b.judge(48);
        let text = table(&[a, b]);
        assert!(text.contains("killswitch-2025-12-05") && text.contains("840 ms"), "{text}");
        assert!(text.contains("0 of 4000") && text.contains("31 of 5000"), "{text}");
        assert!(text.contains("good-release: expected completed, got error"), "{text}");
    }
}
