//! The agent's configuration file (`sluice agent --config agent.yaml`): which server, who this
//! target is, where state lives, and per service where its files live, host-specific hooks and
//! where its metrics are. Unknown fields are errors; every error names file:line:column and
//! the field.
//!
//! ```yaml
//! server: http://127.0.0.1:7070        # the sluice server (http:// or https://)
//! id: prod-eu-01                       # the target id; default: the hostname
//! enrollment_token: "..."              # one-time token, needed only until enrolled; or
//! # enrollment_token_file: /etc/sluice/enroll.token   (re-read at each enrollment attempt)
//! state_dir: /var/lib/sluice-agent     # the credential and, by default, the services' releases
//! labels: {env: prod, proxy: fl1}      # the target's labels (stages select on them)
//! facts: {}                            # static extra facts; os, arch and hostname are discovered
//!                                      # (a fact given here wins over a discovered one)
//! report_interval: 5s                  # default 5s, at least 1s; the server's wish wins
//! keep_releases: 5                     # releases kept besides current/previous/known-good
//! metrics_listen: 127.0.0.1:9464       # optional: the agent's own /metrics (port 0: any port)
//! services:
//!   edge:                              # a service name from the server's spec
//!     path: /srv/edge                  # default <state_dir>/services/<name>;
//!                                      # the live release is <path>/current
//!     check: "edge -t {release}"       # each overrides the spec's hook of that name here
//!     reload: "systemctl reload edge"
//!     health: {http: "http://127.0.0.1:8080/healthz", timeout: 2s, attempts: 3}
//!     metrics:                         # optional: what reports carry
//!       url: http://127.0.0.1:9100/metrics
//!       timeout: 2s                    # default 2s
//!       requests: edge_requests_total  # a counter, summed over its series
//!       errors: {metric: edge_requests_total, label: code, matches: "5.."}
//!       latency: edge_request_duration_seconds   # a histogram: p50/p99 of the interval
//!     probes:                          # optional: synthetic GET traffic (see `health`)
//!       - {url: "http://127.0.0.1:8080/", rate: 10/s, timeout: 1s}
//!     command: {run: "edge-queue-depth", every: 5s, timeout: 2s, metric: queue_depth}
//! ```
//!
//! `errors.matches` is a regular expression matched against the whole label value, like
//! PromQL's `=~` (`5..` matches `503`, not `1503`). Without `label`/`matches` every series of
//! `errors.metric` counts. `latency` is read in seconds unless its name ends in
//! `_milliseconds` or `_ms`. Relative paths (`state_dir`, `path`, `enrollment_token_file`)
//! are relative to the directory of the config file when read with [`AgentConfig::load`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sluice_core::labels::Labels;
use sluice_core::spec::HealthProbe;
use sluice_core::spec::locate::{Seg, locate, render};
use sluice_core::spec::parse::{YamlError, from_yaml};
use sluice_core::time::Dur;

mod health;

pub use health::{CommandConfig, MAX_PROBE_RATE_PER_SEC, ProbeConfig, Rate};

/// The whole configuration file.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The server's URL.
    pub server: String,
    /// The target id; `None`: the hostname.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub enrollment_token: Option<String>,
    #[serde(default)]
    pub enrollment_token_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub facts: Labels,
    #[serde(default = "default_report_interval")]
    pub report_interval: Dur,
    #[serde(default = "default_keep_releases")]
    pub keep_releases: usize,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    /// Where the agent serves its own Prometheus `/metrics` (port 0: any free port; the bound
    /// address is logged and written to `<state_dir>/metrics.addr`). `None`: not served.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

