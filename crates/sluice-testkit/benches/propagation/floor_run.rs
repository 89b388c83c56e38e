//! The floor's half of the propagation benchmark: the same N, rounds and report interval as
//! sluice's half, against [`sluice_testkit::floor`]'s server in its own process (this executable
//! re-run with `SLUICE_BENCH_ROLE=floor`) and its clients in this one.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_testkit::clock;
use sluice_testkit::floor::client::{FloorClient, FloorClientSpec, FloorControl, FloorReceipt, http_client};
use sluice_testkit::floor::server::FloorServer;
use sluice_testkit::percentile::{Summary, summarize};
use sluice_testkit::server_process::{ServerProcess, free_port};
use tokio::sync::mpsc;

/// Clients started at once (then each waits for its first answer), as enrollments in flight
/// on sluice's side.
const START_BATCH: usize = 64;

#[derive(Debug, serde::Serialize)]
pub struct FloorResult {
    /// Release → client got the new version, every client of every round.
    pub propagation_ms: Summary,
    /// Release → the last client of the round, per round.
    pub all_applied_ms: Vec<u64>,
    /// Right after start, before any client connected.
    pub rss_base_mb: f64,
    pub rss_idle_mb: f64,
    pub rss_peak_mb: f64,
    /// Server CPU while clients idle, share of one core.
    pub cpu_idle_pct: f64,
    /// Server CPU over the rounds, share of one core.
    pub cpu_rounds_pct: f64,
    pub client_errors: u64,
}

/// The floor role: serve until killed.
pub async fn serve(report_interval: Duration) -> anyhow::Result<()> {
    let listen = std::env::var("SLUICE_BENCH_LISTEN").context("SLUICE_BENCH_LISTEN")?.parse()?;
    let server = FloorServer::start(listen, report_interval).await.with_context(|| format!("listen on {listen}"))?;
    server.wait().await.context("the floor server failed")
}

pub async fn run(n: usize, rounds: usize, report_interval: Duration) -> anyhow::Result<FloorResult> {
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env("SLUICE_BENCH_ROLE", "floor").env("SLUICE_BENCH_LISTEN", addr.to_string());
    let mut server = ServerProcess::start(cmd, addr, dir.path(), Duration::from_secs(30)).await?;
    let base = server.base_url();
    let http = http_client()?;
    let control = FloorControl::new(http.clone(), &base);

    let rss_base = server.stats().context("floor server stats")?;
    eprintln!("[{n}] floor: starting {n} clients");
    let (tx, mut rx) = mpsc::unbounded_channel::<FloorReceipt>();
    let mut clients = Vec::with_capacity(n);
    while clients.len() < n {
        let batch = START_BATCH.min(n - clients.len());
        for _ in 0..batch {
            let spec = FloorClientSpec::new(format!("floor-{:05}", clients.len()), report_interval);
            clients.push(FloorClient::start(&http, &base, spec, tx.clone()));
        }
        receipts(&mut rx, 0, batch, "first answer").await?;
    }
    eprintln!("[{n}] floor: idling two report intervals");
    tokio::time::sleep(report_interval * 2).await;
    let idle_from = server.stats().context("floor server stats")?;
    tokio::time::sleep(report_interval * 2).await;
    let idle_to = server.stats().context("floor server stats")?;
    let idle_wall_ms = (report_interval * 2).as_millis() as f64;

    let mut all = Vec::new();
    let mut all_applied_ms = Vec::new();
    let rounds_from = server.stats().context("floor server stats")?;
    let rounds_t0 = clock::now();
    for round in 0..rounds {
        let released = control.release().await?;
        let got = receipts(&mut rx, released.version, n, &format!("round {round}")).await?;
        let mut lat: Vec<u64> = got.iter().map(|r| r.at.0.saturating_sub(released.decided_at.0)).collect();
        all_applied_ms.push(lat.iter().copied().max().unwrap_or(0));
        all.append(&mut lat);
        // Every client's report of the new release is in before the next round.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while control.stats().await?.reports_current < n as u64 {
            if tokio::time::Instant::now() >= deadline {
                bail!("floor round {round}: not every client reported version {} within 60 s", released.version);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("[{n}] floor round {round}: all {n} clients had it {} ms after the release", all_applied_ms[round]);
    }
    let rounds_to = server.stats().context("floor server stats")?;
    let rounds_wall_ms = clock::now().0.saturating_sub(rounds_t0.0).max(1) as f64;
    let client_errors = clients.iter().map(|c| c.errors.load(std::sync::atomic::Ordering::Relaxed)).sum();
    for c in clients {
        c.stop().await;
    }
    server.kill9()?;
    let mb = |b: u64| b as f64 / 1_048_576.0;
    Ok(FloorResult {
        propagation_ms: summarize(&mut all).context("no receipts")?,
        all_applied_ms,
        rss_base_mb: mb(rss_base.rss_bytes),
        rss_idle_mb: mb(idle_to.rss_bytes),
        rss_peak_mb: mb(rounds_to.peak_rss_bytes),
        cpu_idle_pct: 100.0 * idle_to.cpu_ms.saturating_sub(idle_from.cpu_ms) as f64 / idle_wall_ms,
        cpu_rounds_pct: 100.0 * rounds_to.cpu_ms.saturating_sub(rounds_from.cpu_ms) as f64 / rounds_wall_ms,
        client_errors,
    })
}

/// Waits up to 120 s for `count` receipts of `version`.
async fn receipts(
    rx: &mut mpsc::UnboundedReceiver<FloorReceipt>,
    version: u64,
    count: usize,
    what: &str,
) -> anyhow::Result<Vec<FloorReceipt>> {
    let mut got = Vec::with_capacity(count);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while got.len() < count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) if r.version == version => got.push(r),
            Ok(Some(_)) => {}
            Ok(None) => bail!("receipt channel closed"),
            Err(_) => bail!("floor {what}: only {} of {count} clients got version {version} within 120 s", got.len()),
        }
    }
    Ok(got)
}
