//! The scenario file: a fleet, the releases that arrive (listed, or generated like a data file),
//! the faults they carry and what each fault does to which targets, and the strategies to
//! compare. Pipelines and validators use the very syntax of `sluice.yaml`.
//!
//! Loading is [`load_scenario`]: YAML within budgets (sluice-core's `from_yaml`), unknown fields
//! refused, then the meaning checked ([`check`]) with the field path and line of each problem.

pub mod check;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_core::change::ChangeRecord;
use sluice_core::labels::{Labels, Selector};
use sluice_core::spec::PipelineSpec;
use sluice_core::spec::parse::from_yaml;
use sluice_core::time::Dur;
use sluice_core::validate::ValidatorSpec;

use crate::error::SimError;

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The default seed (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Wall-clock time of the simulation's start, `HH:MM` (display only).
    #[serde(default)]
    pub clock: Option<String>,
    /// Simulated time span.
    pub duration: Dur,
    /// How often every target reports health, and how often the engine steps while a rollout
    /// is active (default 10s).
    #[serde(default = "default_report_interval")]
    pub report_interval: Dur,
    /// The service the releases belong to.
    pub service: String,
    /// Which targets are prod: their traffic is what the report measures (default `env: prod`).
    #[serde(default = "default_prod")]
    pub prod: Selector,
    /// Healthy targets' reports.
    #[serde(default)]
    pub health: HealthSpec,
    /// How fast agents apply what they are told.
    #[serde(default)]
    pub agents: AgentSpec,
    /// Groups of identical targets.
    pub fleet: Vec<GroupSpec>,
    /// Faults by name: what a release carrying one does to the targets its rules select.
    #[serde(default)]
    pub faults: BTreeMap<String, FaultSpec>,
    /// What every target runs at the start; the first known-good.
    pub initial_release: InitialRelease,
    /// Releases created at given times.
    #[serde(default)]
    pub releases: Vec<ReleaseSpec>,
    /// A generated data file published every few minutes.
    #[serde(default)]
    pub generated: Option<GeneratedSpec>,
    /// Pipelines by name, as in `sluice.yaml`.
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineSpec>,
    /// The pipelines the service lists (its `pipeline` first, then `pipelines`, as in
    /// `sluice.yaml`); a strategy naming another one needs broken glass. Default: every
    /// pipeline here.
    #[serde(default)]
    pub service_pipelines: Option<Vec<String>>,
    /// The strategies to compare, in report order.
    pub strategies: Vec<StrategySpec>,
}

fn default_report_interval() -> Dur {
    Dur::secs(10)
}

fn default_prod() -> Selector {
    let mut s = Selector::default();
    s.0.insert("env".into(), sluice_core::labels::LabelMatch::Is("prod".into()));
    s
}

/// What a healthy target reports each interval (noise is seeded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    #[serde(default = "default_requests")]
    pub requests_per_report: u64,
    /// Mean share of requests that fail on a healthy target.
    #[serde(default = "default_error_rate")]
    pub error_rate: f64,
    #[serde(default = "default_p50")]
    pub latency_p50_ms: f64,
    #[serde(default = "default_p99")]
    pub latency_p99_ms: f64,
    /// Custom metrics and their healthy mean (`bot_score_zero_share: 0.02`).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            requests_per_report: default_requests(),
            error_rate: default_error_rate(),
            latency_p50_ms: default_p50(),
            latency_p99_ms: default_p99(),
            metrics: BTreeMap::new(),
        }
    }
}

fn default_requests() -> u64 {
    1000
}
fn default_error_rate() -> f64 {
    0.001
}
fn default_p50() -> f64 {
    20.0
}
fn default_p99() -> f64 {
    120.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Time from being told to running the new release (uniform in [min, max], seeded).
    #[serde(default = "default_delay")]
    pub apply_delay: DelaySpec,
    /// The same for a rollback.
    #[serde(default = "default_delay")]
    pub rollback_delay: DelaySpec,
}

impl Default for AgentSpec {
    fn default() -> Self {
        AgentSpec { apply_delay: default_delay(), rollback_delay: default_delay() }
    }
}

