//! The agent protocol: enroll with a one-time enrollment token for a per-agent credential;
//! long-poll for desired state; report health, facts and apply results; download bundles by
//! digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_core::engine::Sample;
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::spec::ServiceSpec;
use sluice_core::time::Millis;

/// `POST /v1/enrollment-tokens` (admin): make `count` one-time tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEnrollmentTokens {
    #[serde(default = "one")]
    pub count: u32,
    /// Valid for this long (ms); default: until used.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentTokens {
    pub tokens: Vec<String>,
}

/// `POST /v1/agent/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enroll {
    pub enrollment_token: String,
    pub target: TargetId,
    pub labels: Labels,
    #[serde(default)]
    pub facts: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub target: TargetId,
    /// The agent's own bearer token from now on. Shown once; the server keeps only its hash.
    pub credential: String,
}

/// One service the target should run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredService {
    pub service: String,
    /// `None`: nothing from sluice (roll back to what ran before sluice).
    pub release: Option<ReleaseId>,
    /// Bundle digest to download (`/v1/bundles/{digest}`); equals the release id.
    pub bundle: Option<String>,
    /// The rollout that set it.
    pub rollout: Option<String>,
    /// The digest of the service's spec (validators, hooks, limits) the agent applies with:
    /// `sha256:` of the exact bytes `GET /v1/agent/services/{service}/spec` answers: the
    /// spec's canonical JSON (a [`ServiceSpec`] serialised with struct fields in declaration
    /// order, every map sorted by key, no whitespace), computed by the server once per spec
    /// change. The agent fetches the spec once per digest, checks the bytes against it and
    /// keeps it in memory. `None`: the current spec has no such service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<String>,
    /// The spec inline, as servers before spec digests sent it on every answer; a current
    /// server never fills it (an agent that only knows this field sees no spec and applies
    /// nothing new, the fail-closed rule). A current agent uses it when there is no digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ServiceSpec>,
    /// The service's known-good release: the agent marks it so it is never deleted.
    pub known_good: Option<ReleaseId>,
}

/// `GET /v1/agent/desired?after=V&wait_ms=W`: answered at once when the target's desired
/// version is past `after`, otherwise when it changes or after `wait_ms` (same version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredView {
    pub target: TargetId,
    pub version: u64,
    pub services: Vec<DesiredService>,
    /// How often the server wants reports (ms).
    pub report_interval_ms: u64,
}

/// The result of the latest apply or rollback of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub release: Option<ReleaseId>,
    pub ok: bool,
    /// Stable reason (`digest_mismatch`, `check_failed`, `probe_failed`, …) when not ok.
    #[serde(default)]
    pub reason: Option<String>,
    /// What a person needs to know (the check's stderr, the probe's answer).
    #[serde(default)]
    pub detail: Option<String>,
    /// The desired version this apply answered.
    pub desired_version: u64,
    pub at: Millis,
    pub duration_ms: u64,
}

/// One service in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub service: String,
    /// What the `current` symlink points at.
    pub running: Option<ReleaseId>,
    pub known_good: Option<ReleaseId>,
    #[serde(default)]
    pub last_apply: Option<ApplyReport>,
    /// Health over the interval since the previous report (requests, errors, latency from the
    /// service's metrics endpoint; crashes; custom metrics such as probe results).
    #[serde(default)]
    pub sample: Option<Sample>,
    /// The gate metrics this agent produces for the service (`crash_rate`, `error_rate` and the
    /// latencies when it measures them, custom names from its command and probes), so the
    /// server can refuse gates on metrics nobody reports. `None`: the agent does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
}

/// `POST /v1/agent/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub at: Millis,
    #[serde(default)]
    pub facts: Labels,
    pub services: Vec<ServiceReport>,
    /// Extra gauges of the agent itself (`rss_bytes`).
    #[serde(default)]
    pub agent: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// The target's desired version now: a higher one than the agent holds means "poll".
    pub desired_version: u64,
}
