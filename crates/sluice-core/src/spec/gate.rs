//! Gates as written in a stage: a threshold on a metric, or a canary-vs-baseline comparison.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::source::HealthSource;
use crate::time::Dur;

/// One gate, externally tagged:
/// `- threshold: { name: http-errors, metric: error_rate, max: 0.01 }` or
/// `- compare: { name: p99, metric: latency_p99_ms }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GateSpec {
    Threshold(ThresholdGate),
    Compare(CompareGate),
}

/// The kind of a gate, for records and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    Threshold,
    Compare,
    /// Not a gate of the spec: the engine's record of a wave member that went silent.
    Silence,
}

impl GateSpec {
    pub fn name(&self) -> &str {
        match self {
            GateSpec::Threshold(g) => &g.name,
            GateSpec::Compare(g) => &g.name,
        }
    }
    pub fn kind(&self) -> GateKind {
        match self {
            GateSpec::Threshold(_) => GateKind::Threshold,
            GateSpec::Compare(_) => GateKind::Compare,
        }
    }
    pub fn window(&self) -> Dur {
        match self {
            GateSpec::Threshold(g) => g.window,
            GateSpec::Compare(g) => g.window,
        }
    }
    pub fn per_label(&self) -> Option<&str> {
        match self {
            GateSpec::Threshold(g) => g.per_label.as_deref(),
            GateSpec::Compare(g) => g.per_label.as_deref(),
        }
    }
    pub fn metric(&self) -> &Metric {
        match self {
            GateSpec::Threshold(g) => &g.metric,
            GateSpec::Compare(g) => &g.metric,
        }
    }
    pub fn tolerance(&self) -> Tolerance {
        match self {
            GateSpec::Threshold(g) => Tolerance { failure_limit: g.failure_limit, initial_delay: g.initial_delay },
            GateSpec::Compare(g) => Tolerance { failure_limit: g.failure_limit, initial_delay: g.initial_delay },
        }
    }
    pub fn min_samples(&self) -> u32 {
        match self {
            GateSpec::Threshold(g) => g.min_samples,
            GateSpec::Compare(g) => g.min_samples,
        }
    }
    /// Where the gate reads health from; `None`: the samples agents report.
    pub fn source(&self) -> Option<&HealthSource> {
        match self {
            GateSpec::Threshold(g) => g.source.as_ref(),
            GateSpec::Compare(g) => g.source.as_ref(),
        }
    }
}

/// The metric must stay at or under `max` (and at or over `min`) over the window, aggregated
/// over the wave's targets, with at least `min_samples` health reports in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdGate {
    pub name: String,
    pub metric: Metric,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
    /// How far back the gate looks (default 1m).
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Fewest health reports in the window for a verdict; fewer is inconclusive (default 3).
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    /// Judge each value of this label separately, so one failing variant is not averaged away.
    #[serde(default)]
    pub per_label: Option<String>,
    /// Where the values come from (default: the samples agents report). With a source, only
    /// the source's values count, `metric` is the name they are judged under, and
    /// `min_samples` counts the source's per-target values in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<HealthSource>,
    /// How many of the wave's targets may breach the bound on their own (each judged over its
    /// own reports in the window) while the aggregate holds (default 0): one target failing
    /// every request is never averaged away by its healthy neighbours.
    #[serde(default)]
    pub max_failing_targets: u32,
    /// Consecutive failing evaluations (counted at most once per report interval) before the
    /// gate fails (default 1: the first). Until then a failing evaluation holds the wave.
    #[serde(default = "default_failure_limit")]
    pub failure_limit: u32,
    /// Reports a member sends in this long after it first runs the candidate are ignored (a
    /// reload's warm-up); default 0s.
    #[serde(default)]
    pub initial_delay: Dur,
    /// What a failure of this gate does: `rollback` (default) rolls every touched target back;
    /// `pause` keeps the candidate where it is, stops promotion and waits for a person.
    #[serde(default)]
    pub on_fail: OnFail,
}

