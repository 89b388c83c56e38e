//! The agent's own metrics, served as Prometheus text on `metrics_listen` (see
//! `runtime/exporter.rs`). Every series carries the label `target` (this agent's target id),
//! so one Prometheus scraping many agents maps series to targets:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `sluice_probe_requests_total` | counter | `target`, `service`, `url`, `code_class` (`1xx`…`5xx`, `error`) |
//! | `sluice_probe_duration_seconds` | histogram | `target`, `service` (answered probes) |
//! | `sluice_agent_apply_duration_seconds` | histogram | `target`, `service` (applies and rollbacks, ok or not) |
//! | `sluice_agent_apply_failures_total` | counter | `target`, `service`, `reason` (the report's stable reason) |
//! | `sluice_agent_last_report_age_seconds` | gauge | `target` (since the last report the server took; since start before the first) |
//! | `sluice_agent_running_info` | gauge = 1 | `target`, `service`, `release` (what `current` points at) |

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;

use crate::clock::Clock;
use crate::runtime::lock;
use crate::synthetic::Outcome;

/// The content type of [`Telemetry::encode`]'s text (OpenMetrics, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProbeLabels {
    service: String,
    url: String,
    code_class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    service: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RunningLabels {
    service: String,
    release: String,
}

type HistogramFamily = Family<ServiceLabels, Histogram, fn() -> Histogram>;

fn probe_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

fn apply_histogram() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0])
}

/// The agent's metric families and the registry that encodes them.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    probe_requests: Family<ProbeLabels, Counter>,
    probe_duration: HistogramFamily,
    apply_duration: HistogramFamily,
    apply_failures: Family<FailureLabels, Counter>,
    last_report_age: Gauge<f64, AtomicU64>,
    running: Family<RunningLabels, Gauge>,
    /// The release each service's `running_info` series names.
    running_now: Mutex<BTreeMap<String, String>>,
    clock: Arc<dyn Clock>,
    /// When the last report went through (ms since the epoch); the start before the first.
    last_report_ms: AtomicU64,
}

impl Telemetry {
    /// The families of agent `target`, with the clock of report ages.
    pub fn new(target: &str, clock: Arc<dyn Clock>) -> Telemetry {
        let label: (Cow<'static, str>, Cow<'static, str>) = (Cow::Borrowed("target"), Cow::Owned(target.to_string()));
        let mut registry = Registry::with_labels(std::iter::once(label));
        let probe_requests = Family::<ProbeLabels, Counter>::default();
        let probe_duration = HistogramFamily::new_with_constructor(probe_histogram as fn() -> Histogram);
        let apply_duration = HistogramFamily::new_with_constructor(apply_histogram as fn() -> Histogram);
        let apply_failures = Family::<FailureLabels, Counter>::default();
        let last_report_age = Gauge::<f64, AtomicU64>::default();
        let running = Family::<RunningLabels, Gauge>::default();
        registry.register(
            "sluice_probe_requests",
            "Synthetic probe requests by status class (error: no usable answer)",
            probe_requests.clone(),
        );
        registry.register(
            "sluice_probe_duration_seconds",
            "Latency of answered synthetic probes, to the end of the body",
            probe_duration.clone(),
        );
        registry.register(
            "sluice_agent_apply_duration_seconds",
            "How long applies and rollbacks took, whatever their result",
            apply_duration.clone(),
        );
        registry.register(
            "sluice_agent_apply_failures",
            "Applies that failed, by stable reason",
            apply_failures.clone(),
        );
        registry.register(
            "sluice_agent_last_report_age_seconds",
            "Seconds since the server last took a report (since the agent started before the first)",
            last_report_age.clone(),
        );
        registry.register("sluice_agent_running_info", "The release each service runs (value 1)", running.clone());
        let now = clock.now().0;
        Telemetry {
            registry,
            probe_requests,
            probe_duration,
            apply_duration,
            apply_failures,
            last_report_age,
            running,
            running_now: Mutex::new(BTreeMap::new()),
            clock,
            last_report_ms: AtomicU64::new(now),
        }
    }

    /// Counts one probe of `service` to `url`.
    pub fn probe(&self, service: &str, url: &str, outcome: &Outcome) {
        let labels =
            ProbeLabels { service: service.to_string(), url: url.to_string(), code_class: outcome.class.label() };
        self.probe_requests.get_or_create(&labels).inc();
        if let Some(elapsed) = outcome.elapsed {
            self.probe_duration
                .get_or_create(&ServiceLabels { service: service.to_string() })
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Records one apply or rollback of `service`: its duration, and its reason when it failed.
    pub fn applied(&self, service: &str, duration_ms: u64, failure: Option<&str>) {
        let seconds = duration_ms as f64 / 1000.0;
        self.apply_duration.get_or_create(&ServiceLabels { service: service.to_string() }).observe(seconds);
        if let Some(reason) = failure {
            let labels = FailureLabels { service: service.to_string(), reason: reason.to_string() };
            self.apply_failures.get_or_create(&labels).inc();
        }
    }

    /// Says which release `service` runs now (`None`: nothing).
    pub fn running(&self, service: &str, release: Option<&ReleaseId>) {
        let mut now = lock(&self.running_now);
        let new = release.map(|r| r.to_string());
        if now.get(service) == new.as_ref() {
            return;
        }
        if let Some(old) = now.remove(service) {
            self.running.remove(&RunningLabels { service: service.to_string(), release: old });
        }
        if let Some(new) = new {
            self.running.get_or_create(&RunningLabels { service: service.to_string(), release: new.clone() }).set(1);
            now.insert(service.to_string(), new);
        }
    }

    /// A report went through at `at`.
    pub fn reported(&self, at: Millis) {
        self.last_report_ms.store(at.0, Ordering::Relaxed);
    }

    /// The exposition text of every family, report age as of now.
    pub fn encode(&self) -> String {
        let age_ms = self.clock.now().0.saturating_sub(self.last_report_ms.load(Ordering::Relaxed));
        self.last_report_age.set(age_ms as f64 / 1000.0);
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            // Writing to a String does not fail; say so if it ever does.
            tracing::warn!(error = %e, "cannot encode the agent's metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests;
