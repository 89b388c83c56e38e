//! The health-source poller: reads the health sources of the gates active rollouts are judging
//! and turns their answers into per-target samples the engine's unchanged gate math judges.
//!
//! Every [`RECONCILE`] the poller asks the driver which gates with a `source` the active
//! rollouts' current stages have, and keeps one polling task per `(service, source)` (gates
//! sharing a source share its reads). A task queries every `every` (default: the report
//! interval), maps each series to a target by the source's `target_label`, and adds one
//! sample per known target to the fleet: the release the target reports running for the
//! service, `metrics[<gate metric>] = value`, no requests. The time is the server's, when the
//! answer arrived.
//!
//! Instant queries only (`/api/v1/query`), no `query_range`: the window of the signal belongs
//! in the query (`rate(x[15s])`), and each answer is one value per target at that moment. The
//! gate's own `window` and `min_samples` then count those values exactly as they count agent
//! reports, so "too little data" has one meaning. Keep the range in the query short next to
//! the bake: a value read just after a target switched may still cover its previous release.
//!
//! A read that gives nothing — timeout, connection error, HTTP error, `status: error`, not a
//! vector, an empty result, no series with the target label, only NaN/Inf values, only
//! unknown targets — adds no sample, so the gate stays inconclusive and the engine holds the
//! wave, never passes it. The poller keeps the error per source ([`SourceStatus`]) so the
//! gate's reason names it, and appends a `health_source_error` event when the error changes
//! (`health_source_recovered` when reads give values again), never on every poll.
//!
//! [`SourceStatus`]: crate::source_status::SourceStatus

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::json;
use sluice_core::release::TargetId;
use sluice_core::spec::{HealthSource, Per};
use sluice_store::NewEvent;
use tokio::task::JoinHandle;

use crate::app::SharedApp;
use crate::clock;
use crate::driver::DRIVER_ACTOR;
use crate::fleet::SourcedValue;
use crate::prometheus_query;

/// How often the set of sources to read is brought up to date.
pub const RECONCILE: Duration = Duration::from_millis(100);
/// Shortest interval between two reads of one source.
pub const MIN_EVERY: Duration = Duration::from_millis(100);

/// Event kinds the poller appends.
pub const HEALTH_SOURCE_ERROR: &str = "health_source_error";
pub const HEALTH_SOURCE_RECOVERED: &str = "health_source_recovered";

/// What one polling task reads, for whom.
#[derive(Debug, Clone, PartialEq)]
struct Job {
    rollout: String,
    service: String,
    source: HealthSource,
    key: String,
    /// The metric names the values are recorded under (one per gate reading the source).
    metrics: Vec<String>,
    gates: Vec<String>,
    every: Duration,
}

#[derive(Debug)]
struct Running {
    job: Job,
    handle: JoinHandle<()>,
}