/// How a gate treats a failing evaluation and a fresh member: the knobs Argo Rollouts
/// (`failureLimit`) and Flagger (`threshold`) users ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tolerance {
    pub failure_limit: u32,
    pub initial_delay: Dur,
}

/// What a failing gate does to its rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    /// Roll every touched target back to known-good.
    #[default]
    Rollback,
    /// Keep the candidate where it is, stop promotion, and wait for a person (resume, abort or
    /// roll back).
    Pause,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { failure_limit: default_failure_limit(), initial_delay: Dur::ZERO }
    }
}

fn default_failure_limit() -> u32 {
    1
}

/// The canary (targets on the new release) must not be worse than the baseline (targets of the
/// same stage on the previous release) by a Mann-Whitney U test over per-target values at
/// `confidence`, and by at least `min_effect` (relative difference of medians), as Kayenta does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareGate {
    pub name: String,
    pub metric: Metric,
    /// Which direction is worse (default `higher`).
    #[serde(default)]
    pub worse: Worse,
    /// Confidence for calling the canary worse (default 0.98).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Smallest relative difference of medians that counts (default 0.1 = 10%).
    #[serde(default = "default_min_effect")]
    pub min_effect: f64,
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Fewest targets with data on each side for a verdict (default 3).
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    #[serde(default)]
    pub per_label: Option<String>,
    /// Where the values come from (default: the samples agents report), as for thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<HealthSource>,
    /// Consecutive failing evaluations (counted at most once per report interval) before the
    /// gate fails (default 1: the first). Until then a failing evaluation holds the wave.
    #[serde(default = "default_failure_limit")]
    pub failure_limit: u32,
    /// Reports a member sends in this long after it first runs the candidate are ignored (a
    /// reload's warm-up); default 0s.
    #[serde(default)]
    pub initial_delay: Dur,
    /// What a failure of this gate does: `rollback` (default) rolls every touched target back;
    /// `pause` keeps the candidate where it is, stops promotion and waits for a person.
    #[serde(default)]
    pub on_fail: OnFail,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    #[default]
    Higher,
    Lower,
}

fn default_window() -> Dur {
    Dur::mins(1)
}
fn default_min_samples() -> u32 {
    3
}
fn default_confidence() -> f64 {
    0.98
}
fn default_min_effect() -> f64 {
    0.1
}

/// What a gate measures. Built in: `error_rate` (5xx / requests), `latency_p50_ms`,
/// `latency_p99_ms`, `crash_rate` (crashes per report). Any other name is a custom metric the
/// target reports (e.g. `bot_score_zero_share`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    ErrorRate,
    LatencyP50Ms,
    LatencyP99Ms,
    CrashRate,
    Custom(String),
}

impl Metric {
    pub fn as_str(&self) -> &str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::LatencyP50Ms => "latency_p50_ms",
            Metric::LatencyP99Ms => "latency_p99_ms",
            Metric::CrashRate => "crash_rate",
            Metric::Custom(s) => s,
        }
    }
    pub fn parse(s: &str) -> Result<Metric, String> {
        Ok(match s {
            "error_rate" => Metric::ErrorRate,
            "latency_p50_ms" => Metric::LatencyP50Ms,
            "latency_p99_ms" => Metric::LatencyP99Ms,
            "crash_rate" => Metric::CrashRate,
            other => {
                let ok = !other.is_empty()
                    && other.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.');
                if !ok {
                    return Err(format!(
                        "invalid metric name {other:?}: use error_rate, latency_p50_ms, latency_p99_ms, crash_rate or a custom name of [A-Za-z0-9_:.]"
                    ));
                }
                Metric::Custom(other.to_string())
            }
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metric, D::Error> {
        let s = String::deserialize(d)?;
        Metric::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Metric {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Metric".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "error_rate, latency_p50_ms, latency_p99_ms, crash_rate, or a custom metric name the target reports.",
            "pattern": "^[A-Za-z0-9_:.]+$"
        })
    }
}
