//! One step of the story and what it must show: the measured result of a release's journey,
//! and the story's expectation of it. The JSON of `sluice demo --json` is these results.

use serde::Serialize;

/// How a step's release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Completed,
    RolledBack,
    Aborted,
    /// Rolled back, but some target did not get back to known-good.
    RollbackIncomplete,
    /// Refused by validation at release create: nothing shipped.
    Rejected,
    /// The step could not finish (timeout, server error): the story did not hold.
    Error,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Completed => "completed",
            StepOutcome::RolledBack => "rolled_back",
            StepOutcome::Aborted => "aborted",
            StepOutcome::RollbackIncomplete => "rollback_incomplete",
            StepOutcome::Rejected => "rejected",
            StepOutcome::Error => "error",
        }
    }
}

/// What the story expects of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Through every stage to 100%.
    Completes,
    /// A gate fails in this stage; every touched target goes back; prod never sees it.
    CaughtIn(&'static str),
    /// Validation refuses it at release create; no target ever sees it.
    Rejected,
    /// `rollout revert`: every target back on the previous known-good, no approval asked.
    Reverts,
    /// `rollout start --emergency`: to 100% within [`EMERGENCY_LIMIT`], every stage's first
    /// wave judged by its gates on the way (checked from the events by the story).
    Emergency,
}

/// How long the emergency change may take to reach every target.
pub const EMERGENCY_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// One step as `--json` prints it (exactly these fields), plus what went wrong, if anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    pub name: &'static str,
    pub release: &'static str,
    pub outcome: StepOutcome,
    pub stage_caught: Option<String>,
    pub targets_ever_on_release: Option<usize>,
    pub prod_targets_ever_on_bad: Option<usize>,
    pub verdict_to_rollback_ms: Option<u64>,
    #[serde(skip)]
    pub expect: Expect,
    /// Why the step did not end as the story expects (empty when it did).
    #[serde(skip)]
    pub problems: Vec<String>,
    /// Requests the load generator saw fail during the step, in prod and overall.
    #[serde(skip)]
    pub failed_requests: FailedRequests,
    /// The step's rollout, if it got one.
    #[serde(skip)]
    pub rollout: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailedRequests {
    pub prod: (u64, u64),
    pub all: (u64, u64),
}

impl StepResult {
    pub fn new(name: &'static str, release: &'static str, expect: Expect) -> StepResult {
        StepResult {
            name,
            release,
            outcome: StepOutcome::Error,
            stage_caught: None,
            targets_ever_on_release: None,
            prod_targets_ever_on_bad: None,
            verdict_to_rollback_ms: None,
            expect,
            problems: Vec::new(),
            failed_requests: FailedRequests::default(),
            rollout: None,
        }
    }

    /// Compare the measured result with the expectation; records every mismatch.
    pub fn judge(&mut self, fleet_size: usize) {
        let mut p = Vec::new();
        match self.expect {
            Expect::Completes | Expect::Emergency => {
                if self.outcome != StepOutcome::Completed {
                    p.push(format!("expected completed, got {}", self.outcome.as_str()));
                }
                if self.targets_ever_on_release != Some(fleet_size) {
                    p.push(format!("expected all {fleet_size} targets on it, got {:?}", self.targets_ever_on_release));
                }
            }
            Expect::CaughtIn(stage) => {
                if self.outcome != StepOutcome::RolledBack {
                    p.push(format!("expected rolled_back, got {}", self.outcome.as_str()));
                }
                if self.stage_caught.as_deref() != Some(stage) {
                    p.push(format!("expected to be caught in {stage}, got {:?}", self.stage_caught));
                }
                if self.prod_targets_ever_on_bad != Some(0) {
                    p.push(format!("expected no prod target on it, got {:?}", self.prod_targets_ever_on_bad));
                }
                if self.verdict_to_rollback_ms.is_none() {
                    p.push("no time from the failing gate to the finished rollback".into());
                }
            }
            Expect::Reverts => {
                if self.outcome != StepOutcome::Completed {
                    p.push(format!("expected the revert to complete, got {}", self.outcome.as_str()));
                }
                if self.targets_ever_on_release != Some(fleet_size) {
                    p.push(format!(
                        "expected all {fleet_size} targets back on it, got {:?}",
                        self.targets_ever_on_release
                    ));
                }
            }
            Expect::Rejected => {
                if self.outcome != StepOutcome::Rejected {
                    p.push(format!("expected rejected, got {}", self.outcome.as_str()));
                }
                if self.targets_ever_on_release != Some(0) || self.prod_targets_ever_on_bad != Some(0) {
                    p.push(format!(
                        "expected no target on it, got {:?} ({:?} in prod)",
                        self.targets_ever_on_release, self.prod_targets_ever_on_bad
                    ));
                }
            }
        }
        self.problems.extend(p);
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Whether every step ended as the story expects (and there was a story).
pub fn all_ok(steps: &[StepResult]) -> bool {
    !steps.is_empty() && steps.iter().all(StepResult::ok)
}

/// `{"ok": …, "steps": […]}`, fields in the documented order.
pub fn to_json(steps: &[StepResult]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        ok: bool,
        steps: &'a [StepResult],
    }
    serde_json::to_string(&Out { ok: all_ok(steps), steps })
        .unwrap_or_else(|e| format!("{{\"ok\":false,\"steps\":[],\"error\":{:?}}}", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_exactly_the_documented_fields() {
        let mut s = StepResult::new("feature-file-2025-11-18", "v4-features-doubled", Expect::Rejected);
        s.outcome = StepOutcome::Rejected;
        s.stage_caught = Some("validation".into());
        s.targets_ever_on_release = Some(0);
        s.prod_targets_ever_on_bad = Some(0);
        s.judge(48);
        let text = to_json(&[s]);
        assert!(text.starts_with(r#"{"ok":true,"steps":[{"name":"feature-file-2025-11-18","release":"#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["ok"], true);
        let step = v["steps"][0].as_object().unwrap();
        let mut keys: Vec<&str> = step.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "name",
                "outcome",
                "prod_targets_ever_on_bad",
                "release",
                "stage_caught",
                "targets_ever_on_release",
                "verdict_to_rollback_ms"
            ]
        );
        assert_eq!(step["outcome"], "rejected");
        assert!(step["verdict_to_rollback_ms"].is_null());
    }

    #[test]
    fn mismatches_are_named() {
        let mut s = StepResult::new("killswitch-2025-12-05", "v3-killswitch", Expect::CaughtIn("staging"));
        s.outcome = StepOutcome::RolledBack;
        s.stage_caught = Some("prod".into());
        s.prod_targets_ever_on_bad = Some(1);
        s.judge(48);
        assert!(!s.ok());
        let all = s.problems.join("; ");
        assert!(all.contains("caught in staging") && all.contains("no prod target"), "{all}");
        assert!(!all_ok(&[s]));
        assert!(!all_ok(&[]));

        let mut good = StepResult::new("good-release", "v2-good", Expect::Completes);
        good.outcome = StepOutcome::Completed;
        good.targets_ever_on_release = Some(48);
        good.judge(48);
        assert!(good.ok(), "{:?}", good.problems);
    }
}
