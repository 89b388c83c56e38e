//! Pipelines: ordered stages, each a label selector with waves, a bake time and gates.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::gate::GateSpec;
use super::wave::WaveSize;
use crate::labels::Selector;
use crate::time::Dur;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Stages in order (dev → test → staging → prod).
    pub stages: Vec<StageSpec>,
    /// The emergency profile: shorter bakes for an urgent change. It never skips the first
    /// wave of a stage or any gate.
    #[serde(default)]
    pub emergency: EmergencyProfile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    /// Which targets belong to the stage (`{env: prod}`). A target belongs to the first stage
    /// of the pipeline that selects it.
    pub selector: Selector,
    /// Cumulative wave sizes; the last must be `100%` (default `["100%"]`).
    #[serde(default = "default_waves")]
    pub waves: Vec<WaveSize>,
    /// How long each wave must stay healthy before the next starts (default 0s).
    #[serde(default)]
    pub bake: Dur,
    /// Health gates judged while each wave bakes.
    #[serde(default)]
    pub gates: Vec<GateSpec>,
    /// A person must approve before this stage starts.
    #[serde(default)]
    pub approval: bool,
    /// Every combination of these labels present in this stage must have been present in the
    /// stages before it.
    #[serde(default)]
    pub require_coverage: Option<CoverageSpec>,
    /// Labels to spread waves over: the first wave takes one target of each combination
    /// before taking a second of any (defaults to the coverage labels).
    #[serde(default)]
    pub spread_by: Vec<String>,
}

fn default_waves() -> Vec<WaveSize> {
    vec![WaveSize::Percent(100.0)]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverageSpec {
    pub labels: Vec<String>,
    /// `warn` records a loud event and goes on; `block` holds the rollout until approved.
    #[serde(default)]
    pub mode: CoverageMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoverageMode {
    #[default]
    Warn,
    Block,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyProfile {
    /// The longest bake any wave gets in an emergency rollout (default 1m). Gates still
    /// need their minimum samples, so a wave is never promoted on no data.
    #[serde(default = "default_emergency_bake")]
    pub max_bake: Dur,
}

impl Default for EmergencyProfile {
    fn default() -> Self {
        EmergencyProfile { max_bake: default_emergency_bake() }
    }
}

fn default_emergency_bake() -> Dur {
    Dur::mins(1)
}
