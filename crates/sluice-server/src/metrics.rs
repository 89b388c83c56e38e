//! The server's own metrics, served as Prometheus text on `GET /metrics` (prometheus-client).
//!
//! `/metrics` needs no token: it holds counts, durations, phase names, gate names and apply
//! failure reasons — no secrets, release contents, target labels or tokens — and scrapers
//! rarely carry bearer tokens. Put the server behind a firewall if even that is too much.
//!
//! Families (counters get `_total` when encoded):
//! - `sluice_rollouts{phase}` — active rollouts by phase, computed at scrape time;
//!   `sluice_rollouts_finished_total{outcome}` — rollouts that finished since the start;
//! - `sluice_gate_verdicts_total{gate,verdict}` — gate verdicts recorded (a gate's verdict is
//!   recorded when it changes, per stage, wave and label scope, as the event log does);
//! - `sluice_propagation_seconds` — from a desired-state change committed to the target's next
//!   report showing that release running;
//! - `sluice_agents_connected` — targets that reported within three report intervals, and
//!   `sluice_targets` — targets enrolled;
//! - `sluice_apply_failures_total{reason}` — apply failures first received, by the agent's
//!   stable reason (`check_failed`, …; anything else is `other`);
//! - `sluice_store_commit_seconds` — how long `commit_transition` took;
//! - `sluice_store_transition_bytes` — the data each transition wrote (state, events, service
//!   state; the plan once, at start);
//! - `sluice_health_source_queries_total{source,outcome}` and
//!   `sluice_health_source_errors_total{source,kind}` — reads of gates' health sources;
//! - `sluice_break_glass_total` — rollouts started past the policy (broken glass), each one
//!   also its own event kind and a banner in status;
//! - `sluice_invariant_violations_total{invariant}` — the engine's named invariants found
//!   broken on a transition the server committed (checked on every one; must stay 0; every
//!   invariant is exported from the start, at 0, so an alert can rely on the series).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sluice_core::engine::{Action, EventKind, Outcome, Verdict};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;

type Labels = Vec<(String, String)>;

/// A desired change waiting for the target to report it running.
#[derive(Debug, Clone)]
struct Pending {
    release: Option<ReleaseId>,
    since: Millis,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rollouts: Family<Labels, Gauge>,
    rollouts_finished: Family<Labels, Counter>,
    gate_verdicts: Family<Labels, Counter>,
    propagation: Histogram,
    agents_connected: Gauge,
    targets: Gauge,
    apply_failures: Family<Labels, Counter>,
    store_commit: Histogram,
    transition_bytes: Histogram,
    source_queries: Family<Labels, Counter>,
    source_errors: Family<Labels, Counter>,
    invariant_violations: Family<Labels, Counter>,
    break_glass: Counter,
    pending: Mutex<HashMap<(TargetId, String), Pending>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What the scrape computes from the server's state at that moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Phase name → active rollouts in it.
    pub phases: HashMap<&'static str, i64>,
    pub connected: i64,
    pub targets: i64,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let rollouts = Family::<Labels, Gauge>::default();
        let rollouts_finished = Family::<Labels, Counter>::default();
        let gate_verdicts = Family::<Labels, Counter>::default();
        let propagation = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let agents_connected = Gauge::default();
        let targets = Gauge::default();
        let apply_failures = Family::<Labels, Counter>::default();
        let store_commit = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let transition_bytes = Histogram::new(exponential_buckets(256.0, 2.0, 14));
        let source_queries = Family::<Labels, Counter>::default();
        let source_errors = Family::<Labels, Counter>::default();
        let invariant_violations = Family::<Labels, Counter>::default();
        for name in sluice_core::engine::invariants::NAMES {
            let _ = invariant_violations.get_or_create(&label("invariant", name)).get();
        }
        registry.register(
            "sluice_invariant_violations",
            "Engine invariants found broken on a committed transition, by invariant (must stay 0)",
            invariant_violations.clone(),
        );
        let break_glass = Counter::default();
        registry.register("sluice_break_glass", "Rollouts started past the policy (broken glass)", break_glass.clone());
        registry.register("sluice_rollouts", "Active rollouts by phase", rollouts.clone());
        registry.register("sluice_rollouts_finished", "Rollouts finished, by outcome", rollouts_finished.clone());
        registry.register(
            "sluice_gate_verdicts",
            "Gate verdicts recorded (on change), by gate and verdict",
            gate_verdicts.clone(),
        );
        registry.register(
            "sluice_propagation_seconds",
            "From a desired-state change committed to the target reporting that release running",
            propagation.clone(),
        );
        registry.register(
            "sluice_agents_connected",
            "Targets that reported within three report intervals",
            agents_connected.clone(),
        );
        registry.register("sluice_targets", "Targets enrolled", targets.clone());
        registry.register("sluice_apply_failures", "Apply failures received, by reason", apply_failures.clone());
        registry.register(
            "sluice_store_commit_seconds",
            "Duration of writing a rollout transition to the store",
            store_commit.clone(),
        );
        registry.register(
            "sluice_store_transition_bytes",
            "Data a rollout transition wrote: state, events, service state (the plan once, at start)",
            transition_bytes.clone(),
        );
        registry.register(
            "sluice_health_source_queries",
            "Reads of gates' health sources, by source and outcome",
            source_queries.clone(),
        );
        registry.register(
            "sluice_health_source_errors",
            "Reads of gates' health sources that gave no values, by source and why",
            source_errors.clone(),
        );
        Metrics {
            registry,
            rollouts,
            rollouts_finished,
            gate_verdicts,
            propagation,
            agents_connected,
            targets,
            apply_failures,
            store_commit,
            transition_bytes,
            source_queries,
            source_errors,
            invariant_violations,
            break_glass,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The text exposition, with the scrape-time gauges set from `snap`.
    pub fn encode(&self, snap: &Snapshot) -> String {
        self.rollouts.clear();
        for phase in ["awaiting approval", "applying", "baking", "held", "paused", "rolling back"] {
            let n = snap.phases.get(phase).copied().unwrap_or(0);
            self.rollouts.get_or_create(&label("phase", phase)).set(n);
        }
        self.agents_connected.set(snap.connected);
        self.targets.set(snap.targets);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
        }
        out
    }

