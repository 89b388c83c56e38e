//! Where a gate reads its health from. Without a `source` a gate judges the samples agents
//! report; with one, the server fetches per-target values itself and judges those alone:
//!
//! ```yaml
//! source:
//!   prometheus:
//!     url: http://127.0.0.1:9090
//!     query: 'sum by (target) (rate(errors_total[15s])) / sum by (target) (rate(requests_total[15s]))'
//!     target_label: target   # the series label whose value is the sluice target id
//!     every: 2s              # how often to query (default: the server's report interval)
//!     timeout: 2s
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Dur;

/// A gate's health source, externally tagged (`prometheus: {...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HealthSource {
    Prometheus(PrometheusSource),
}

impl HealthSource {
    /// The kind, as records name it (`prometheus`).
    pub fn kind(&self) -> &'static str {
        match self {
            HealthSource::Prometheus(_) => "prometheus",
        }
    }

    /// A short description for messages: `prometheus http://127.0.0.1:9090`.
    pub fn describe(&self) -> String {
        match self {
            HealthSource::Prometheus(p) => format!("prometheus {}", p.url),
        }
    }

    /// Identifies the data the source yields: two gates with the same key read the same values.
    pub fn key(&self) -> String {
        match self {
            HealthSource::Prometheus(p) => {
                format!("prometheus\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}", p.url, p.query, p.target_label, p.per)
            }
        }
    }
}

/// A PromQL instant query against a Prometheus HTTP API (`GET {url}/api/v1/query`), one series
/// per target. Put the window into the query (`rate(x[15s])`): each answer is one sample per
/// target, stamped with the time the server received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL of the Prometheus server (`http://host:9090`), http or https.
    pub url: String,
    /// The PromQL expression; each series of its (vector) result is one target's value.
    pub query: String,
    /// The series label whose value is the sluice target id (default `target`); unused with
    /// `per: cohort`.
    #[serde(default = "default_target_label")]
    pub target_label: String,
    /// `target` (default): one series per target, mapped by `target_label`. `cohort`: the query
    /// returns one series, the value of the whole wave under judgement (for metrics that exist
    /// only in aggregate, such as a load balancer's error ratio for the canary pool); every
    /// target of the wave gets it.
    #[serde(default, skip_serializing_if = "Per::is_target")]
    pub per: Per,
    /// How often to query (default: the server's report interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Dur>,
    /// Longest wait for an answer (default 2s); a timeout adds no sample.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

/// What one value of a source stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    #[default]
    Target,
    Cohort,
}

impl Per {
    pub fn is_target(&self) -> bool {
        *self == Per::Target
    }
}

fn default_target_label() -> String {
    "target".to_string()
}
fn default_timeout() -> Dur {
    Dur::secs(2)
}

/// Why a source's settings cannot work (checked by `check_spec`).
pub fn check_source(source: &HealthSource) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match source {
        HealthSource::Prometheus(p) => {
            let url = p.url.trim();
            let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
            match rest {
                None => out.push(("url", format!("url {:?} must start with http:// or https://", p.url))),
                Some(r) if r.is_empty() || r.starts_with('/') => {
                    out.push(("url", format!("url {:?} has no host", p.url)));
                }
                Some(r) if r.contains(['?', '#']) || url.chars().any(char::is_whitespace) => {
                    out.push(("url", format!("url {:?} must be a base URL without query, fragment or spaces", p.url)));
                }
                Some(_) => {}
            }
            if p.query.trim().is_empty() {
                out.push(("query", "query must not be empty".to_string()));
            }
            let label_ok = p.target_label.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && p.target_label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !label_ok {
                out.push((
                    "target_label",
                    format!(
                        "target_label {:?} is not a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*)",
                        p.target_label
                    ),
                ));
            }
            if p.every.is_some_and(|d| d.0 < 100) {
                out.push(("every", "every must be at least 100ms".to_string()));
            }
            if p.timeout.0 == 0 {
                out.push(("timeout", "timeout must be longer than 0s".to_string()));
            }
        }
    }
    out
}
