//! A service: the files of one thing the agent manages, the validators every release of it must
//! pass, and the hooks that check, reload and probe it on a target.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Dur;
use crate::validate::ValidatorSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// What this service is, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The pipeline releases of this service go through unless a rollout names another.
    pub pipeline: String,
    /// Other pipelines a rollout of this service may name (its `pipeline` always may). Naming
    /// any other needs broken glass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<String>,
    /// Globs of the files that make up a release (relative to the release directory).
    /// Empty means every file.
    #[serde(default)]
    pub files: Vec<String>,
    /// Validators every release must pass before any target sees it.
    #[serde(default)]
    pub validators: Vec<ValidatorSpec>,
    /// Commands the agent runs around an apply.
    #[serde(default)]
    pub hooks: Hooks,
    /// Largest release bundle accepted, in bytes (default 64 MiB).
    #[serde(default = "default_max_bundle_bytes")]
    pub max_bundle_bytes: u64,
}

impl ServiceSpec {
    /// A service of `pipeline` (and `others`) with nothing else set, as the simulator judges
    /// starts for.
    pub fn for_pipelines(pipeline: impl Into<String>, others: Vec<String>) -> ServiceSpec {
        ServiceSpec {
            description: None,
            pipeline: pipeline.into(),
            pipelines: others,
            files: Vec::new(),
            validators: Vec::new(),
            hooks: Hooks::default(),
            max_bundle_bytes: default_max_bundle_bytes(),
        }
    }

    /// Whether a rollout of this service may name `pipeline` without broken glass.
    pub fn allows_pipeline(&self, pipeline: &str) -> bool {
        self.pipeline == pipeline || self.pipelines.iter().any(|p| p == pipeline)
    }
}

fn default_max_bundle_bytes() -> u64 {
    64 * 1024 * 1024
}

/// Commands run on the target. `{release}` is replaced by the unpacked release directory,
/// `{current}` by the live one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run against the new release while the old one still serves; non-zero exit refuses it
    /// (e.g. `nginx -t -c {release}/nginx.conf`).
    #[serde(default)]
    pub check: Option<String>,
    /// Run after the atomic switch (e.g. `nginx -s reload`); failure switches back.
    #[serde(default)]
    pub reload: Option<String>,
    /// Post-apply health probe; failure switches back.
    #[serde(default)]
    pub health: Option<HealthProbe>,
}

/// A post-apply probe: an HTTP GET that must answer 2xx, or a command that must exit 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthProbe {
    #[serde(default)]
    pub http: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    /// How long one attempt may take (default 5s).
    #[serde(default = "default_probe_timeout")]
    pub timeout: Dur,
    /// Attempts before the probe counts as failed (default 3).
    #[serde(default = "default_probe_attempts")]
    pub attempts: u32,
}

fn default_probe_timeout() -> Dur {
    Dur::secs(5)
}

fn default_probe_attempts() -> u32 {
    3
}
