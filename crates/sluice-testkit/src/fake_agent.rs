//! Agents that speak the real agent protocol but apply instantly: enroll with a one-time
//! token, long-poll desired state, "apply" by taking the desired release as running, report it
//! at once and then every interval with a configurable health sample. Thousands run as tokio
//! tasks in one process. Each apply is recorded as a [`Receipt`] with the agent's wall-clock
//! time, so a benchmark can compare it with the server's decision time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sluice_api::{Client, ClientError, DesiredView, Enroll, Report, ServiceReport};
use sluice_core::engine::Sample;
use sluice_core::labels::Labels;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use tokio::sync::{Notify, mpsc};

use crate::clock;

/// One fake agent's identity and behaviour.
#[derive(Debug, Clone)]
pub struct FakeAgentSpec {
    pub id: String,
    pub labels: Labels,
    /// The services it reports (it applies whatever desired state names for them).
    pub services: Vec<String>,
    pub report_interval: Duration,
    /// Requests per report and the share of them that fail, while running `bad_release`.
    pub requests_per_report: u64,
    pub bad_release: Option<ReleaseId>,
    pub bad_error_rate: f64,
}

/// An agent applied a desired release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub target: TargetId,
    pub service: String,
    pub release: Option<ReleaseId>,
    /// The desired version it answered.
    pub version: u64,
    /// When the long-poll answer arrived (ms since the Unix epoch).
    pub at: Millis,
}

/// A running fake agent.
#[derive(Debug)]
pub struct FakeAgent {
    pub id: TargetId,
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    pub errors: Arc<AtomicU64>,
}

impl FakeAgent {
    /// Enrolls with `enrollment_token` and starts polling and reporting. Receipts go to `tx`.
    pub async fn start(
        server: &Client,
        enrollment_token: String,
        spec: FakeAgentSpec,
        tx: mpsc::UnboundedSender<Receipt>,
    ) -> Result<FakeAgent, ClientError> {
        let enrolled = server
            .enroll(&Enroll {
                enrollment_token,
                target: TargetId(spec.id.clone()),
                labels: spec.labels.clone(),
                facts: Labels::new(),
            })
            .await?;
        let client = server.with_token(Some(enrolled.credential));
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let errors = Arc::new(AtomicU64::new(0));
        let id = enrolled.target.clone();
        let task = tokio::spawn(run(client, id.clone(), spec, tx, stop.clone(), wake.clone(), errors.clone()));
        Ok(FakeAgent { id, stop, wake, task, errors })
    }

    /// Stops the agent and waits for its task.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        self.task.abort();
        let _ = self.task.await;
    }
}

struct Local {
    version: Option<u64>,
    running: BTreeMap<String, Option<ReleaseId>>,
}

async fn run(
    client: Client,
    id: TargetId,
    spec: FakeAgentSpec,
    tx: mpsc::UnboundedSender<Receipt>,
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    errors: Arc<AtomicU64>,
) {
    let local = Arc::new(tokio::sync::Mutex::new(Local {
        version: None,
        running: spec.services.iter().map(|s| (s.clone(), None)).collect(),
    }));
    let report_now = Arc::new(Notify::new());
    let reporter = tokio::spawn(report_loop(
        client.clone(),
        spec.clone(),
        local.clone(),
        report_now.clone(),
        stop.clone(),
        errors.clone(),
    ));
    while !stop.load(Ordering::SeqCst) {
        let after = local.lock().await.version;
        let answer = tokio::select! {
            a = client.desired(after, Duration::from_secs(30)) => a,
            () = wake.notified() => continue,
        };
        match answer {
            Ok(view) => {
                if apply(&id, &view, &local, &tx).await {
                    report_now.notify_one();
                }
            }
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    reporter.abort();
}

/// Takes the desired releases as running; true if anything changed.
async fn apply(
    id: &TargetId,
    view: &DesiredView,
    local: &tokio::sync::Mutex<Local>,
    tx: &mpsc::UnboundedSender<Receipt>,
) -> bool {
    let at = clock::now();
    let mut l = local.lock().await;
    l.version = Some(view.version);
    let mut changed = false;
    for d in &view.services {
        if let Some(running) = l.running.get_mut(&d.service)
            && *running != d.release
        {
            *running = d.release.clone();
            changed = true;
            let _ = tx.send(Receipt {
                target: id.clone(),
                service: d.service.clone(),
                release: d.release.clone(),
                version: view.version,
                at,
            });
        }
    }
    changed
}

async fn report_loop(
    client: Client,
    spec: FakeAgentSpec,
    local: Arc<tokio::sync::Mutex<Local>>,
    now_signal: Arc<Notify>,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
) {
    // Spread agents' reports over the interval instead of sending them all at once.
    let offset = spec.id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let interval_ms = u64::try_from(spec.report_interval.as_millis()).unwrap_or(5000).max(1);
    tokio::time::sleep(Duration::from_millis(offset % interval_ms)).await;
    let mut seed = offset | 1;
    let mut last = clock::now();
    while !stop.load(Ordering::SeqCst) {
        let now = clock::now();
        let elapsed = now.0.saturating_sub(last.0).max(1);
        last = now;
        let services = {
            let l = local.lock().await;
            l.running
                .iter()
                .map(|(service, running)| {
                    let requests =
                        (spec.requests_per_report * elapsed / interval_ms.max(1)).max(spec.requests_per_report.min(1));
                    let bad = running.is_some() && *running == spec.bad_release;
                    let errors = if bad { (requests as f64 * spec.bad_error_rate).round() as u64 } else { 0 };
                    ServiceReport {
                        service: service.clone(),
                        running: running.clone(),
                        known_good: None,
                        last_apply: None,
                        sample: Some(Sample {
                            at: now,
                            release: running.clone(),
                            requests,
                            errors,
                            latency_p50_ms: Some(5.0),
                            latency_p99_ms: Some(20.0),
                            ..Sample::default()
                        }),
                        metrics: None,
                    }
                })
                .collect()
        };
        let report = Report { at: now, facts: Labels::new(), services, agent: BTreeMap::new() };
        if client.report(&report).await.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        tokio::select! {
            () = tokio::time::sleep(spec.report_interval) => {}
            () = now_signal.notified() => {
                // As the real agent does: the report after an apply waits a random part of
                // min(interval / 4, 2 s), so a wave does not post in one instant.
                tokio::time::sleep(post_apply_wait(&mut seed, spec.report_interval)).await;
            }
        }
    }
}

/// A pseudo-random wait in `[0, min(interval / 4, 2 s))` (xorshift on the agent's own seed).
fn post_apply_wait(seed: &mut u64, interval: Duration) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let bound = u64::try_from((interval / 4).min(Duration::from_secs(2)).as_millis()).unwrap_or(2000).max(1);
    Duration::from_millis(*seed % bound)
}
