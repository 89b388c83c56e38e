//! What the nginx fleet story reports: one [`StepReport`] per rollout, the fleet as planned
//! ([`HostView`]), and the whole [`Report`] that `run --json` prints.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::traffic::TargetTraffic;

/// What happened to one rollout.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    pub name: String,
    pub release: String,
    pub rollout: String,
    /// `completed`, `rolled_back`, `aborted`.
    pub outcome: Option<String>,
    /// The stage where a gate or an apply failed.
    pub stage_caught: Option<String>,
    /// Its wave, 1-based.
    pub wave_caught: Option<usize>,
    /// For a bad release: prod targets whose `current` ever pointed at it.
    pub prod_targets_ever_on_bad: Option<usize>,
    /// For a bad release: prod targets outside the wave that caught it that ever ran it or
    /// were ever sent it.
    pub prod_targets_beyond_caught_wave_on_bad: Option<usize>,
    /// Where the failing gate read its health: `prometheus`, or `agent` (agent reports).
    pub gate_source: Option<String>,
    /// The failing gate's evaluation (inputs, value, verdict, reason).
    pub failing_gate: Option<Value>,
    /// The first apply failure (`target`, `reason`).
    pub apply_failed: Option<Value>,
    /// From the failing verdict (or apply failure) to every touched target confirmed back.
    pub verdict_to_rollback_ms: Option<u64>,
    pub duration_ms: u64,
}

/// One host of the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    pub id: String,
    pub env: String,
    pub variant: String,
    pub port: u16,
    /// Prod hosts: the first wave that holds it (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prod_wave: Option<usize>,
}

/// The story's result. `ok` holds when `problems` is empty.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub problems: Vec<String>,
    pub steps: Vec<StepReport>,
    pub bootstrap: StepReport,
    pub fleet: Vec<HostView>,
    /// The prod wave (1-based) expected to catch `variant-b-500`: the first with a variant=b target.
    pub expected_catch_wave: usize,
    /// Runner requests that failed, to hosts not labelled variant=b / labelled variant=b,
    /// from the end of the bootstrap to the end of the run.
    pub non_b_failures: u64,
    pub b_failures: u64,
    pub requests: u64,
    pub traffic: BTreeMap<String, TargetTraffic>,
    pub prometheus_query: String,
    pub run_ms: u64,
    /// The working directory, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}
