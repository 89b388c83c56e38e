//! The floor's clients, in the fake agents' shape ([`crate::fake_agent`]): all share one
//! `reqwest::Client` built as `sluice_api::Client` builds its own; each has a poll task
//! (long-poll → on a new version record a [`FloorReceipt`] → poll again) and a report task
//! (a [`sluice_api::Report`] of one service with a health sample, ~300 bytes of JSON, at once
//! after a new release and every report interval, first at an offset spread over the interval).
//! [`FloorControl`] drives the server (`POST /release`, `GET /stats`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sluice_api::{DesiredView, Report, ServiceReport};
use sluice_core::engine::Sample;
use sluice_core::labels::Labels;
use sluice_core::release::ReleaseId;
use sluice_core::time::Millis;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Released, SERVICE, Stats};
use crate::clock;

/// Timeout on top of a poll's wait, and of every other request: `sluice_api::Client`'s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client to share between all clients, configured as `sluice_api::Client::new`'s.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .context("build the HTTP client")
}

/// One client's identity and pace.
#[derive(Debug, Clone)]
pub struct FloorClientSpec {
    pub id: String,
    pub report_interval: Duration,
    /// When the first report goes out after the start.
    pub report_offset: Duration,
    /// How long each poll asks the server to hold it.
    pub poll_wait: Duration,
    pub requests_per_report: u64,
}

impl FloorClientSpec {
    /// The fake agents' pace: 30 s polls, the first report at an offset hashed from `id`.
    pub fn new(id: String, report_interval: Duration) -> FloorClientSpec {
        let hash = id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let interval_ms = u64::try_from(report_interval.as_millis()).unwrap_or(5000).max(1);
        FloorClientSpec {
            id,
            report_interval,
            report_offset: Duration::from_millis(hash % interval_ms),
            poll_wait: Duration::from_secs(30),
            requests_per_report: 100,
        }
    }
}

/// A client saw a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorReceipt {
    pub client: String,
    pub version: u64,
    /// When the poll's answer arrived (ms since the Unix epoch).
    pub at: Millis,
}

/// A running client.
#[derive(Debug)]
pub struct FloorClient {
    poll: JoinHandle<()>,
    report: JoinHandle<()>,
    /// Failed polls and reports.
    pub errors: Arc<AtomicU64>,
}

impl FloorClient {
    /// Starts polling `base` (`http://127.0.0.1:port`) and reporting. Receipts go to `tx`.
    pub fn start(
        http: &reqwest::Client,
        base: &str,
        spec: FloorClientSpec,
        tx: mpsc::UnboundedSender<FloorReceipt>,
    ) -> FloorClient {
        let errors = Arc::new(AtomicU64::new(0));
        let (running_tx, running_rx) = watch::channel(None);
        let base = base.trim_end_matches('/').to_string();
        let report = tokio::spawn(report_loop(http.clone(), base.clone(), spec.clone(), running_rx, errors.clone()));
        let poll = tokio::spawn(poll_loop(http.clone(), base, spec, running_tx, tx, errors.clone()));
        FloorClient { poll, report, errors }
    }

    /// Stops both tasks and waits for them.
    pub async fn stop(self) {
        self.poll.abort();
        self.report.abort();
        let _ = self.poll.await;
        let _ = self.report.await;
    }
}

async fn poll_loop(
    http: reqwest::Client,
    base: String,
    spec: FloorClientSpec,
    running: watch::Sender<Option<ReleaseId>>,
    tx: mpsc::UnboundedSender<FloorReceipt>,
    errors: Arc<AtomicU64>,
) {
    let mut known: Option<u64> = None;
    loop {
        match poll(&http, &base, &spec, known).await {
            Ok(view) => {
                let at = clock::now();
                if known != Some(view.version) {
                    known = Some(view.version);
                    let release = view.services.iter().find(|d| d.service == SERVICE).and_then(|d| d.release.clone());
                    let _ = tx.send(FloorReceipt { client: spec.id.clone(), version: view.version, at });
                    running.send_if_modified(|r| {
                        let changed = *r != release;
                        *r = release;
                        changed
                    });
                }
            }
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn poll(
    http: &reqwest::Client,
    base: &str,
    spec: &FloorClientSpec,
    after: Option<u64>,
) -> anyhow::Result<DesiredView> {
    let wait_ms = u64::try_from(spec.poll_wait.as_millis()).unwrap_or(u64::MAX);
    let url = match after {
        Some(v) => format!("{base}/poll?after={v}&wait_ms={wait_ms}"),
        None => format!("{base}/poll"),
    };
    let resp = http
        .get(url)
        .bearer_auth(&spec.id)
        .timeout(spec.poll_wait + REQUEST_TIMEOUT)
        .send()
        .await?
        .error_for_status()?;
    let body = resp.bytes().await?;
    Ok(serde_json::from_slice(&body)?)
}

async fn report_loop(
    http: reqwest::Client,
    base: String,
    spec: FloorClientSpec,
    mut running: watch::Receiver<Option<ReleaseId>>,
    errors: Arc<AtomicU64>,
) {
    tokio::time::sleep(spec.report_offset).await;
    let url = format!("{base}/report");
    let mut last = clock::now();
    loop {
        let now = clock::now();
        let elapsed = now.0.saturating_sub(last.0).max(1);
        last = now;
        let release = running.borrow_and_update().clone();
        let body = report(&spec, release, now, elapsed);
        let sent = http
            .post(&url)
            .bearer_auth(&spec.id)
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        if sent.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        tokio::select! {
            () = tokio::time::sleep(spec.report_interval) => {}
            changed = running.changed() => if changed.is_err() { return },
        }
    }
}

/// What a client reports: the fake agents' report of one service with a health sample for the
/// `elapsed_ms` since the previous one.
pub(super) fn report(spec: &FloorClientSpec, release: Option<ReleaseId>, now: Millis, elapsed_ms: u64) -> Report {
    let interval_ms = u64::try_from(spec.report_interval.as_millis()).unwrap_or(5000).max(1);
    let requests = (spec.requests_per_report * elapsed_ms / interval_ms).max(spec.requests_per_report.min(1));
    Report {
        at: now,
        facts: Labels::new(),
        services: vec![ServiceReport {
            service: SERVICE.to_string(),
            running: release.clone(),
            known_good: None,
            last_apply: None,
            metrics: None,
            sample: Some(Sample {
                at: now,
                release,
                requests,
                errors: 0,
                latency_p50_ms: Some(5.0),
                latency_p99_ms: Some(20.0),
                ..Sample::default()
            }),
        }],
        agent: BTreeMap::new(),
    }
}

/// Drives a floor server: release versions, read what it saw.
#[derive(Debug, Clone)]
pub struct FloorControl {
    http: reqwest::Client,
    base: String,
}

impl FloorControl {
    pub fn new(http: reqwest::Client, base: &str) -> FloorControl {
        FloorControl { http, base: base.trim_end_matches('/').to_string() }
    }

    /// `POST /release`: every held poll is answered with the next version.
    pub async fn release(&self) -> anyhow::Result<Released> {
        let url = format!("{}/release", self.base);
        let resp = self.http.post(&url).timeout(REQUEST_TIMEOUT).send().await?.error_for_status()?;
        resp.json().await.with_context(|| format!("read the answer of POST {url}"))
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> anyhow::Result<Stats> {
        let url = format!("{}/stats", self.base);
        let resp = self.http.get(&url).timeout(REQUEST_TIMEOUT).send().await?.error_for_status()?;
        resp.json().await.with_context(|| format!("read the answer of GET {url}"))
    }
}