impl std::fmt::Debug for AgentConfig {
    // The enrollment token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server", &self.server)
            .field("id", &self.id)
            .field("enrollment_token", &self.enrollment_token.as_ref().map(|_| "<redacted>"))
            .field("enrollment_token_file", &self.enrollment_token_file)
            .field("state_dir", &self.state_dir)
            .field("labels", &self.labels)
            .field("facts", &self.facts)
            .field("report_interval", &self.report_interval)
            .field("keep_releases", &self.keep_releases)
            .field("services", &self.services)
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

fn default_report_interval() -> Dur {
    Dur::secs(5)
}

fn default_keep_releases() -> usize {
    5
}

/// One service on this host.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's directory; `None`: `<state_dir>/services/<name>`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Overrides the spec's `hooks.check` on this host.
    #[serde(default)]
    pub check: Option<String>,
    /// Overrides the spec's `hooks.reload` on this host.
    #[serde(default)]
    pub reload: Option<String>,
    /// Overrides the spec's `hooks.health` on this host.
    #[serde(default)]
    pub health: Option<HealthProbe>,
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// Synthetic HTTP probes (see [`health`]).
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    /// A command whose output is a health figure (see [`health`]).
    #[serde(default)]
    pub command: Option<CommandConfig>,
}

/// Where a service's Prometheus metrics are and which of them mean what.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub url: String,
    /// How long one scrape may take (default 2s).
    #[serde(default = "default_scrape_timeout")]
    pub timeout: Dur,
    /// A counter of requests, summed over its series.
    #[serde(default)]
    pub requests: Option<String>,
    /// The series that count server errors.
    #[serde(default)]
    pub errors: Option<ErrorSelector>,
    /// A histogram of request durations (base name, without `_bucket`).
    #[serde(default)]
    pub latency: Option<String>,
}

fn default_scrape_timeout() -> Dur {
    Dur::secs(2)
}

/// A counter's series that count as errors: all of them, or those whose `label` fully matches
/// the regular expression `matches`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSelector {
    pub metric: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub matches: Option<String>,
}

impl ErrorSelector {
    /// The compiled matcher: `^(?:matches)$` on the label.
    pub fn matcher(&self) -> Result<Option<(String, regex::Regex)>, regex::Error> {
        match (&self.label, &self.matches) {
            (Some(label), Some(pattern)) => {
                let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$")).size_limit(1 << 20).build()?;
                Ok(Some((label.clone(), re)))
            }
            _ => Ok(None),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// The YAML has the right shape but a value makes no sense.
    #[error("{file}:{line}:{column}: at `{path}`: {message}")]
    Invalid { file: String, line: u64, column: u64, path: String, message: String },
}

impl AgentConfig {
    /// Reads and checks `path`; relative paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
        let mut config = AgentConfig::parse(&file, &text)?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and checks `text`, the contents of `file` (for messages). Paths stay as written.
    pub fn parse(file: &str, text: &str) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = from_yaml(file, text)?;
        if let Some((path, message)) = config.problem() {
            // Flow style (`{a: 1}`) is beyond `locate`: then the nearest enclosing field.
            let (line, column) = (0..=path.len()).rev().find_map(|n| locate(text, &path[..n])).unwrap_or((0, 0));
            return Err(ConfigError::Invalid { file: file.to_string(), line, column, path: render(&path), message });
        }
        Ok(config)
    }

    /// The directory of service `name`: its `path`, or `<state_dir>/services/<name>`.
    pub fn service_dir(&self, name: &str) -> PathBuf {
        match self.services.get(name).and_then(|s| s.path.clone()) {
            Some(path) => path,
            None => self.state_dir.join("services").join(name),
        }
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let absolute = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        absolute(&mut self.state_dir);
        if let Some(p) = &mut self.enrollment_token_file {
            absolute(p);
        }
        for service in self.services.values_mut() {
            if let Some(p) = &mut service.path {
                absolute(p);
            }
        }
    }

    /// The first thing that makes no sense, with its field path.
    fn problem(&self) -> Option<(Vec<Seg>, String)> {
        let key = |k: &str| Seg::Key(k.to_string());
        if let Some(why) = url_problem(&self.server, &["http://", "https://"]) {
            return Some((vec![key("server")], why));
        }
        if let Some(id) = &self.id
            && let Some(why) = id_problem(id)
        {
            return Some((vec![key("id")], why));
        }
        if self.enrollment_token.is_some() && self.enrollment_token_file.is_some() {
            return Some((
                vec![key("enrollment_token_file")],
                "give `enrollment_token` or `enrollment_token_file`, not both".into(),
            ));
        }
        if self.enrollment_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Some((vec![key("enrollment_token")], "the token is empty".into()));
        }
        if self.state_dir.as_os_str().is_empty() {
            return Some((vec![key("state_dir")], "the path is empty".into()));
        }
        if self.report_interval < Dur::secs(1) {
            return Some((vec![key("report_interval")], format!("{} is shorter than 1s", self.report_interval)));
        }
        let mut dirs: BTreeMap<PathBuf, &str> = BTreeMap::new();
        for (name, service) in &self.services {
            let at = |rest: &[&str]| {
                let mut path = vec![key("services"), key(name)];
                path.extend(rest.iter().map(|k| key(k)));
                path
            };
            if let Err(why) = crate::releases::check_service_name(name) {
                return Some((at(&[]), why.to_string()));
            }
            if let Some(previous) = dirs.insert(self.service_dir(name), name) {
                return Some((at(&["path"]), format!("service `{previous}` has the same directory")));
            }
            if let Some(health) = &service.health {
                if let Some(url) = &health.http
                    && let Some(why) = url_problem(url, &["http://"])
                {
                    return Some((at(&["health", "http"]), why));
                }
                if health.timeout == Dur::ZERO {
                    return Some((at(&["health", "timeout"]), "the timeout is 0".into()));
                }
            }
            if let Some((rest, why)) = service.metrics.as_ref().and_then(metrics_problem) {
                return Some((at(&[&["metrics"], rest].concat()), why));
            }
            for (i, probe) in service.probes.iter().enumerate() {
                if let Some((field, why)) = probe.problem() {
                    let mut path = at(&["probes"]);
                    path.extend([Seg::Index(i), key(field)]);
                    return Some((path, why));
                }
            }
            if let Some((field, why)) = service.command.as_ref().and_then(CommandConfig::problem) {
                return Some((at(&["command", field]), why));
            }
        }
        None
    }
}