fn default_delay() -> DelaySpec {
    DelaySpec { min: Dur::secs(1), max: Dur::secs(3) }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelaySpec {
    pub min: Dur,
    pub max: Dur,
}

/// `count` identical targets named `<name>-<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub count: u32,
    #[serde(default)]
    pub labels: Labels,
    /// The group's share of all traffic (0–1), split evenly over its targets.
    #[serde(default)]
    pub traffic_share: f64,
    /// How long its targets take to carry out a rollback (or a revert), instead of
    /// `agents.rollback_delay`: hours or days for hosts that are hard to reach.
    #[serde(default)]
    pub rollback_delay: Option<DelaySpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// For each target, the first rule whose selector matches applies.
    pub rules: Vec<RuleSpec>,
}

/// What a fault does to the targets a selector picks, once they run a release carrying it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub selector: Selector,
    /// Share of requests answered with a 5xx (0–1).
    #[serde(default)]
    pub error_share: Option<f64>,
    /// Added to p50 and p99 latency.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// The process crashes every interval: every request fails.
    #[serde(default)]
    pub crash: bool,
    /// Wrong output: a custom metric takes this value.
    #[serde(default)]
    pub quality: Option<QualitySpec>,
    /// The agent's `check` refuses the release: the target keeps what it ran.
    #[serde(default)]
    pub apply_error: Option<String>,
    /// The effects start this long after the target applied the release (slow leaks).
    #[serde(default)]
    pub onset: Dur,
    /// The effects come and go: on for this long, off for this long, and so on.
    #[serde(default)]
    pub flap: Option<Dur>,
    /// The target goes silent, like a crashed host: no report at all, its traffic fails, and it
    /// takes no order until it comes back. `true` for good, `{ for: 2h }` to come back after
    /// that long (then it takes the release it was last told to run).
    #[serde(default)]
    pub silent: Silence,
    /// Told to apply, the target never confirms: it keeps reporting the release it ran (a
    /// consumer in a restart loop before it reports), while the rule's other effects hit it
    /// until it is told to go back.
    #[serde(default)]
    pub never_confirms: bool,
    /// How long a target running the release takes to carry out a rollback (or a revert),
    /// instead of its group's or `agents.rollback_delay`: hours or days.
    #[serde(default)]
    pub rollback_delay: Option<DelaySpec>,
}

/// How a `silent` rule silences a target: written `false`, `true` or `{ for: DURATION }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Silence {
    #[default]
    Off,
    /// Silent for good.
    Forever,
    /// Silent for this long, then back; a host still on the release goes silent again (a
    /// crash loop).
    For(Dur),
    /// Silent for this long once after the apply, then back for good (a restart, a cache
    /// warming): `{ for: 3m, once: true }`.
    Once(Dur),
}

impl Silence {
    pub fn is_on(self) -> bool {
        self != Silence::Off
    }
}