/// The poller task: runs until the server shuts down.
pub async fn run(app: SharedApp) {
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for health sources; sourced gates stay inconclusive");
            return;
        }
    };
    let mut running: HashMap<(String, String), Running> = HashMap::new();
    let mut shutdown = app.shutdown.clone();
    loop {
        let wanted = wanted_jobs(&app).await;
        running.retain(|k, r| {
            let keep = wanted.get(k) == Some(&r.job);
            if !keep {
                r.handle.abort();
                if !wanted.contains_key(k) {
                    app.source_status.remove(&k.0, &k.1);
                    app.fleet.drop_sourced(&k.0, &k.1);
                }
            }
            keep
        });
        for (k, job) in wanted {
            if running.contains_key(&k) {
                continue;
            }
            tracing::debug!(service = %job.service, source = %job.source.describe(), "polling a health source");
            let handle = tokio::spawn(poll(app.clone(), client.clone(), job.clone()));
            running.insert(k, Running { job, handle });
        }
        tokio::select! {
            () = tokio::time::sleep(RECONCILE) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    for r in running.into_values() {
        r.handle.abort();
    }
    tracing::debug!("health-source poller stopped");
}

async fn wanted_jobs(app: &SharedApp) -> BTreeMap<(String, String), Job> {
    let mut jobs: BTreeMap<(String, String), Job> = BTreeMap::new();
    for sg in app.driver.sourced_gates() {
        let Some(source) = sg.gate.source() else { continue };
        let key = source.key();
        let every = match source {
            HealthSource::Prometheus(p) => p.every.map(|d| Duration::from_millis(d.0)),
        }
        .unwrap_or(app.config.report_interval)
        .max(MIN_EVERY);
        let job = jobs.entry((sg.service.clone(), key.clone())).or_insert_with(|| Job {
            rollout: sg.rollout.clone(),
            service: sg.service.clone(),
            source: source.clone(),
            key,
            metrics: Vec::new(),
            gates: Vec::new(),
            every,
        });
        job.every = job.every.min(every);
        let metric = sg.gate.metric().to_string();
        if !job.metrics.contains(&metric) {
            job.metrics.push(metric);
        }
        job.gates.push(sg.gate.name().to_string());
    }
    jobs
}

/// Read one source every `job.every` until aborted or the server stops.
async fn poll(app: SharedApp, client: reqwest::Client, job: Job) {
    let mut shutdown = app.shutdown.clone();
    loop {
        let began = tokio::time::Instant::now();
        let error = read_once(&app, &client, &job).await;
        let now = clock::now();
        if app.source_status.set(&job.service, &job.key, error.clone()) {
            record_change(&app, &job, error.as_deref(), now).await;
        }
        app.driver.wake();
        tokio::select! {
            () = tokio::time::sleep_until(began + job.every) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
}

/// One read: adds the samples; the error when it added none.
async fn read_once(app: &SharedApp, client: &reqwest::Client, job: &Job) -> Option<String> {
    let kind = job.source.kind();
    let series = match &job.source {
        HealthSource::Prometheus(p) => {
            let timeout = Duration::from_millis(p.timeout.0.max(1));
            match prometheus_query::query(client, p, timeout).await {
                Ok(series) => series,
                Err(e) => {
                    app.metrics.source_read(kind, Some(e.kind()));
                    return Some(e.to_string());
                }
            }
        }
    };
    let values: Vec<SourcedValue> = match &job.source {
        HealthSource::Prometheus(p) if p.per == Per::Cohort => {
            let value = series.first().map_or(f64::NAN, |s| s.value);
            let canary = app.driver.canary(&job.rollout);
            canary.into_iter().map(|target| SourcedValue { target, value }).collect()
        }
        HealthSource::Prometheus(_) => {
            series.iter().map(|s| SourcedValue { target: TargetId::from(s.target.as_str()), value: s.value }).collect()
        }
    };
    let outcome = app.fleet.record_sourced(&job.service, &job.key, &job.metrics, &values, clock::now());
    if outcome.added > 0 {
        app.metrics.source_read(kind, None);
        return None;
    }
    let mut why = Vec::new();
    if outcome.not_finite > 0 {
        why.push(format!("{} NaN or infinite", outcome.not_finite));
    }
    if !outcome.unknown.is_empty() {
        let shown: BTreeSet<&str> = outcome.unknown.iter().take(3).map(|t| t.0.as_str()).collect();
        why.push(format!(
            "{} for targets sluice does not know ({})",
            outcome.unknown.len(),
            shown.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    app.metrics.source_read(kind, Some(if outcome.unknown.is_empty() { "not_finite" } else { "unknown_targets" }));
    Some(format!("{} series, no usable value: {}", series.len(), why.join(", ")))
}

/// Append the event of a changed error (best effort: the status is in memory either way).
async fn record_change(app: &SharedApp, job: &Job, error: Option<&str>, now: sluice_core::time::Millis) {
    let (kind, body) = match (&job.source, error) {
        (HealthSource::Prometheus(p), Some(e)) => (
            HEALTH_SOURCE_ERROR,
            json!({"source": "prometheus", "url": p.url, "query": p.query, "gates": job.gates, "error": e}),
        ),
        (HealthSource::Prometheus(p), None) => (
            HEALTH_SOURCE_RECOVERED,
            json!({"source": "prometheus", "url": p.url, "query": p.query, "gates": job.gates}),
        ),
    };
    match error {
        Some(e) => {
            tracing::warn!(service = %job.service, source = %job.source.describe(), error = e, "health source gives no values")
        }
        None => {
            tracing::info!(service = %job.service, source = %job.source.describe(), "health source gives values again")
        }
    }
    let event = NewEvent::new(kind, DRIVER_ACTOR, now, body).rollout(job.rollout.clone()).service(job.service.clone());
    if let Err(e) = app.store.append_events(&[event]).await {
        tracing::warn!(error = %e, "cannot record a health-source event");
    }
}