fn metrics_problem(m: &MetricsConfig) -> Option<(&'static [&'static str], String)> {
    if let Some(why) = url_problem(&m.url, &["http://", "https://"]) {
        return Some((&["url"], why));
    }
    if m.timeout == Dur::ZERO {
        return Some((&["timeout"], "the timeout is 0".into()));
    }
    if let Some(name) = &m.requests
        && !is_metric_name(name)
    {
        return Some((&["requests"], metric_name_why(name)));
    }
    if let Some(name) = &m.latency
        && !is_metric_name(name)
    {
        return Some((&["latency"], metric_name_why(name)));
    }
    if let Some(errors) = &m.errors {
        if !is_metric_name(&errors.metric) {
            return Some((&["errors", "metric"], metric_name_why(&errors.metric)));
        }
        match (&errors.label, &errors.matches) {
            (Some(label), Some(_)) if !is_label_name(label) => {
                return Some((&["errors", "label"], format!("`{label}` is not a label name")));
            }
            (Some(_), None) => return Some((&["errors", "label"], "`label` needs `matches`".into())),
            (None, Some(_)) => return Some((&["errors", "matches"], "`matches` needs `label`".into())),
            _ => {}
        }
        if let Err(e) = errors.matcher() {
            return Some((&["errors", "matches"], format!("not a regular expression: {e}")));
        }
    }
    if m.requests.is_none() && m.errors.is_some() {
        return Some((&["errors"], "`errors` needs `requests` (errors are counted among requests)".into()));
    }
    None
}

fn url_problem(url: &str, schemes: &[&str]) -> Option<String> {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        return Some(format!("`{url}` does not start with {}", schemes.join(" or ")));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Some(format!("`{url}` has no host"));
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Some(format!("`{}` has spaces or control characters", url.escape_debug()));
    }
    None
}

fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("the id is empty".into())
    } else if id.len() > 253 {
        Some("the id is longer than 253 bytes".into())
    } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(format!("`{}` has spaces or control characters", id.escape_debug()))
    } else {
        None
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn metric_name_why(name: &str) -> String {
    format!("`{}` is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", name.escape_debug())
}

#[cfg(test)]
mod tests;