impl Serialize for Silence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Silence::Off => s.serialize_bool(false),
            Silence::Forever => s.serialize_bool(true),
            Silence::For(d) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("for", d)?;
                m.end()
            }
            Silence::Once(d) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("for", d)?;
                m.serialize_entry("once", &true)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Silence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Silence, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Silence;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false, { for: DURATION } or { for: DURATION, once: true }")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Silence, E> {
                Ok(if v { Silence::Forever } else { Silence::Off })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Silence, A::Error> {
                let (mut dur, mut once) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "for" => {
                            if dur.replace(map.next_value::<Dur>()?).is_some() {
                                return Err(serde::de::Error::duplicate_field("for"));
                            }
                        }
                        "once" => {
                            if once.replace(map.next_value::<bool>()?).is_some() {
                                return Err(serde::de::Error::duplicate_field("once"));
                            }
                        }
                        other => return Err(serde::de::Error::unknown_field(other, &["for", "once"])),
                    }
                }
                let d = dur.ok_or_else(|| serde::de::Error::missing_field("for"))?;
                Ok(if once == Some(true) { Silence::Once(d) } else { Silence::For(d) })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySpec {
    pub metric: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialRelease {
    pub id: String,
    /// The release's files (path → content) for validators; generated when a `generated`
    /// stream is given and this is empty.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    pub id: String,
    /// When the release is created (and handed to each strategy).
    pub at: Dur,
    #[serde(default)]
    pub description: Option<String>,
    /// Names of faults (keys of `faults`) the release carries; none means a good release.
    #[serde(default)]
    pub faults: Vec<String>,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// A data file regenerated every `every` by a query against a database cluster, each run on a
/// node picked at random. A schema change reaches node `i` at `change_from + i × change_every`;
/// a run on a changed node returns every row `copies` times and carries `faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedSpec {
    /// Release ids are `<prefix>-0001`, ...
    pub prefix: String,
    /// The file each release holds (`features.json`: `{"features": [{"name", "type"}]}`).
    pub file: String,
    pub every: Dur,
    /// First run (default: `every`).
    #[serde(default)]
    pub from: Option<Dur>,
    /// No run after this (default: the end).
    #[serde(default)]
    pub until: Option<Dur>,
    /// Unique features in a good file.
    pub features: u32,
    pub cluster: ClusterSpec,
    pub changed: ChangedRunSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub nodes: u32,
    pub change_from: Dur,
    pub change_every: Dur,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangedRunSpec {
    pub copies: u32,
    #[serde(default)]
    pub faults: Vec<String>,
}

/// One strategy: a global push, or a sluice pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    pub name: String,
    /// Push every release to every target at once (give this or `pipeline`).
    #[serde(default)]
    pub global_push: Option<GlobalPushSpec>,
    /// Name of a pipeline in `pipelines`.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Validators every release must pass before any target sees it, as in `sluice.yaml`.
    #[serde(default)]
    pub validators: Vec<ValidatorSpec>,
    /// Fleet groups this strategy's fleet does not have (a staging without some variant).
    #[serde(default)]
    pub exclude_groups: Vec<String>,
    /// Start rollouts with the emergency profile.
    #[serde(default)]
    pub emergency: bool,
    /// A person approves a stage (by name) this long after it starts waiting for approval
    /// (each further approval a stage needs comes from another person, as long again);
    /// `break_glass`: a second person approves broken glass this long after the start.
    #[serde(default)]
    pub approvals: BTreeMap<String, Dur>,
    /// A person clears the hold after a failed rollout this long after it (default: never).
    #[serde(default)]
    pub clear_hold_after: Option<Dur>,
    /// Every rollout's change record (message, ticket, risk, rollback_plan), judged against
    /// the pipeline's `requires` as the server judges it.
    #[serde(default)]
    pub change: ChangeRecord,
    /// Start past what the policy refuses, with this reason; a person approves it after
    /// `approvals.break_glass` (else it ends unstarted when the approval window closes).
    #[serde(default)]
    pub break_glass: Option<String>,
}

/// Every target gets each release within `propagation`; people notice `detect_after` a bad
/// release's full impact and push the last good release back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPushSpec {
    /// Each target applies at a seeded uniform time in [0, propagation] after the push.
    pub propagation: Dur,
    /// A person notices this long after a bad release fully took effect.
    pub detect_after: Dur,
    /// The revert is pushed this long after detection (give this or `revert_at`).
    #[serde(default)]
    pub revert_after: Option<Dur>,
    /// The revert is pushed at this simulated time (or at detection, if later).
    #[serde(default)]
    pub revert_at: Option<Dur>,
    /// From this simulated time on, people stop new releases from being pushed.
    #[serde(default)]
    pub stop_at: Option<Dur>,
    /// How long the revert takes to reach every target (default 1m).
    #[serde(default = "default_revert_propagation")]
    pub revert_propagation: Dur,
}

fn default_revert_propagation() -> Dur {
    Dur::mins(1)
}

/// Parse and check a scenario file: YAML shape (budgets, unknown fields refused), then meaning
/// (references resolve, numbers in range). Every problem names the file, line, column and field.
pub fn load_scenario(file: &str, text: &str) -> Result<Scenario, SimError> {
    let scenario: Scenario = from_yaml(file, text)?;
    let problems = check::check(&scenario, Some(text));
    if problems.is_empty() { Ok(scenario) } else { Err(SimError::Invalid { file: file.to_string(), problems }) }
}