    /// A transition was written (in `took`) with these actions.
    pub fn committed(&self, actions: &[Action], took: Duration, bytes: u64) {
        self.store_commit.observe(took.as_secs_f64());
        self.transition_bytes.observe(bytes as f64);
        for a in actions {
            let Action::Record(e) = a else { continue };
            match &e.kind {
                EventKind::Gate { eval, .. } => {
                    let verdict = match eval.verdict {
                        Verdict::Pass => "pass",
                        Verdict::Inconclusive => "inconclusive",
                        Verdict::Fail => "fail",
                    };
                    self.gate_verdicts
                        .get_or_create(&vec![("gate".into(), eval.gate.clone()), ("verdict".into(), verdict.into())])
                        .inc();
                }
                EventKind::Finished { outcome, .. } => {
                    let outcome = match outcome {
                        Outcome::Completed => "completed",
                        Outcome::RolledBack => "rolled_back",
                        Outcome::Aborted => "aborted",
                        Outcome::RollbackIncomplete => "rollback_incomplete",
                    };
                    self.rollouts_finished.get_or_create(&label("outcome", outcome)).inc();
                }
                EventKind::BreakGlass { .. } => {
                    self.break_glass.inc();
                }
                _ => {}
            }
        }
    }

    /// An engine invariant found broken (logged by the caller).
    pub fn invariant_violated(&self, v: &sluice_core::engine::invariants::Violation) {
        self.invariant_violations.get_or_create(&label("invariant", v.invariant())).inc();
    }

    /// `targets` were told to run `release` of `service`, committed at `at`.
    pub fn desired_changed<'a>(
        &self,
        service: &str,
        targets: impl IntoIterator<Item = (&'a TargetId, Option<ReleaseId>)>,
        at: Millis,
    ) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (t, release) in targets {
            pending.insert((t.clone(), service.to_string()), Pending { release, since: at });
        }
    }

    /// `target` reported running `running` of `service` at `now`: ends a pending propagation.
    pub fn reported_running(&self, target: &TargetId, service: &str, running: Option<&ReleaseId>, now: Millis) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (target.clone(), service.to_string());
        if let Some(p) = pending.get(&key)
            && p.release.as_ref() == running
        {
            self.propagation.observe(now.since(p.since).as_secs_f64());
            pending.remove(&key);
        }
    }

    pub fn apply_failed(&self, reason: &str) {
        let ok = !reason.is_empty()
            && reason.len() <= 40
            && reason.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        self.apply_failures.get_or_create(&label("reason", if ok { reason } else { "other" })).inc();
    }

    /// A health source was read: `error` is the kind of failure, `None` when it gave values.
    pub fn source_read(&self, source: &'static str, error: Option<&'static str>) {
        let outcome = if error.is_some() { "error" } else { "ok" };
        self.source_queries
            .get_or_create(&vec![("source".into(), source.into()), ("outcome".into(), outcome.into())])
            .inc();
        if let Some(kind) = error {
            self.source_errors
                .get_or_create(&vec![("source".into(), source.into()), ("kind".into(), kind.into())])
                .inc();
        }
    }
}

fn label(k: &str, v: &str) -> Labels {
    vec![(k.to_string(), v.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagation_is_observed_once_when_the_release_runs() {
        let m = Metrics::new();
        let t = TargetId::from("a");
        let r = ReleaseId::from("sha256:1");
        m.desired_changed("svc", [(&t, Some(r.clone()))], Millis(1_000));
        m.reported_running(&t, "svc", None, Millis(1_100));
        assert!(m.encode(&Snapshot::default()).contains("sluice_propagation_seconds_count 0"));
        m.reported_running(&t, "svc", Some(&r), Millis(1_250));
        m.reported_running(&t, "svc", Some(&r), Millis(1_300));
        let text = m.encode(&Snapshot::default());
        assert!(text.contains("sluice_propagation_seconds_count 1"), "{text}");
        assert!(text.contains("sluice_propagation_seconds_sum 0.25"), "{text}");
    }

    #[test]
    fn odd_apply_failure_reasons_are_other() {
        let m = Metrics::new();
        m.apply_failed("check_failed");
        m.apply_failed("Weird Reason {with} \"quotes\"");
        let text = m.encode(&Snapshot::default());
        assert!(text.contains("sluice_apply_failures_total{reason=\"check_failed\"} 1"), "{text}");
        assert!(text.contains("sluice_apply_failures_total{reason=\"other\"} 1"), "{text}");
    }
}
