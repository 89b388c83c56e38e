//! The spec file (`sluice.yaml`): services, their validators and hooks, and pipelines of
//! stages, waves, bakes and gates. Parsed into typed structs by [`parse::parse_spec`], which
//! refuses unknown fields and names the file, line, column and field path of every problem.

pub mod check;
pub mod fleet_check;
pub mod gate;
pub mod locate;
pub mod parse;
pub mod pipeline;
pub mod service;
pub mod source;
pub mod warnings;
pub mod wave;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use gate::{CompareGate, GateKind, GateSpec, Metric, OnFail, ThresholdGate, Tolerance, Worse};
pub use parse::{SpecError, parse_spec};
pub use pipeline::{
    ApprovalSpec, CanaryOrder, CoverageMode, CoverageSpec, DEFAULT_APPLY_TIMEOUT, DEFAULT_HOLD_TIMEOUT,
    EmergencyApprovals, EmergencyProfile, EmergencyWaves, OnSilent, PipelineSpec, StageSpec,
};
pub use service::{HealthProbe, Hooks, ServiceSpec};
pub use source::{HealthSource, Per, PrometheusSource};
pub use wave::WaveSize;

/// The whole `sluice.yaml`: the services sluice manages and the pipelines their releases move
/// through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sluice spec", description = "Services, validators and pipelines for sluice (sluice.yaml).")]
pub struct Spec {
    /// Format version; only `1` exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Services by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// Pipelines by name.
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineSpec>,
}

fn default_version() -> u32 {
    1
}

impl Spec {
    /// The JSON Schema of the spec file, generated from these types (checked in as
    /// `schema/sluice.schema.json` for editors).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Spec)).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests;
